"""The audio examples for given video frame times: the one definition the dataset, the audio
ablations and the demo share.

The releases pair example k of a track (its consecutive 0.96 s VGGish examples, computed from
the whole file) with second k of the video: the frame at time ``t`` seconds gets example
``floor(t)``. With AVSBench's 1 fps frames that is example t for frame t. A frame after the
track's last whole example gets a padding example:

- ``"zero_examples"``: an all-zero example (the OV-AVSS and AVSBench-AVSS releases);
- ``"repeat_last"``: the track's last example (the AVSBench S4/MS3 preprocessing).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .front_end import AudioFrontEnd
from .log_mel import load_audio
from .vggish_front_end import VGGISH_FRONT_END

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_PADDING_MODES", "AudioTrackExamples", "audio_examples_for_frames", "check_audio_padding", "example_indices",
]

AUDIO_PADDING_MODES = ("zero_examples", "repeat_last")

# Video time that one example stands for: example k goes with second k whatever the example hop
# (0.96 s for VGGish), as the releases pair them.
SECONDS_PER_EXAMPLE = 1.0
# Frame times computed as index / fps may land just below a whole second (0.99999... s).
_TIME_TOLERANCE_S = 1e-6


def check_audio_padding(padding: str) -> None:
    """The one check of an audio padding mode.

    Raises:
        ValueError: ``padding`` is not one of :data:`AUDIO_PADDING_MODES`.
    """
    if padding not in AUDIO_PADDING_MODES:
        raise ValueError(f"Audio padding '{padding}' is not one of {AUDIO_PADDING_MODES}")


def example_indices(frame_times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Frame times in seconds ``[T]`` -> int64 ``[T]``: the example each frame gets.

    Raises:
        ValueError: a time is negative or not finite.
    """
    times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"Frame times must be finite and >= 0 seconds, got {times.tolist()}")
    return np.floor(times / SECONDS_PER_EXAMPLE + _TIME_TOLERANCE_S).astype(np.int64)


@dataclass(frozen=True)
class AudioTrackExamples:
    """A front end's examples of one whole audio track.

    Attributes:
        source: where the audio came from (a path), for messages.
        examples: float32 ``[K, *front_end.example_shape]``: example k covers the audio from
            ``k * front_end.example_hop_samples`` samples on; a partial last one is dropped.
        duration_s: the track's length in seconds.
    """

    source: str
    examples: torch.Tensor
    duration_s: float

    @classmethod
    def from_waveform(
        cls, waveform: torch.Tensor, sample_rate: int, source: str, front_end: AudioFrontEnd = VGGISH_FRONT_END
    ) -> "AudioTrackExamples":
        """``waveform`` float ``[N]`` or ``[C, N]`` at ``sample_rate`` (channels are averaged)."""
        return cls(source, front_end.waveform_to_examples(waveform, sample_rate), waveform.shape[-1] / sample_rate)

    @classmethod
    def from_file(cls, path: str, front_end: AudioFrontEnd = VGGISH_FRONT_END) -> "AudioTrackExamples":
        """Decode ``path`` (``.wav`` directly, other containers' first audio stream through PyAV)
        and compute its examples.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: the file cannot be decoded or holds no audio stream.
        """
        waveform, sample_rate = load_audio(path)
        return cls.from_waveform(waveform, sample_rate, os.fspath(path), front_end)

    def for_frames(self, frame_times: Sequence[float] | np.ndarray, padding: str = "zero_examples") -> torch.Tensor:
        """Frame times in seconds ``[T]`` -> float32 ``[T, *example_shape]``, example ``floor(t)``
        for the frame at ``t``; frames past the last whole example get ``padding`` (one of
        :data:`AUDIO_PADDING_MODES`), with a warning naming the file.

        Raises:
            ValueError: ``padding`` is unknown, a time is negative, or ``"repeat_last"`` padding is
                needed for a track without any whole example.
        """
        check_audio_padding(padding)
        return self._examples_at(example_indices(frame_times), padding)

    def _examples_at(self, indices: np.ndarray, padding: str) -> torch.Tensor:
        """Examples ``indices`` (int64 ``[T]``), padded past the track's end; a new tensor."""
        examples = self.examples
        missing = int(indices.max()) + 1 - examples.shape[0] if indices.size else 0
        if missing > 0:
            last_second = int(indices.max()) * SECONDS_PER_EXAMPLE
            if padding == "repeat_last" and examples.shape[0] == 0:
                raise ValueError(
                    f"Audio {self.source} lasts {self.duration_s:.3f} s: no whole log-mel example to "
                    f"repeat for its frames up to {last_second:g} s"
                )
            logger.warning(
                "Audio %s gives %d log-mel examples for frames up to %g s; padding with %s.",
                self.source, examples.shape[0], last_second, padding.replace("_", " "),
            )
            if padding == "repeat_last":
                fill = examples[-1:].expand(missing, *examples.shape[1:])
            else:
                fill = examples.new_zeros((missing, *examples.shape[1:]))
            examples = torch.cat([examples, fill])
        return examples[torch.from_numpy(indices)]



def audio_examples_for_frames(
    path: str,
    frame_times: Sequence[float] | np.ndarray,
    padding: str = "zero_examples",
    front_end: AudioFrontEnd = VGGISH_FRONT_END,
) -> torch.Tensor:
    """The audio examples of the file ``path`` for video frames at ``frame_times`` seconds:
    float32 ``[T, *front_end.example_shape]`` (VGGish: ``[T, 1, 96, 64]``).

    ``AudioTrackExamples.from_file(path, front_end).for_frames(frame_times, padding)``; callers
    that ask for several windows of one track (the demo) keep the ``AudioTrackExamples``.
    """
    # Arguments are checked before the file is decoded.
    check_audio_padding(padding)
    indices = example_indices(frame_times)
    track = AudioTrackExamples.from_file(path, front_end)
    if np.array_equal(indices, np.arange(track.examples.shape[0])):
        # The frames take exactly the track's examples (1 fps, as long as the audio) and the
        # track is discarded: its own tensor, without a gather copy.
        return track.examples
    return track._examples_at(indices, padding)
