"""The semantic demo (``OV_AVSS``): stream frames in model windows, predict, and write every output."""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ov_avss.structures.rle import encode_mask
from ov_avss.data.image_io import write_palette_png
from ov_avss.structures import output_segments
from ov_avss.visualization import FrameSegment, draw_segments, visible_frame_segments

from .audio_stream import FrameAlignedAudio
from .build import DEMO_REGISTRY, DemoRequest, empty_output_hint, test_dataset_metadata, untrained_reasons
from .errors import DemoInputError
from .frame_source import DemoInput, SampledFrame, check_frame_sizes, frame_windows
from .predictor import VideoPredictor
from .staging import move_into_place, staging_folder
from .vocabulary import parse_vocabulary
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
    silent: bool = False  # the input had no audio (--allow-silent): the model heard silence


@DEMO_REGISTRY.register(name="OV_AVSS")
class SegmentDemo:
    """Open-vocabulary semantic segments of every frame (``META_ARCHITECTURE: OV_AVSS``):
    ``overlay.mp4``, palette PNGs of vocabulary positions and ``segments.json``.

    Args:
        vocabulary: the names to segment.
        window_size: frames per model call (``INPUT.SAMPLING_FRAME_NUM``).
        audio_padding: the test dataset's ``audio_padding``.
        untrained: settings that leave the model untrained, for the report's hint.
    """

    def __init__(self, vocabulary: Sequence[str], window_size: int, audio_padding: str,
                 untrained: Sequence[str] = ()) -> None:
        self.vocabulary = list(vocabulary)
        self.window_size = window_size
        self.audio_padding = audio_padding
        self.untrained = list(untrained)

    @classmethod
    def from_config(cls, cfg, request: DemoRequest) -> "SegmentDemo":
        """The requested vocabulary, else the one of ``DATASETS.TEST[0]``.

        Raises:
            DemoInputError: ``request.video_id`` is set (it names AVIS results), or the default
                vocabulary is unusable.
        """
        if request.video_id is not None:
            raise DemoInputError(
                f"--video-id is for AVIS configs (it goes into results.json); "
                f"MODEL.META_ARCHITECTURE '{cfg.MODEL.META_ARCHITECTURE}' writes segments.json"
            )
        metadata = test_dataset_metadata(cfg)
        vocabulary = request.vocabulary
        if vocabulary is None:
            vocabulary = parse_vocabulary(metadata.vocabulary, f"dataset '{metadata.name}' (DATASETS.TEST[0])")
        return cls(vocabulary, int(cfg.INPUT.SAMPLING_FRAME_NUM), metadata.audio_padding, untrained_reasons(cfg))

    def run(self, predictor: VideoPredictor, demo_input: DemoInput, output_dir: str,
            show_progress: bool = True) -> DemoOutputs:
        logger.info("Vocabulary (%d names): %s", len(self.vocabulary), ", ".join(self.vocabulary))
        return run_video_demo(
            predictor, demo_input, self.vocabulary, output_dir, self.window_size, self.audio_padding, show_progress
        )

    def report(self, outputs: DemoOutputs) -> list[str]:
        """Where the outputs are, segments per name, frames without any, and why every frame
        may be empty."""
        per_name = ", ".join(f"{name} {count}" for name, count in outputs.segments_per_name.items())
        lines = [
            f"overlay video: {outputs.video_path}",
            f"palette masks: {outputs.mask_dir}/ ({outputs.num_frames} frames)",
            f"segments: {outputs.json_path}",
            f"segments per name: {per_name or 'none'}",
            f"frames with no segment: {outputs.frames_without_segments} of {outputs.num_frames}",
        ]
        if outputs.frames_without_segments == outputs.num_frames:
            trained_advice = (
                "the model heard silence (no audio track, --allow-silent) and segments sounding objects only"
                if outputs.silent
                else "the vocabulary may not name what sounds in the video, or "
                "MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD / MASK_LOGIT_THRESHOLD may be too strict"
            )
            lines.append("hint: no frame has a segment; " + empty_output_hint(self.untrained, trained_advice))
        return lines


