"""Demo inputs: a video file decoded as a stream, an AVSBench-style frame folder, or frames
already in memory.

All yield frames sampled at a fixed rate one at a time, so a long video is never held whole.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, Optional, Union

import av
import numpy as np

from ov_avss.data.image_io import read_frame

from .audio_stream import has_audio_stream
from .errors import DemoInputError

logger = logging.getLogger(__name__)

FRAME_FOLDER_AUDIO_NAME = "audio.wav"
_FRAME_FILE = re.compile(r"^(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class SampledFrame:
    """One sampled frame: its position in the sampled sequence, its time and its pixels."""

    index: int
    time: float  # seconds from the start of the input
    image: np.ndarray  # RGB uint8 [H, W, 3]


class VideoFrameSource:
    """Frames of the first video stream of ``path`` at ``fps`` frames per second.

    For sample time ``k / fps`` the first decoded frame at or after it is taken (the same frame
    serves several sample times when the video's own rate is lower than ``fps``).

    Raises:
        DemoInputError: the file cannot be opened or holds no video stream.
    """

    def __init__(self, path: str, fps: float) -> None:
        self.path = path
        self.name = path
        self.fps = fps
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise DemoInputError(f"{path} holds no video stream")
                stream = container.streams.video[0]
                duration = _stream_duration_seconds(container, stream)
        except av.FFmpegError as e:
            raise DemoInputError(f"Cannot open video file {path}: {e}") from e
        # For the progress bar only; the exact count is known after decoding.
        self.estimated_num_frames = int(np.ceil(duration * fps)) if duration is not None else None

    def __iter__(self) -> Iterator[SampledFrame]:
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                average_rate = float(stream.average_rate) if stream.average_rate else None
                next_index = 0
                warned_no_pts = False
                for decoded_index, frame in enumerate(container.decode(stream)):
                    frame_time = frame.time
                    if frame_time is None:
                        if average_rate is None:
                            raise DemoInputError(
                                f"{self.path}: video frames carry no timestamps and the stream "
                                "reports no frame rate; cannot sample frames in time"
                            )
                        if not warned_no_pts:
                            logger.warning(
                                "%s: video frames carry no timestamps; using frame number / %.3f fps",
                                self.path, average_rate,
                            )
                            warned_no_pts = True
                        frame_time = decoded_index / average_rate
                    # A small tolerance absorbs timestamp rounding (e.g. 0.99999 s for 1 s).
                    if next_index / self.fps > frame_time + 1e-3:
                        continue
                    image = frame.to_ndarray(format="rgb24")
                    while next_index / self.fps <= frame_time + 1e-3:
                        yield SampledFrame(next_index, next_index / self.fps, image)
                        next_index += 1
        except av.FFmpegError as e:
            raise DemoInputError(f"Cannot decode video file {self.path}: {e}") from e


class FrameFolderSource:
    """Numbered frames (in ``folder`` or ``folder/frames``), taken as frames sampled at ``fps``
    (AVSBench: 1 per second): AVSBench's ``0.jpg, 1.jpg, ...`` or FFmpeg's default
    ``00001.jpg, 00002.jpg, ...`` (any zero padding); the first file is frame 0.

    Raises:
        DemoInputError: no numbered frame file is found, or the numbers have gaps.
    """

    def __init__(self, folder: str, fps: float) -> None:
        frames_dir = os.path.join(folder, "frames")
        self.frames_dir = frames_dir if os.path.isdir(frames_dir) else folder
        self.name = self.frames_dir
        self.fps = fps
        numbered = {}
        for name in os.listdir(self.frames_dir):
            match = _FRAME_FILE.match(name)
            if match:
                number = int(match.group(1))
                if number in numbered:
                    raise DemoInputError(
                        f"{self.frames_dir} holds two files numbered {number}: "
                        f"{os.path.basename(numbered[number])} and {name}"
                    )
                numbered[number] = os.path.join(self.frames_dir, name)
        if not numbered:
            raise DemoInputError(
                f"No frame files named 0.jpg, 1.jpg, ... (or 00001.jpg, 00002.jpg, ...) in {self.frames_dir}"
            )
        first = min(numbered)
        if first not in (0, 1):
            raise DemoInputError(
                f"Frame files in {self.frames_dir} must be numbered from 0 or 1; the first is {first}"
            )
        expected = list(range(first, first + len(numbered)))
        if sorted(numbered) != expected:
            missing = sorted(set(expected) - set(numbered))
            raise DemoInputError(
                f"Frame files in {self.frames_dir} must be numbered {first}..{first + len(numbered) - 1} "
                f"without gaps; missing {missing[:10]}"
            )
        self.frame_paths = [numbered[i] for i in expected]
        self.estimated_num_frames = len(self.frame_paths)

    def __iter__(self) -> Iterator[SampledFrame]:
        for index, path in enumerate(self.frame_paths):
            try:
                image = read_frame(path)
            except (FileNotFoundError, ValueError) as e:
                raise DemoInputError(str(e)) from e
            yield SampledFrame(index, index / self.fps, image)


class ArrayFrameSource:
    """Frames already in memory (e.g. decoded by the caller in a notebook), taken as sampled
    at ``fps``: frame ``k`` is at ``k / fps`` seconds.

    Args:
        frames: RGB uint8 ``[T, H, W, 3]`` (numpy array or tensor).
        fps: frames per second, for the frame times (which pick each frame's audio example).

    Raises:
        DemoInputError: ``frames`` is not uint8 ``[T, H, W, 3]`` with ``T >= 1``, or ``fps`` is
            not positive.
    """

    def __init__(self, frames, fps: float) -> None:
        array = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] == 0:
            raise DemoInputError(
                f"frames must be RGB uint8 [T, H, W, 3] with T >= 1, got {array.dtype} {list(array.shape)}"
            )
        if not fps > 0:
            raise DemoInputError(f"fps must be positive, got {fps}")
        self.frames = array
        self.name = f"the given frames ({array.shape[0]} of {array.shape[2]}x{array.shape[1]})"
        self.fps = fps
        self.estimated_num_frames = array.shape[0]

    def __iter__(self) -> Iterator[SampledFrame]:
        for index, image in enumerate(self.frames):
            yield SampledFrame(index, index / self.fps, image)


FrameSource = Union[VideoFrameSource, FrameFolderSource, ArrayFrameSource]


def frame_windows(frames: Iterable[SampledFrame], window_size: int) -> Iterator[list[SampledFrame]]:
    """Consecutive windows of ``window_size`` frames (the last one may be shorter)."""
    if window_size < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    frames = iter(frames)
    while window := list(islice(frames, window_size)):
        yield window


def check_frame_sizes(window: list[SampledFrame], expected: Optional[tuple[int, int]]) -> tuple[int, int]:
    """The frame size ``(H, W)`` shared by ``window`` and the frames before it (``expected``,
    ``None`` for the first window).

    Raises:
        DemoInputError: a frame's size differs.
    """
    expected = expected or window[0].image.shape[:2]
    for frame in window:
        if frame.image.shape[:2] != expected:
            raise DemoInputError(
                f"Frame {frame.index} is {frame.image.shape[1]}x{frame.image.shape[0]} but earlier "
                f"frames are {expected[1]}x{expected[0]}; all frames must share one size"
            )
    return expected


@dataclass(frozen=True)
class DemoInput:
    """Where the demo's frames and audio come from; ``audio_path`` is ``None`` for silence."""

    frames: FrameSource
    audio_path: Optional[str]


def open_demo_input(
    input_path: str, audio_path: Optional[str], fps: float, allow_silent: bool
) -> DemoInput:
    """Resolve the demo's frame source and audio track.

    Audio: ``audio_path`` when given; else the video's own audio stream, or ``audio.wav`` beside
    the frames of a frame folder. Without audio the demo fails unless ``allow_silent`` (then the
    model hears silence).

    Raises:
        DemoInputError: a path does not exist, a file is unreadable, ``fps`` is not positive, or
            there is no audio and ``allow_silent`` is false.
    """
    if not fps > 0:
        raise DemoInputError(f"--fps must be positive, got {fps}")
    if not os.path.exists(input_path):
        raise DemoInputError(f"Input not found: {input_path}")
    if audio_path is not None:
        if not os.path.isfile(audio_path):
            raise DemoInputError(f"Audio file not found: {audio_path}")
        if not has_audio_stream(audio_path):
            raise DemoInputError(f"Audio file {audio_path} holds no audio stream")

    if os.path.isdir(input_path):
        source: FrameSource = FrameFolderSource(input_path, fps)
        if audio_path is None:
            beside = os.path.join(input_path, FRAME_FOLDER_AUDIO_NAME)
            audio_path = beside if os.path.isfile(beside) else None
            if audio_path is not None and not has_audio_stream(audio_path):
                raise DemoInputError(f"Audio file {audio_path} holds no audio stream")
        missing_audio = f"no --audio given and no {FRAME_FOLDER_AUDIO_NAME} in {input_path}"
    else:
        source = VideoFrameSource(input_path, fps)
        if audio_path is None and has_audio_stream(input_path):
            audio_path = input_path
        missing_audio = f"{input_path} has no audio track and no --audio was given"

    if audio_path is None:
        if not allow_silent:
            raise DemoInputError(
                f"No audio: {missing_audio}. OV-AVSS segments sounding objects and needs the "
                "sound; pass --allow-silent to run with silence"
            )
        logger.warning("No audio (%s); running with silence as --allow-silent asks.", missing_audio)
    return DemoInput(frames=source, audio_path=audio_path)


def _stream_duration_seconds(container: av.container.InputContainer, stream: av.video.VideoStream) -> Optional[float]:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None
