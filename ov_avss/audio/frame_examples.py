"""The audio examples for given video frame times: the one definition the dataset, the audio
ablations and the demo share.

The releases pair example k of a track (its consecutive 0.96 s VGGish examples, computed from
the whole file) with second k of the video: the frame at time ``t`` seconds gets example
``floor(t)``. With AVSBench's 1 fps frames that is example t for frame t. A frame after the
track's last whole example gets a padding example:

- ``"zero_examples"``: an all-zero example (the OV-AVSS and AVSBench-AVSS releases);
- ``"repeat_last"``: the track's last example (the AVSBench S4/MS3 preprocessing).

``AudioTrackExamples`` computes the whole track's examples at once (the dataset's clips);
``TrackExamplesOnDemand`` gives the same examples for the frames asked, computing only those
(the demo, whose memory must not grow with the video: docs/demo.md).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .front_end import AudioFrontEnd
from .log_mel import StreamedAudio, load_audio
from .vggish_front_end import VGGISH_FRONT_END
from .wav_io import is_wav_path, read_wav_frames, read_wav_info

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_PADDING_MODES", "AudioTrackExamples", "TrackExamplesOnDemand", "audio_examples_for_frames",
    "check_audio_padding", "example_indices",
]

AUDIO_PADDING_MODES = ("zero_examples", "repeat_last")

# Video time that one example stands for: example k goes with second k whatever the example hop
# (0.96 s for VGGish), as the releases pair them.
SECONDS_PER_EXAMPLE = 1.0
# Frame times computed as index / fps may land just below a whole second (0.99999... s).
_TIME_TOLERANCE_S = 1e-6
# TrackExamplesOnDemand computes at most this many consecutive examples per front-end call, so
# that a call for many frames at once (the AVIS demo's whole video) holds the front end's
# intermediates of 16 examples at a time (VGGish: about 6 MB), not of the whole track.
_EXAMPLES_PER_CALL = 16


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
        sources = _padded_indices(indices, examples.shape[0], padding, self.source, self.duration_s)
        return _assemble(sources, examples[torch.from_numpy(sources[sources >= 0])])


def _padded_indices(indices: np.ndarray, num_examples: int, padding: str, source: str, duration_s: float) -> np.ndarray:
    """The padding rule, once for both track classes: example ``indices`` (int64 ``[T]``) of a
    track of ``num_examples`` whole examples -> int64 ``[T]``, the example each frame takes,
    ``-1`` for an all-zero example; warns (naming ``source``) when frames are past the end.

    Raises:
        ValueError: ``"repeat_last"`` padding for a track without any whole example.
    """
    missing = int(indices.max()) + 1 - num_examples if indices.size else 0
    if missing <= 0:
        return indices
    last_second = int(indices.max()) * SECONDS_PER_EXAMPLE
    if padding == "repeat_last" and num_examples == 0:
        raise ValueError(
            f"Audio {source} lasts {duration_s:.3f} s: no whole log-mel example to "
            f"repeat for its frames up to {last_second:g} s"
        )
    logger.warning(
        "Audio %s gives %d log-mel examples for frames up to %g s; padding with %s.",
        source, num_examples, last_second, padding.replace("_", " "),
    )
    past_end = num_examples - 1 if padding == "repeat_last" else -1
    return np.where(indices < num_examples, indices, past_end)


def _assemble(sources: np.ndarray, taken: torch.Tensor) -> torch.Tensor:
    """``[T, *example_shape]``: ``taken`` (the examples of the frames with ``sources >= 0``, in
    order) with zero examples where ``sources`` is -1."""
    if bool(np.all(sources >= 0)):
        return taken
    examples = taken.new_zeros((len(sources), *taken.shape[1:]))
    examples[torch.from_numpy(sources >= 0)] = taken
    return examples


class TrackExamplesOnDemand:
    """A front end's examples of one audio track, each computed when frames ask for it: the
    same examples, padding and warnings as ``AudioTrackExamples`` (equal to them,
    ``tests/audio/test_frame_examples.py``), holding at most the track's mono waveform at the
    front end's rate instead of all its examples.

    Example k depends only on the samples ``[k * hop, k * hop + span)`` of that waveform
    (``AudioFrontEnd``), so the examples asked for are computed from just those samples, one
    front-end call per run of up to ``_EXAMPLES_PER_CALL`` consecutive examples. A ``.wav`` (at
    any rate) is read by ranges from the file, each range mixed and resampled from just the
    input samples it depends on, and any other file's audio is decoded going forward, holding
    only the chunks of the range asked for (``StreamedAudio``): nothing proportional to the
    track's length is kept. A waveform given in memory is mixed and resampled once and its mono
    waveform kept (VGGish: float32 at 16 kHz, 62.5 KiB per second).

    Args:
        source: where the audio came from, for messages.
        num_samples: the mono waveform's length at ``front_end.sample_rate``.
        read_samples: ``(start, stop) -> float32 [stop - start]``, that waveform's samples
            ``start:stop`` (``stop <= num_samples``).
        duration_s: the track's length in seconds, for messages.
        front_end: the encoder's front end.
    """

    def __init__(
        self,
        source: str,
        num_samples: int,
        read_samples: Callable[[int, int], torch.Tensor],
        duration_s: float,
        front_end: AudioFrontEnd = VGGISH_FRONT_END,
    ) -> None:
        self.source = source
        self.duration_s = duration_s
        self.front_end = front_end
        self._read_samples = read_samples
        span, hop = front_end.example_span_samples, front_end.example_hop_samples
        self.num_examples = (num_samples - span) // hop + 1 if num_samples >= span else 0

    @classmethod
    def from_waveform(
        cls, waveform: torch.Tensor, sample_rate: int, source: str, front_end: AudioFrontEnd = VGGISH_FRONT_END
    ) -> "TrackExamplesOnDemand":
        """``waveform`` float ``[N]`` or ``[C, N]`` at ``sample_rate`` (channels are averaged);
        its mono waveform at the front end's rate is kept (a copy: the caller's may change).

        Raises:
            ValueError: not a float ``[N]`` or ``[C, N]`` waveform, or a rate that is not positive.
        """
        waveform = torch.as_tensor(waveform)
        length, read_at_rate = front_end.mono_reader(lambda i, j: waveform[..., i:j], waveform.shape[-1], sample_rate)
        mono = read_at_rate(0, length)
        if mono.untyped_storage().data_ptr() == waveform.untyped_storage().data_ptr():
            mono = mono.clone()
        return cls(source, length, lambda start, stop: mono[start:stop], waveform.shape[-1] / sample_rate, front_end)

    @classmethod
    def from_file(cls, path: str, front_end: AudioFrontEnd = VGGISH_FRONT_END) -> "TrackExamplesOnDemand":
        """The samples each window's examples depend on, read when it asks (``front_end.mono_reader``:
        mixed and resampled from just those): a ``.wav`` by ranges from the file (its header read
        now), any other file's first audio stream decoded going forward (``StreamedAudio``: one
        decoding pass now to count its samples).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: the file cannot be decoded or holds no audio stream.
        """
        path = os.fspath(path)
        if is_wav_path(path):
            info = read_wav_info(path)
            num_samples, sample_rate = info.num_frames, info.sample_rate

            def read(start: int, stop: int) -> torch.Tensor:
                return torch.from_numpy(read_wav_frames(path, info, start, stop))
        else:
            streamed = StreamedAudio(path)
            num_samples, sample_rate = streamed.num_samples, streamed.sample_rate

            def read(start: int, stop: int) -> torch.Tensor:
                return torch.from_numpy(streamed.read(start, stop))
        length, read_at_rate = front_end.mono_reader(read, num_samples, sample_rate)
        return cls(path, length, read_at_rate, num_samples / sample_rate, front_end)

    def for_frames(self, frame_times: Sequence[float] | np.ndarray, padding: str = "zero_examples") -> torch.Tensor:
        """As ``AudioTrackExamples.for_frames``: frame times in seconds ``[T]`` -> float32
        ``[T, *example_shape]``, example ``floor(t)`` for the frame at ``t``, ``padding`` past
        the track's last whole example.

        Raises:
            ValueError: ``padding`` is unknown, a time is negative, or ``"repeat_last"`` padding is
                needed for a track without any whole example.
        """
        check_audio_padding(padding)
        sources = _padded_indices(
            example_indices(frame_times), self.num_examples, padding, self.source, self.duration_s
        )
        needed = np.unique(sources[sources >= 0])
        computed = self._examples(needed)
        taken = computed[torch.from_numpy(np.searchsorted(needed, sources[sources >= 0]))]
        return _assemble(sources, taken)

    def _examples(self, indices: np.ndarray) -> torch.Tensor:
        """Examples ``indices`` (sorted, unique, within the track) ``[len(indices), *example_shape]``,
        each run of up to ``_EXAMPLES_PER_CALL`` consecutive ones from its own samples."""
        span, hop = self.front_end.example_span_samples, self.front_end.example_hop_samples
        breaks = (np.diff(indices) != 1) | (np.arange(1, len(indices)) % _EXAMPLES_PER_CALL == 0)
        runs = np.split(indices, np.flatnonzero(breaks) + 1) if indices.size else []
        examples = []
        for run in runs:
            first, count = int(run[0]), len(run)
            samples = self._read_samples(first * hop, (first + count - 1) * hop + span)
            examples.append(self.front_end.waveform_to_examples(samples, self.front_end.sample_rate))
            if examples[-1].shape[0] != count:
                raise RuntimeError(
                    f"{self.front_end.name}: {examples[-1].shape[0]} examples from the samples of {count} "
                    f"({self.source}, examples {first}..{first + count - 1}); the front end's span and hop do not "
                    "describe its examples"
                )
        if not examples:
            return torch.zeros((0, *self.front_end.example_shape), dtype=torch.float32)
        return torch.cat(examples) if len(examples) > 1 else examples[0]


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
