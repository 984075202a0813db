"""Registry of image backbones and the config-driven builder."""
from fvcore.common.registry import Registry

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """
Registry for backbones. A registered callable is called as ``fn(cfg)`` and returns a
``Backbone`` whose ``forward(images [N, 3, H, W])`` returns ``{"res2".."res5": [N, C, H/s, W/s]}``
and whose ``output_shape()`` maps each name to a ``ShapeSpec(channels, stride)``.
"""


def build_backbone(cfg):
    return BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg)
