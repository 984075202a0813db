"""Registry of transformer (mask) decoders and the config-driven builder."""
from ov_avss.utils.registry import Registry

TRANSFORMER_DECODER_REGISTRY = Registry("TRANSFORMER_DECODER")
TRANSFORMER_DECODER_REGISTRY.__doc__ = """
Registry for transformer decoders, chosen by ``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME`` and
built as ``cls.from_config(cfg, in_channels, audio_dim)`` with ``in_channels`` the pixel decoder's
feature width and ``audio_dim`` the width of its audio tokens (the audio encoder's
``embedding_size``).
"""


def build_transformer_decoder(cfg, in_channels: int, audio_dim: int):
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME
    return TRANSFORMER_DECODER_REGISTRY.get(name).from_config(cfg, in_channels, audio_dim)
