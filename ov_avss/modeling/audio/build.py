"""Registry of audio encoders and the config-driven builder."""
from ov_avss.utils.registry import Registry

from ov_avss.audio import audio_front_end

AUDIO_ENCODER_REGISTRY = Registry("AUDIO_ENCODER")
AUDIO_ENCODER_REGISTRY.__doc__ = """
Registry for audio encoders, chosen by ``MODEL.AUDIO.NAME`` and built as ``cls.from_config(cfg)``.
An encoder class declares

- ``front_end``: the ``ov_avss.audio.AudioFrontEnd`` that computes its input examples
  ``[N, *front_end.example_shape]`` from a waveform; the same front end is registered under the
  encoder's name in ``ov_avss.audio.AUDIO_FRONT_END_REGISTRY``, which is where the data layer
  and the demo find it without building the model;
- ``embedding_size``: the width of its output embeddings ``[N, embedding_size]``; the
  meta-architecture sizes the decoders' audio inputs by the built encoder's ``embedding_size``.
"""


def build_audio_encoder(cfg):
    """The encoder ``MODEL.AUDIO.NAME``, built from ``cfg``.

    Raises:
        ValueError: the encoder's declared front end is not the one registered for its name (the
            data would compute another input than the encoder takes).
    """
    name = cfg.MODEL.AUDIO.NAME
    encoder_class = AUDIO_ENCODER_REGISTRY.get(name)
    if encoder_class.front_end is not audio_front_end(name):
        raise ValueError(
            f"Audio encoder '{name}' declares the front end '{encoder_class.front_end.name}' but "
            f"'{audio_front_end(name).name}' is registered for it in ov_avss.audio"
        )
    return encoder_class.from_config(cfg)
