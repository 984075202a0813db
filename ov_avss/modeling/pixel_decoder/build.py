"""Registry of pixel decoders and the config-driven builder."""
from fvcore.common.registry import Registry

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """
Registry for pixel decoders, chosen by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME`` and built as
``cls(cfg, input_shape)`` with ``input_shape`` the backbone's ``{name: ShapeSpec}``.
"""


def build_pixel_decoder(cfg, input_shape):
    return PIXEL_DECODER_REGISTRY.get(cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME)(cfg, input_shape)
