"""The VGGish encoder's front end (96 x 64 log-mel examples at 16 kHz), registered for
``MODEL.AUDIO.NAME`` ``"VGGish"``."""
from __future__ import annotations

from . import vggish_params as P
from .front_end import AUDIO_FRONT_END_REGISTRY, AudioFrontEnd
from .log_mel import silence_log_mel, vggish_rate_reader, waveform_to_examples

__all__ = ["VGGISH_FRONT_END"]

VGGISH_FRONT_END = AudioFrontEnd(
    name="VGGish log-mel",
    sample_rate=P.SAMPLE_RATE,
    example_span_samples=P.EXAMPLE_SPAN_SAMPLES,
    example_hop_samples=P.NUM_FRAMES * P.STFT_HOP_LENGTH_SAMPLES,
    example_shape=(1, P.NUM_FRAMES, P.NUM_BANDS),
    waveform_to_examples=waveform_to_examples,
    silence=silence_log_mel,
    mono_reader=vggish_rate_reader,
    embedding_dim=P.EMBEDDING_SIZE,
)

AUDIO_FRONT_END_REGISTRY.register(VGGISH_FRONT_END, name="VGGish")
