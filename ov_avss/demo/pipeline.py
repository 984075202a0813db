"""The demo loop: stream frames in model windows, predict, and write every output."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from tqdm import tqdm

from ov_avss.data.image_io import write_palette_png
from ov_avss.visualization import draw_segments, visible_frame_segments

from .audio_stream import FrameAlignedAudio
from .errors import DemoInputError
from .frame_source import DemoInput, SampledFrame
from .predictor import VideoPredictor
from .writers import OverlayVideoWriter, write_json

logger = logging.getLogger(__name__)

OVERLAY_VIDEO_NAME = "overlay.mp4"
MASK_DIR_NAME = "masks"
SEGMENTS_JSON_NAME = "segments.json"


@dataclass(frozen=True)
class DemoOutputs:
    """Paths of what the demo wrote, how many frames it processed, how many segments each
    vocabulary name got (names without any are absent) and how many frames got none."""

    video_path: str
    mask_dir: str
    json_path: str
    num_frames: int
    segments_per_name: dict[str, int] = field(default_factory=dict)
    frames_without_segments: int = 0


def run_video_demo(
    predictor: VideoPredictor,
    demo_input: DemoInput,
    vocabulary: Sequence[str],
    output_dir: str,
    window_size: int,
    show_progress: bool = True,
) -> DemoOutputs:
    """Segment every sampled frame of ``demo_input`` and write the overlay video (with the
    input's audio), one palette PNG per frame and the segments JSON under ``output_dir``.

    Frames are processed ``window_size`` at a time (``INPUT.SAMPLING_FRAME_NUM``); only one
    window of frames and audio is held in memory.

    Raises:
        DemoInputError: no frame could be read, or frame sizes change within the input.
    """
    if window_size < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    os.makedirs(output_dir, exist_ok=True)
    # Everything is written into a hidden folder first and moved into place only when the run
    # completed, so a failed or interrupted run leaves the previous outputs (or none) intact.
    staging = tempfile.mkdtemp(dir=output_dir, prefix=".demo-")
    try:
        frame_records, frame_size = _predict_into(
            predictor, demo_input, vocabulary, staging, window_size, show_progress
        )
        write_json(os.path.join(staging, SEGMENTS_JSON_NAME), {
            "input": demo_input.frames.name,
            "audio": demo_input.audio_path,
            "fps": demo_input.frames.fps,
            "height": frame_size[0],
            "width": frame_size[1],
            "vocabulary": list(vocabulary),
            "frames": frame_records,
        })
        _move_into_place(staging, output_dir)
    finally:
        _remove_staging(staging)
    video_path = os.path.join(output_dir, OVERLAY_VIDEO_NAME)
    mask_dir = os.path.join(output_dir, MASK_DIR_NAME)
    json_path = os.path.join(output_dir, SEGMENTS_JSON_NAME)
    logger.info("Wrote %d frames: %s, %s/, %s", len(frame_records), video_path, mask_dir, json_path)
    counts = Counter(segment["category"] for frame in frame_records for segment in frame["segments"])
    return DemoOutputs(
        video_path, mask_dir, json_path, len(frame_records),
        segments_per_name={name: counts[name] for name in vocabulary if counts[name]},
        frames_without_segments=sum(not frame["segments"] for frame in frame_records),
    )


def _predict_into(
    predictor: VideoPredictor,
    demo_input: DemoInput,
    vocabulary: Sequence[str],
    output_dir: str,
    window_size: int,
    show_progress: bool,
) -> tuple[list[dict], tuple[int, int]]:
    """Write the overlay video and the PNGs into ``output_dir``; returns the JSON frame
    records and the frame size ``(H, W)``."""
    video_path = os.path.join(output_dir, OVERLAY_VIDEO_NAME)
    mask_dir = os.path.join(output_dir, MASK_DIR_NAME)
    os.makedirs(mask_dir)
    frame_records: list[dict] = []
    frame_size: Optional[tuple[int, int]] = None
    aligned_audio = FrameAlignedAudio(demo_input.audio_path, predictor.model.audio_encoder.front_end)
    progress = tqdm(
        total=demo_input.frames.estimated_num_frames, unit="frame", desc="OV-AVSS demo", disable=not show_progress
    )
    try:
        with OverlayVideoWriter(video_path, demo_input.frames.fps, demo_input.audio_path) as writer:
            for window in _windows(iter(demo_input.frames), window_size):
                frame_size = _check_frame_sizes(window, frame_size)
                frames = torch.from_numpy(np.stack([frame.image for frame in window]))
                audio = aligned_audio.examples_at(np.array([frame.time for frame in window]))
                output = predictor(frames, audio, vocabulary)
                sem_seg = output["sem_seg"].cpu()
                for position, frame in enumerate(window):
                    segments = visible_frame_segments(sem_seg[position], output["segments"], position)
                    label_map = sem_seg[position].numpy()
                    png_name = f"{frame.index:06d}.png"
                    write_palette_png(os.path.join(mask_dir, png_name), label_map)
                    writer.write(draw_segments(frame.image, label_map, segments, vocabulary))
                    frame_records.append({
                        "index": frame.index,
                        "time": frame.time,
                        "png": f"{MASK_DIR_NAME}/{png_name}",
                        "segments": [
                            {
                                "category": vocabulary[segment.label - 1],
                                "label": segment.label,
                                "score": segment.score,
                                "mask": _encode_rle(segment.mask),
                            }
                            for segment in segments
                        ],
                    })
                progress.update(len(window))
            if not frame_records:
                raise DemoInputError(f"No frame could be read from {demo_input.frames.name}")
    finally:
        progress.close()
    return frame_records, frame_size


def _remove_staging(staging: str) -> None:
    try:
        shutil.rmtree(staging)
    except OSError as error:  # must not hide the run's own error, if any
        logger.warning("Could not remove the staging folder %s: %s", staging, error)


def _move_into_place(staging: str, output_dir: str) -> None:
    """Replace the outputs of an earlier run with the staged ones: the PNG folder as a whole
    (no stale frame of a longer earlier run survives), then the video, the JSON last."""
    old_masks = os.path.join(output_dir, MASK_DIR_NAME)
    if os.path.lexists(old_masks):
        # Renamed first so that the new folder can take its name in one step.
        discarded = os.path.join(staging, "previous-" + MASK_DIR_NAME)
        os.replace(old_masks, discarded)
    os.replace(os.path.join(staging, MASK_DIR_NAME), old_masks)
    for name in (OVERLAY_VIDEO_NAME, SEGMENTS_JSON_NAME):
        os.replace(os.path.join(staging, name), os.path.join(output_dir, name))


def _windows(frames: Iterator[SampledFrame], window_size: int) -> Iterator[list[SampledFrame]]:
    while window := list(islice(frames, window_size)):
        yield window


def _check_frame_sizes(window: list[SampledFrame], expected: Optional[tuple[int, int]]) -> tuple[int, int]:
    expected = expected or window[0].image.shape[:2]
    for frame in window:
        if frame.image.shape[:2] != expected:
            raise DemoInputError(
                f"Frame {frame.index} is {frame.image.shape[1]}x{frame.image.shape[0]} but earlier "
                f"frames are {expected[1]}x{expected[0]}; all frames must share one size"
            )
    return expected


def _encode_rle(mask: torch.Tensor) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.cpu().numpy().astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
