"""Meta-architectures (whole models) and ``build_model``."""
from .build import META_ARCH_REGISTRY, build_model, build_model_without_pretrained_files
from .avism import AVISM
from .ov_avss import OV_AVSS

__all__ = ["AVISM", "META_ARCH_REGISTRY", "OV_AVSS", "build_model", "build_model_without_pretrained_files"]
