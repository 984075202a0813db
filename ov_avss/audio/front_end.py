"""What an audio encoder takes as input, and the registry the data layer finds it in.

An audio encoder (``ov_avss.modeling.audio``) declares its ``front_end``; the same front end is
registered in ``AUDIO_FRONT_END_REGISTRY`` under the encoder's ``MODEL.AUDIO.NAME``, so that the data layer and the demo
compute the encoder's input from the config without importing or building the model.
``build_audio_encoder`` checks that the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..utils.registry import Registry

__all__ = ["AUDIO_FRONT_END_REGISTRY", "AudioFrontEnd", "audio_front_end"]


@dataclass(frozen=True)
class AudioFrontEnd:
    """How an audio encoder's input examples are computed from a waveform.

    Example k of a track covers the ``example_span_samples`` samples (at ``sample_rate``) from
    ``k * example_hop_samples`` on; :mod:`ov_avss.audio.frame_examples` pairs examples with
    video frames.

    Attributes:
        name: for messages and docs, e.g. ``"VGGish log-mel"``.
        sample_rate: Hz the waveform is resampled to.
        example_span_samples: samples one example covers.
        example_hop_samples: samples from one example's start to the next one's.
        example_shape: one example's shape, e.g. ``(1, 96, 64)``.
        waveform_to_examples: ``(waveform float [N] or [C, N], sample_rate) -> float32
            [K, *example_shape]``, the consecutive whole examples of the waveform, in a new
            tensor that the caller owns (``audio_examples_for_frames`` may return it as is).
        silence: ``num_examples -> float32 [num_examples, *example_shape]``, the examples of
            silence (what the ``zero`` audio ablation and a demo without audio feed).
        mono_reader: ``(read, num_samples, rate) -> (length, read_at_rate)``: for a track of
            ``num_samples`` samples at ``rate`` whose ranges ``read(i, j)`` gives (float
            ``[C, j - i]`` or ``[j - i]``), its length mixed to mono and resampled to
            ``sample_rate`` (the first step of ``waveform_to_examples``) and ``read_at_rate(i,
            j) -> float32 [j - i]``, those samples ``i:j``, computed from only the input they
            depend on and equal to the whole track's. ``waveform_to_examples`` of a range of
            them at ``sample_rate`` gives the examples of that range: ``TrackExamplesOnDemand``
            (the demo) computes examples so, equal to the whole track's.
        embedding_dim: width of the encoder's output embedding when the encoder also takes its
            embeddings precomputed (float32 ``[T, embedding_dim]``, e.g. AVISeg's
            ``FEATAudios`` for VGGish: 128) in place of examples; ``None``: it does not.
    """

    name: str
    sample_rate: int
    example_span_samples: int
    example_hop_samples: int
    example_shape: tuple[int, ...]
    waveform_to_examples: Callable[[torch.Tensor, int], torch.Tensor]
    silence: Callable[[int], torch.Tensor]
    mono_reader: Callable[
        [Callable[[int, int], torch.Tensor], int, int], tuple[int, Callable[[int, int], torch.Tensor]]
    ]
    embedding_dim: int | None = None

    @property
    def example_hop_seconds(self) -> float:
        return self.example_hop_samples / self.sample_rate


AUDIO_FRONT_END_REGISTRY = Registry("AUDIO_FRONT_END")
AUDIO_FRONT_END_REGISTRY.__doc__ = """
Registry of audio front ends, keyed by the ``MODEL.AUDIO.NAME`` of the encoder that takes their
examples: ``AUDIO_FRONT_END_REGISTRY.register(front_end, name=encoder_name)``.
"""


def audio_front_end(encoder_name: str) -> AudioFrontEnd:
    """The front end of the audio encoder ``encoder_name`` (config ``MODEL.AUDIO.NAME``).

    Raises:
        KeyError: no front end is registered for ``encoder_name``.
    """
    if encoder_name not in AUDIO_FRONT_END_REGISTRY:
        raise KeyError(
            f"Config MODEL.AUDIO.NAME = '{encoder_name}': no audio front end is registered for this "
            f"encoder (registered: {AUDIO_FRONT_END_REGISTRY.names()}); see "
            "ov_avss.audio.AUDIO_FRONT_END_REGISTRY"
        )
    return AUDIO_FRONT_END_REGISTRY.get(encoder_name)
