"""ResNet-18/34/50/101 backbones built from torchvision's ResNet, with detectron2's stage names.

Module names: ``stem.{conv1,bn1}``, ``res2``..``res5`` (torchvision's ``layer1``..``layer4``,
blocks ``N.{conv1,bn1,conv2,bn2[,conv3,bn3],downsample.{0,1}}``). The external name map
(``ov_avss.checkpoint.name_map``) renames detectron2 weights onto these.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops import FrozenBatchNorm2d

from .backbone import Backbone, freeze_modules
from .build import BACKBONE_REGISTRY

__all__ = ["ResNetBackbone"]

# depth -> (block type, blocks per stage res2..res5)
_RESNET_SPECS: dict[int, tuple[type[nn.Module], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
}

_NORM_LAYERS: dict[str, Callable[[int], nn.Module]] = {
    "FrozenBN": FrozenBatchNorm2d,
    "BN": nn.BatchNorm2d,
    "SyncBN": nn.SyncBatchNorm,
}

_STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Stem width of torchvision's ResNet (fixed there).
_STEM_CHANNELS = 64


def _resnet_spec(depth: int) -> tuple[type[nn.Module], list[int]]:
    if depth not in _RESNET_SPECS:
        raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(_RESNET_SPECS)}, got {depth}")
    return _RESNET_SPECS[depth]


@BACKBONE_REGISTRY.register()
class ResNetBackbone(Backbone):
    """torchvision ResNet returning ``{"res2": stride 4, ..., "res5": stride 32}`` features.

    Args:
        depth: 18, 34, 50 or 101.
        norm: "FrozenBN", "BN" or "SyncBN".
        out_features: subset of ``res2..res5``; stages after the last one are not built.
        freeze_at: 0 trains everything; 1 freezes the stem; k >= 2 also freezes res2..res{k}.
        num_groups, width_per_group: ResNeXt grouping (bottleneck blocks only).
        res5_dilation: 1, or 2 to replace the stride of res5 by dilation (res5 stride 16).
    """

    def __init__(
        self,
        *,
        depth: int,
        norm: str,
        out_features: list[str],
        freeze_at: int = 0,
        num_groups: int = 1,
        width_per_group: int = 64,
        res5_dilation: int = 1,
    ):
        super().__init__()
        block, blocks_per_stage = _resnet_spec(depth)
        if norm not in _NORM_LAYERS:
            raise ValueError(f"MODEL.RESNETS.NORM must be one of {sorted(_NORM_LAYERS)}, got '{norm}'")
        unknown = [name for name in out_features if name not in _STAGE_NAMES]
        if unknown or not out_features:
            raise ValueError(
                f"MODEL.RESNETS.OUT_FEATURES must be a non-empty subset of {list(_STAGE_NAMES)}, "
                f"got {list(out_features)}"
            )
        if res5_dilation not in (1, 2):
            raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {res5_dilation}")
        if not 0 <= freeze_at <= 5:
            raise ValueError(f"MODEL.BACKBONE.FREEZE_AT must be in 0..5, got {freeze_at}")

        resnet = ResNet(
            block,
            blocks_per_stage,
            groups=num_groups,
            width_per_group=width_per_group,
            replace_stride_with_dilation=[False, False, res5_dilation == 2],
            norm_layer=_NORM_LAYERS[norm],
        )
        self.stem = nn.Sequential(
            OrderedDict(conv1=resnet.conv1, bn1=resnet.bn1, relu=resnet.relu, maxpool=resnet.maxpool)
        )
        torchvision_stages = (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        num_stages = max(_STAGE_NAMES.index(name) for name in out_features) + 1

        self._out_features = [name for name in _STAGE_NAMES if name in out_features]
        self._out_feature_channels = {}
        self._out_feature_strides = {}
        self.stage_names: list[str] = []
        stride = 4
        for stage_index in range(num_stages):
            name = _STAGE_NAMES[stage_index]
            if stage_index > 0 and not (name == "res5" and res5_dilation == 2):
                stride *= 2
            self.add_module(name, torchvision_stages[stage_index])
            self.stage_names.append(name)
            self._out_feature_channels[name] = _STEM_CHANNELS * (2**stage_index) * block.expansion
            self._out_feature_strides[name] = stride

        if freeze_at >= 1:
            frozen = [self.stem] + [getattr(self, name) for name in self.stage_names[: freeze_at - 1]]
            freeze_modules(frozen)

    @classmethod
    def from_config(cls, cfg) -> "ResNetBackbone":
        """ResNet from ``MODEL.RESNETS.*`` and ``MODEL.BACKBONE.FREEZE_AT`` (random weights; the
        checkpointer loads ``MODEL.WEIGHTS``)."""
        resnets = cfg.MODEL.RESNETS
        depth = resnets.DEPTH
        expansion = _resnet_spec(depth)[0].expansion
        if resnets.STRIDE_IN_1X1:
            raise ValueError(
                "MODEL.RESNETS.STRIDE_IN_1X1 True (MSRA-style stride in the 1x1 conv) is not "
                "supported: torchvision's ResNet strides in the 3x3 conv; set it to False"
            )
        if resnets.STEM_OUT_CHANNELS != _STEM_CHANNELS:
            raise ValueError(
                f"MODEL.RESNETS.STEM_OUT_CHANNELS must be {_STEM_CHANNELS} (torchvision's ResNet), "
                f"got {resnets.STEM_OUT_CHANNELS}"
            )
        expected_res2 = _STEM_CHANNELS * expansion
        if resnets.RES2_OUT_CHANNELS != expected_res2:
            raise ValueError(
                f"MODEL.RESNETS.RES2_OUT_CHANNELS must be {expected_res2} for "
                f"MODEL.RESNETS.DEPTH {depth}, got {resnets.RES2_OUT_CHANNELS}"
            )
        return cls(
            depth=depth,
            norm=resnets.NORM,
            out_features=list(resnets.OUT_FEATURES),
            freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
            num_groups=resnets.NUM_GROUPS,
            width_per_group=resnets.WIDTH_PER_GROUP,
            res5_dilation=resnets.RES5_DILATION,
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images [N, 3, H, W]`` -> ``{res_k: [N, C_k, H/s_k, W/s_k]}``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"ResNetBackbone expects images [N, 3, H, W], got {tuple(images.shape)}")
        outputs: dict[str, torch.Tensor] = {}
        features = self.stem(images)
        for name in self.stage_names:
            features = getattr(self, name)(features)
            if name in self._out_features:
                outputs[name] = features
        return outputs


# detectron2's name, which the published configs select.
BACKBONE_REGISTRY.register(ResNetBackbone, name="build_resnet_backbone")
