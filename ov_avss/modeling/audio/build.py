"""Registry of audio encoders and the config-driven builder."""
from fvcore.common.registry import Registry

AUDIO_ENCODER_REGISTRY = Registry("AUDIO_ENCODER")
AUDIO_ENCODER_REGISTRY.__doc__ = """
Registry for audio encoders, chosen by ``MODEL.AUDIO.NAME`` and built as ``cls(cfg)``. An encoder
maps log-mel examples ``[N, 1, 96, 64]`` to embeddings ``[N, embedding_size]``.
"""


def build_audio_encoder(cfg):
    return AUDIO_ENCODER_REGISTRY.get(cfg.MODEL.AUDIO.NAME)(cfg)
