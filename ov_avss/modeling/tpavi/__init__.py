"""TPAVI, AVSBench's own model: parts, losses, the release's checkpoint names and the
meta-architecture (registered as ``TPAVI``)."""
from . import checkpoint_names
from .fusion_decoder import FeatureFusionBlock, ResidualConvUnit, SegmentationHead
from .losses import (
    avm_kl_hard_mask_frame_mean,
    avm_kl_soft_mask_batch_sum,
    binary_segmentation_loss,
    semantic_segmentation_loss,
)
from .model import TPAVI
from .reducer import DilatedReducer
from .tpavi_block import TPAVIBlock

__all__ = [
    "DilatedReducer",
    "FeatureFusionBlock",
    "ResidualConvUnit",
    "SegmentationHead",
    "TPAVI",
    "TPAVIBlock",
    "avm_kl_hard_mask_frame_mean",
    "avm_kl_soft_mask_batch_sum",
    "binary_segmentation_loss",
    "checkpoint_names",
    "semantic_segmentation_loss",
]
