"""PVT-v2 backbones (Wang et al., 2022) from timm, with the framework's stage names.

The network is timm's ``PyramidVisionTransformerV2`` (``timm.models.pvt_v2``), built without a
classification head and held as ``pvt`` (module names ``pvt.patch_embed``,
``pvt.stages.{i}.{downsample,blocks.{j},norm}``). ImageNet weights of the original PVT-v2 release
(``pvt_v2_b5.pth``: ``patch_embed{1..4}``, ``block{i}.{j}``, ``norm{i}``, ``head``) are loaded
through timm's own ``checkpoint_filter_fn``, the mapping timm applies to those files.
"""
from __future__ import annotations

import logging
import os

import torch
from timm.models import pvt_v2 as timm_pvt_v2

from .backbone import Backbone
from .build import BACKBONE_REGISTRY

__all__ = ["PVTv2Backbone", "load_original_pvt_v2_weights"]

logger = logging.getLogger(__name__)

_STAGE_NAMES = ("res2", "res3", "res4", "res5")
_STRIDES = (4, 8, 16, 32)
_VARIANTS = tuple(f"pvt_v2_b{index}" for index in range(6))


def load_original_pvt_v2_weights(model: torch.nn.Module, path: str) -> None:
    """Load an original PVT-v2 ImageNet file into timm's ``model`` (built without a head).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a state dict, or it lacks parameters of ``model`` / holds
            others than the ImageNet classifier (``head.*``), listed by name.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"MODEL.PVT_V2.WEIGHTS: PVT-v2 ImageNet file '{path}' not found (the original release's "
            "pvt_v2_b*.pth); set MODEL.PVT_V2.WEIGHTS '' for random weights"
        )
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state_dict, dict) and "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path}: expected a PVT-v2 state dict, got {type(state_dict).__name__}")
    mapped = timm_pvt_v2.checkpoint_filter_fn(state_dict, model)
    head = sorted(key for key in mapped if key.startswith("head."))
    for key in head:
        del mapped[key]
    incompatible = model.load_state_dict(mapped, strict=False)
    if incompatible.missing_keys or incompatible.unexpected_keys:
        raise ValueError(
            f"{path} does not fit timm's {type(model).__name__}: missing {incompatible.missing_keys}, "
            f"unexpected {incompatible.unexpected_keys}"
        )
    logger.info("Loaded PVT-v2 ImageNet weights from %s (dropped the classifier: %s)", path, head)


@BACKBONE_REGISTRY.register()
class PVTv2Backbone(Backbone):
    """timm PVT-v2 returning ``{"res2": stride 4, ..., "res5": stride 32}`` features, each after
    its stage's LayerNorm (b5: 64 / 128 / 320 / 512 channels).

    Args:
        variant: ``pvt_v2_b0`` .. ``pvt_v2_b5``.
        drop_path_rate: stochastic depth, linear over all blocks from 0 to this value.
        weights: the original release's ImageNet file, loaded at build; ``""``: random weights.
        out_features: subset of ``res2..res5``.
    """

    def __init__(self, *, variant: str, drop_path_rate: float, weights: str, out_features: list[str]) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"MODEL.PVT_V2.VARIANT must be one of {list(_VARIANTS)}, got '{variant}'")
        unknown = [name for name in out_features if name not in _STAGE_NAMES]
        if unknown or not out_features:
            raise ValueError(
                f"PVTv2Backbone out_features must be a non-empty subset of {list(_STAGE_NAMES)}, got {list(out_features)}"
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"MODEL.PVT_V2.DROP_PATH_RATE must be in [0, 1), got {drop_path_rate}")
        # Called directly (not timm.create_model): another package may re-register the names.
        self.pvt = getattr(timm_pvt_v2, variant)(num_classes=0, drop_path_rate=drop_path_rate)
        if weights:
            load_original_pvt_v2_weights(self.pvt, weights)
        self._out_features = [name for name in _STAGE_NAMES if name in out_features]
        self._stage_indices = [_STAGE_NAMES.index(name) for name in self._out_features]
        self._out_feature_channels = {
            name: int(self.pvt.stages[index].norm.normalized_shape[0]) for index, name in enumerate(_STAGE_NAMES)
            if name in self._out_features
        }
        self._out_feature_strides = {name: _STRIDES[_STAGE_NAMES.index(name)] for name in self._out_features}

    @classmethod
    def from_config(cls, cfg) -> "PVTv2Backbone":
        """PVT-v2 from ``MODEL.PVT_V2.*``; outputs res2..res5."""
        pvt = cfg.MODEL.PVT_V2
        return cls(
            variant=pvt.VARIANT,
            drop_path_rate=float(pvt.DROP_PATH_RATE),
            weights=pvt.WEIGHTS,
            out_features=list(_STAGE_NAMES),
        )

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images [N, 3, H, W]`` -> ``{res_k: [N, C_k, H/s_k, W/s_k]}``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"PVTv2Backbone expects images [N, 3, H, W], got {tuple(images.shape)}")
        stages = self.pvt.forward_intermediates(
            images, indices=self._stage_indices, stop_early=True, intermediates_only=True
        )
        return dict(zip(self._out_features, stages))
