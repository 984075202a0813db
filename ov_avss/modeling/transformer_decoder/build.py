"""Registry of transformer (mask) decoders and the config-driven builder."""
from fvcore.common.registry import Registry

TRANSFORMER_DECODER_REGISTRY = Registry("TRANSFORMER_DECODER")
TRANSFORMER_DECODER_REGISTRY.__doc__ = """
Registry for transformer decoders, chosen by ``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME`` and
built as ``cls(cfg, in_channels)``.
"""


def build_transformer_decoder(cfg, in_channels: int):
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME
    return TRANSFORMER_DECODER_REGISTRY.get(name)(cfg, in_channels)
