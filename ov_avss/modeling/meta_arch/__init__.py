"""Meta-architectures (whole models) and ``build_model``."""
from .build import META_ARCH_REGISTRY, build_model
from .ov_avss import OV_AVSS

__all__ = ["META_ARCH_REGISTRY", "OV_AVSS", "build_model"]
