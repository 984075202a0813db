"""Image backbones; importing this package registers them in ``BACKBONE_REGISTRY``."""
from .backbone import Backbone, ShapeSpec, freeze_modules
from .build import BACKBONE_REGISTRY, build_backbone
from .resnet import ResNetBackbone, build_resnet_backbone
from .swin import D2SwinTransformer, SwinBackbone, build_swin_backbone

__all__ = [
    "BACKBONE_REGISTRY",
    "Backbone",
    "D2SwinTransformer",
    "ResNetBackbone",
    "ShapeSpec",
    "SwinBackbone",
    "build_backbone",
    "build_resnet_backbone",
    "build_swin_backbone",
    "freeze_modules",
]
