"""Image backbones; importing this package registers them in ``BACKBONE_REGISTRY``."""
from .backbone import Backbone, ShapeSpec, freeze_modules
from .build import BACKBONE_REGISTRY, build_backbone
from .pvt_v2 import PVTv2Backbone
from .resnet import ResNetBackbone
from .swin import SwinBackbone

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "PVTv2Backbone",
    "ResNetBackbone",
    "ShapeSpec",
    "SwinBackbone",
    "build_backbone",
    "freeze_modules",
]
