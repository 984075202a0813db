"""The ``Backbone`` base class, the ``ShapeSpec`` of its outputs, and stage freezing."""
from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from typing import Iterable, NamedTuple

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["ShapeSpec", "Backbone", "freeze_modules"]

logger = logging.getLogger(__name__)


class ShapeSpec(NamedTuple):
    """Channels and stride (input pixels per output pixel) of one backbone output."""

    channels: int
    stride: int


class Backbone(nn.Module, metaclass=ABCMeta):
    """An image backbone: ``forward(images [N, 3, H, W]) -> {name: [N, C, H/stride, W/stride]}``.

    Subclasses set ``self._out_features`` (output names, fine to coarse), and
    ``self._out_feature_channels`` / ``self._out_feature_strides`` (name -> int).
    """

    _out_features: list[str]
    _out_feature_channels: dict[str, int]
    _out_feature_strides: dict[str, int]

    @abstractmethod
    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images [N, 3, H, W]`` (normalised) -> ``{name: [N, C, H/s, W/s]}``."""

    @property
    def size_divisibility(self) -> int:
        """Input height and width must be multiples of this (0: no constraint)."""
        return 0

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }


def _convert_batchnorm_to_frozen(module: nn.Module) -> nn.Module:
    """Return ``module`` with every ``BatchNorm2d`` (recursively) replaced by a
    ``FrozenBatchNorm2d`` holding the same affine parameters and running statistics."""
    if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        if module.affine:
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
        frozen.running_mean.copy_(module.running_mean)
        frozen.running_var.copy_(module.running_var)
        return frozen
    for child_name, child in module.named_children():
        converted = _convert_batchnorm_to_frozen(child)
        if converted is not child:
            module.add_module(child_name, converted)
    return module


@torch.no_grad()
def freeze_modules(modules: Iterable[nn.Module]) -> None:
    """Stop training ``modules``: no parameter gets a gradient and batch-norm statistics stop
    updating (detectron2's ``freeze()``: BN layers become ``FrozenBatchNorm2d``)."""
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        _convert_batchnorm_to_frozen(module)
