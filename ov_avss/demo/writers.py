"""Demo outputs: the overlay video with the original audio and the segments JSON (the palette
PNGs are written by ``ov_avss.data.image_io.write_palette_png``).

Every file is written under a temporary name and moved into place when complete.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from fractions import Fraction
from typing import Any, Optional

import av
import numpy as np

from ov_avss.utils.file_io import write_json_atomic

from .audio_stream import AudioStreamReader

logger = logging.getLogger(__name__)

# Preferred first; mpeg4 is FFmpeg's own encoder, present in every build.
VIDEO_CODECS = ("libx264", "mpeg4")
AUDIO_CODEC = "aac"


def write_json(path: str, data: Any) -> None:
    write_json_atomic(path, data, indent=1)


def _current_umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _pick_video_codec() -> str:
    for name in VIDEO_CODECS:
        if name in av.codecs_available:
            if name != VIDEO_CODECS[0]:
                logger.warning("Encoder %s is not in this FFmpeg build; writing %s video.", VIDEO_CODECS[0], name)
            return name
    raise RuntimeError(f"None of the video encoders {VIDEO_CODECS} is available in PyAV's FFmpeg")


class OverlayVideoWriter:
    """Encodes overlay frames at ``fps`` and muxes the original audio track back in.

    The audio is re-encoded (AAC) progressively as frames arrive, up to the video's duration.
    Frames are padded to even sizes (yuv420p needs them). Use as a context manager: the file
    appears at ``path`` only after a clean exit.

    Args:
        path: output file (``.mp4``, ``.mkv``...).
        fps: frames per second of the overlay.
        audio_path: media file whose first audio stream is muxed, or ``None`` for no audio.
    """

    def __init__(self, path: str, fps: float, audio_path: Optional[str]) -> None:
        self.path = path
        self.fps = Fraction(fps).limit_denominator(1000)
        self.audio_path = audio_path
        self.num_frames = 0
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        suffix = os.path.splitext(path)[1] or ".mp4"
        fd, self._temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=suffix)
        os.close(fd)
        self._container = av.open(self._temp_path, mode="w")
        self._video_stream = None
        self._audio_stream = None
        self._audio_reader: Optional[AudioStreamReader] = None
        self._audio_frames = None
        self._pending_audio_frame = None

    def __enter__(self) -> "OverlayVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._container.close()
            if self._audio_reader is not None:
                self._audio_reader.close()
            if exc_type is None:
                # mkstemp made the file private (0600); the video is an ordinary output file.
                os.chmod(self._temp_path, 0o666 & ~_current_umask())
                os.replace(self._temp_path, self.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._temp_path)

    def write(self, image: np.ndarray) -> None:
        """Append one RGB uint8 frame ``[H, W, 3]`` (all frames must share one size)."""
        height, width = image.shape[:2]
        if self._video_stream is None:
            self._open_streams(width + width % 2, height + height % 2)
        padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
        frame.pts = self.num_frames
        self._container.mux(self._video_stream.encode(frame))
        self.num_frames += 1
        self._mux_audio_until(self.num_frames / self.fps)

    def _open_streams(self, width: int, height: int) -> None:
        stream = self._container.add_stream(_pick_video_codec(), rate=self.fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self.fps
        self._video_stream = stream
        if self.audio_path is None:
            return
        self._audio_reader = AudioStreamReader(self.audio_path)
        source = self._audio_reader.stream
        layout = "stereo" if source.channels >= 2 else "mono"
        self._audio_stream = self._container.add_stream(AUDIO_CODEC, rate=source.rate, layout=layout)
        self._audio_frames = self._audio_reader.frames()

    def _mux_audio_until(self, seconds: Fraction) -> None:
        if self._audio_stream is None:
            return
        while True:
            frame = self._pending_audio_frame or next(self._audio_frames, None)
            self._pending_audio_frame = None
            if frame is None:
                return
            if frame.time is not None and frame.time >= seconds:
                self._pending_audio_frame = frame
                return
            # The encoder resamples to AAC's format and frame size and assigns timestamps.
            frame.pts = None
            self._container.mux(self._audio_stream.encode(frame))

    def _finish(self) -> None:
        if self._video_stream is None:
            raise RuntimeError(f"No frame was written to {self.path}")
        self._container.mux(self._video_stream.encode(None))
        if self._audio_stream is not None:
            self._mux_audio_until(self.num_frames / self.fps)
            self._container.mux(self._audio_stream.encode(None))
