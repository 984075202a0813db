"""Streaming audio decode (PyAV) and per-frame VGGish examples with bounded memory.

The demo never holds a whole video's audio: it decodes the stream progressively and keeps only
the 16 kHz mono samples that the frames still to be processed need.
"""
from __future__ import annotations

import logging
from typing import Iterator, Optional

import av
import numpy as np
import torch

from ov_avss.data import vggish_params as P
from ov_avss.data.audio import silence_log_mel, waveform_to_examples

from .errors import DemoInputError

logger = logging.getLogger(__name__)

# Samples one VGGish example spans: 96 STFT hops plus the rest of the last 400-sample window.
EXAMPLE_SAMPLES = P.NUM_FRAMES * P.STFT_HOP_LENGTH_SAMPLES + (
    P.STFT_WINDOW_LENGTH_SAMPLES - P.STFT_HOP_LENGTH_SAMPLES
)


def has_audio_stream(path: str) -> bool:
    """Whether the media file ``path`` holds at least one audio stream.

    Raises:
        DemoInputError: the file cannot be opened as media.
    """
    try:
        with av.open(path) as container:
            return bool(container.streams.audio)
    except av.FFmpegError as e:
        raise DemoInputError(f"Cannot open media file {path}: {e}") from e


class AudioStreamReader:
    """Decodes the first audio stream of a media file frame by frame.

    Args:
        path: any file PyAV reads (wav, mp4, mkv, webm, ...).

    Raises:
        DemoInputError: the file cannot be opened or holds no audio stream.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._container = av.open(path)
        except av.FFmpegError as e:
            raise DemoInputError(f"Cannot open audio of {path}: {e}") from e
        if not self._container.streams.audio:
            self._container.close()
            raise DemoInputError(f"{path} holds no audio stream")
        self.stream = self._container.streams.audio[0]

    def frames(self) -> Iterator[av.AudioFrame]:
        """Decoded audio frames in stream order."""
        try:
            yield from self._container.decode(self.stream)
        except av.FFmpegError as e:
            raise DemoInputError(f"Cannot decode the audio of {self.path}: {e}") from e

    def close(self) -> None:
        self._container.close()


class FrameAlignedAudio:
    """VGGish log-mel examples for sampled video frames, from a progressively decoded track.

    Example ``i`` of a call covers the 0.975 s of audio starting at the time of frame ``i``
    (zero-padded past the end of the track). Times must not decrease between calls: samples
    before the earliest requested time are dropped, which keeps memory bounded by one window.

    Args:
        path: the media file whose first audio stream is used, or ``None`` for silence.
    """

    def __init__(self, path: Optional[str]) -> None:
        self._reader = AudioStreamReader(path) if path is not None else None
        self._frames = self._reader.frames() if self._reader is not None else None
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=P.SAMPLE_RATE)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # absolute sample index of self._buffer[0]
        self._exhausted = self._reader is None

    def examples_at(self, times: np.ndarray) -> torch.Tensor:
        """``times`` float ``[T]`` in seconds (non-decreasing) -> float32 ``[T, 1, 96, 64]``."""
        times = np.asarray(times, dtype=np.float64)
        if self._reader is None:
            return silence_log_mel(len(times))
        starts = np.round(times * P.SAMPLE_RATE).astype(np.int64)
        if starts[0] < self._buffer_start:
            raise ValueError(
                f"Audio for time {times[0]:.3f} s was already released; request frames in order"
            )
        self._decode_until(int(starts[-1]) + EXAMPLE_SAMPLES)
        self._release_before(int(starts[0]))
        needed = int(starts[-1]) - self._buffer_start + EXAMPLE_SAMPLES
        padded = np.pad(self._buffer, (0, max(0, needed - len(self._buffer))))
        # [T, EXAMPLE_SAMPLES] gathered at once.
        offsets = (starts - self._buffer_start)[:, None] + np.arange(EXAMPLE_SAMPLES)[None, :]
        segments = torch.from_numpy(padded[offsets])
        # waveform_to_examples treats a 2-D input as channels, so each frame's 0.975 s segment
        # is converted on its own; T is at most one model window (a handful of segments).
        return torch.cat([waveform_to_examples(segment, P.SAMPLE_RATE) for segment in segments])

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _decode_until(self, end_sample: int) -> None:
        chunks = [self._buffer]
        available = self._buffer_start + len(self._buffer)
        while available < end_sample and not self._exhausted:
            frame = next(self._frames, None)
            resampled = self._resampler.resample(frame)  # None flushes the resampler
            if frame is None:
                self._exhausted = True
            for out in resampled:
                samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                chunks.append(samples)
                available += len(samples)
        self._buffer = np.concatenate(chunks)

    def _release_before(self, start_sample: int) -> None:
        drop = min(start_sample - self._buffer_start, len(self._buffer))
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