def run_video_demo(
    predictor: VideoPredictor,
    demo_input: DemoInput,
    vocabulary: Sequence[str],
    output_dir: str,
    window_size: int,
    audio_padding: str,
    show_progress: bool = True,
) -> DemoOutputs:
    """Segment every sampled frame of ``demo_input`` and write the overlay video (with the
    input's audio), one palette PNG per frame and the segments JSON under ``output_dir``.

    Frames are processed ``window_size`` at a time (``INPUT.SAMPLING_FRAME_NUM``); only one
    window of frames and audio is held in memory. ``audio_padding`` completes audio shorter than
    the frames (the test dataset's ``audio_padding``).

    Raises:
        DemoInputError: no frame could be read, or frame sizes change within the input.
    """
    if window_size < 1:
        raise ValueError(f"window_size must be >= 1, got {window_size}")
    with staging_folder(output_dir) as staging:
        frame_records, frame_size = _predict_into(
            predictor, demo_input, vocabulary, staging, window_size, audio_padding, show_progress
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
        move_into_place(staging, output_dir, MASK_DIR_NAME, (OVERLAY_VIDEO_NAME, SEGMENTS_JSON_NAME))
    video_path = os.path.join(output_dir, OVERLAY_VIDEO_NAME)
    mask_dir = os.path.join(output_dir, MASK_DIR_NAME)
    json_path = os.path.join(output_dir, SEGMENTS_JSON_NAME)
    logger.info("Wrote %d frames: %s, %s/, %s", len(frame_records), video_path, mask_dir, json_path)
    counts = Counter(segment["category"] for frame in frame_records for segment in frame["segments"])
    return DemoOutputs(
        video_path, mask_dir, json_path, len(frame_records),
        segments_per_name={name: counts[name] for name in vocabulary if counts[name]},
        frames_without_segments=sum(not frame["segments"] for frame in frame_records),
        silent=demo_input.audio_path is None,
    )


@dataclass(frozen=True)
class FrameSegmentation:
    """The demo's result for one sampled frame.

    Attributes:
        frame: the frame (index, time, RGB pixels).
        label_map: int64 ``[H, W]``: 0 background, ``k`` the vocabulary's name ``k - 1``.
        segments: the scored segments visible in ``label_map``, in descending score order.
    """

    frame: SampledFrame
    label_map: torch.Tensor
    segments: list[FrameSegment]


def segment_frames(
    predictor: VideoPredictor,
    frames: Iterable[SampledFrame],
    aligned_audio: FrameAlignedAudio,
    vocabulary: Sequence[str],
    window_size: int,
) -> Iterator[FrameSegmentation]:
    """Segment ``frames`` ``window_size`` at a time (one model call per window, each frame with
    its audio example), yielding each frame's result in order; only one window is held.

    Raises:
        DemoInputError: frame sizes change within the input.
    """
    frame_size: Optional[tuple[int, int]] = None
    for window in frame_windows(frames, window_size):
        frame_size = check_frame_sizes(window, frame_size)
        pixels = torch.from_numpy(np.stack([frame.image for frame in window]))
        audio = aligned_audio.examples_at(np.array([frame.time for frame in window]))
        output = predictor(pixels, audio, vocabulary)
        sem_seg = output["sem_seg"].cpu()
        window_segments = output_segments(output, f"Frames {window[0].index}..{window[-1].index}")
        for position, frame in enumerate(window):
            segments = visible_frame_segments(sem_seg[position], window_segments, position)
            yield FrameSegmentation(frame, sem_seg[position], segments)


def _predict_into(
    predictor: VideoPredictor,
    demo_input: DemoInput,
    vocabulary: Sequence[str],
    output_dir: str,
    window_size: int,
    audio_padding: str,
    show_progress: bool,
) -> tuple[list[dict], tuple[int, int]]:
    """Write the overlay video and the PNGs into ``output_dir``; returns the JSON frame
    records and the frame size ``(H, W)``."""
    video_path = os.path.join(output_dir, OVERLAY_VIDEO_NAME)
    mask_dir = os.path.join(output_dir, MASK_DIR_NAME)
    os.makedirs(mask_dir)
    frame_records: list[dict] = []
    frame_size: Optional[tuple[int, int]] = None
    aligned_audio = FrameAlignedAudio(demo_input.audio_path, predictor.model.audio_encoder.front_end, audio_padding)
    progress = tqdm(
        total=demo_input.frames.estimated_num_frames, unit="frame", desc="OV-AVSS demo", disable=not show_progress
    )
    try:
        with OverlayVideoWriter(video_path, demo_input.frames.fps, demo_input.audio_path) as writer:
            for result in segment_frames(predictor, demo_input.frames, aligned_audio, vocabulary, window_size):
                frame = result.frame
                frame_size = frame.image.shape[:2]
                label_map = result.label_map.numpy()
                png_name = f"{frame.index:06d}.png"
                write_palette_png(os.path.join(mask_dir, png_name), label_map)
                writer.write(draw_segments(frame.image, label_map, result.segments, vocabulary))
                frame_records.append({
                    "index": frame.index,
                    "time": frame.time,
                    "png": f"{MASK_DIR_NAME}/{png_name}",
                    "segments": [
                        {
                            "category": vocabulary[segment.label - 1],
                            "label": segment.label,
                            "score": segment.score,
                            "mask": encode_mask(segment.mask.cpu().numpy()),
                        }
                        for segment in result.segments
                    ],
                })
                progress.update(1)
            if not frame_records:
                raise DemoInputError(f"No frame could be read from {demo_input.frames.name}")
    finally:
        progress.close()
    return frame_records, frame_size
