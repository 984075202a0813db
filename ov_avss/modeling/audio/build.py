"""Registry of audio encoders and the config-driven builder."""
from ov_avss.utils.registry import Registry

AUDIO_ENCODER_REGISTRY = Registry("AUDIO_ENCODER")
AUDIO_ENCODER_REGISTRY.__doc__ = """
Registry for audio encoders, chosen by ``MODEL.AUDIO.NAME`` and built as ``cls.from_config(cfg)``.
An encoder maps its input examples (VGGish: log-mel ``[N, 1, 96, 64]``) to embeddings
``[N, embedding_size]``; the meta-architecture sizes the decoders' audio inputs by the built
encoder's ``embedding_size``.
"""


def build_audio_encoder(cfg):
    return AUDIO_ENCODER_REGISTRY.get(cfg.MODEL.AUDIO.NAME).from_config(cfg)
