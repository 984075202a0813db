"""Registry of image backbones and the config-driven builder."""
from ov_avss.utils.registry import Registry

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """
Registry for backbones, chosen by ``MODEL.BACKBONE.NAME`` and built as ``cls.from_config(cfg)``:
a ``Backbone`` whose ``forward(images [N, 3, H, W])`` returns ``{"res2".."res5": [N, C, H/s, W/s]}``
and whose ``output_shape()`` maps each name to a ``ShapeSpec(channels, stride)``.
"""


def build_backbone(cfg):
    return BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME).from_config(cfg)
