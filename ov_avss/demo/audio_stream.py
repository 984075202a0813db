"""The demo's audio: the encoder's examples for the sampled frames (the dataset's definition,
``ov_avss.audio.audio_examples_for_frames``, computed per window by
``ov_avss.audio.TrackExamplesOnDemand``), and the stream reader that copies an audio track
into the overlay video.
"""
from __future__ import annotations

import logging
from typing import Iterator, Optional

import av
import numpy as np
import torch

from ov_avss.audio import AudioFrontEnd, TrackExamplesOnDemand, check_audio_padding

from .errors import DemoInputError

logger = logging.getLogger(__name__)

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
    """The audio examples for the demo's sampled frames: what the dataset feeds a video with the
    same audio file (the frame at ``t`` seconds gets example ``floor(t)`` of the whole track).

    Each window's examples are computed when it asks for them, by the library's front end from
    just their samples (``TrackExamplesOnDemand``), so memory does not grow with the video: a
    ``.wav`` (any rate) is read by ranges, any other file's track (a video's, through PyAV)
    decoded going forward; a waveform given in memory is resampled once and its mono waveform
    at the front end's rate kept (VGGish: 62.5 KiB per second).

    Args:
        path: the media file whose first audio stream is used, or ``None`` for silence.
        front_end: the model's audio encoder's front end.
        padding: how frames after the track's last whole example are completed (one of
            ``ov_avss.audio.AUDIO_PADDING_MODES``): the ``audio_padding`` of the dataset the
            model is tested on, as its loader does.

    Raises:
        DemoInputError: the audio cannot be decoded (the message names the file).
    """

    def __init__(self, path: Optional[str], front_end: AudioFrontEnd, padding: str) -> None:
        check_audio_padding(padding)
        self.front_end = front_end
        self.padding = padding
        self._track: Optional[TrackExamplesOnDemand] = None
        if path is not None:
            try:
                self._track = TrackExamplesOnDemand.from_file(path, front_end)
            except (FileNotFoundError, ValueError) as e:
                raise DemoInputError(str(e)) from e

    @classmethod
    def from_waveform(
        cls, waveform: torch.Tensor, sample_rate: int, front_end: AudioFrontEnd, padding: str
    ) -> "FrameAlignedAudio":
        """The same for audio already in memory: float ``[N]`` or ``[C, N]`` in [-1, 1] at
        ``sample_rate``. Integer samples (e.g. int16 from ``scipy.io.wavfile``) are refused by the
        front end's checks rather than cast, which would scale them by 32768.

        Raises:
            DemoInputError: not a float waveform of a usable shape and sample rate.
        """
        aligned = cls(None, front_end, padding)
        try:
            aligned._track = TrackExamplesOnDemand.from_waveform(
                torch.as_tensor(waveform), sample_rate, "the given waveform", front_end
            )
        except (TypeError, ValueError) as e:
            raise DemoInputError(str(e)) from e
        return aligned

    def examples_at(self, times: np.ndarray) -> torch.Tensor:
        """``times`` float ``[T]`` in seconds -> float32 ``[T, *front_end.example_shape]``."""
        if self._track is None:
            return self.front_end.silence(len(times))
        return self._track.for_frames(times, self.padding)
