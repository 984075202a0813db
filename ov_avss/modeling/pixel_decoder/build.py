"""Registry of pixel decoders and the config-driven builder."""
from ov_avss.utils.registry import Registry

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """
Registry for pixel decoders, chosen by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME`` and built as
``cls.from_config(cfg, input_shape, audio_dim)`` with ``input_shape`` the backbone's
``{name: ShapeSpec}`` and ``audio_dim`` the width of the per-frame audio embeddings (the audio
encoder's ``embedding_size``).
"""


def build_pixel_decoder(cfg, input_shape, audio_dim: int):
    name = cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME
    return PIXEL_DECODER_REGISTRY.get(name).from_config(cfg, input_shape, audio_dim)
