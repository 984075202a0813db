"""The instance-track demo (``AVISM``): the whole video through AVISM's offline inference, each
track drawn with its own colour and id, the tracks written as the reference's ``results.json``."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ov_avss.data.image_io import write_palette_png
from ov_avss.data.label_space import RLE_TRACKS
from ov_avss.evaluation.avis import track_predictions
from ov_avss.structures import SEGMENTS, output_segments
from ov_avss.utils.file_io import write_json_atomic
from ov_avss.visualization import MAX_TRACK_ID, FrameSegment, draw_segments, track_palette, visible_frame_segments

from .audio_stream import FrameAlignedAudio
from .build import DEMO_REGISTRY, DemoRequest, empty_output_hint, test_dataset_metadata, untrained_reasons
from .errors import DemoInputError
from .frame_source import DemoInput, FrameSource, check_frame_sizes
from .predictor import VideoPredictor
from .staging import move_into_place, staging_folder
from .writers import OverlayVideoWriter

logger = logging.getLogger(__name__)

OVERLAY_VIDEO_NAME = "overlay.mp4"
TRACK_MASK_DIR_NAME = "track_masks"
RESULTS_JSON_NAME = "results.json"
DEFAULT_VIDEO_ID = 1


@dataclass(frozen=True)
class Track:
    """One predicted track: its id in the outputs (1 = highest score), category and score."""

    track_id: int
    category: str
    score: float
    num_frames: int  # frames where its mask is not empty


@dataclass(frozen=True)
class TrackDemoOutputs:
    """Paths of what the track demo wrote, the frames it processed and its tracks."""

    video_path: str
    mask_dir: str
    json_path: str
    num_frames: int
    tracks: tuple[Track, ...]
    frames_without_tracks: int


@DEMO_REGISTRY.register(name="AVISM")
class TrackDemo:
    """Sounding-instance tracks through the whole video (``META_ARCHITECTURE: AVISM``):
    ``overlay.mp4``, track-id PNGs and ``results.json``.

    Args:
        names: the model's label space, ``names[label]`` (AVISeg: 26 names, label =
            ``category_id - 1``).
        video_id: the ``video_id`` written into ``results.json``.
        audio_padding: the test dataset's ``audio_padding``.
        untrained: settings that leave the model untrained, for the report's hint.
    """

    def __init__(self, names: Sequence[str], video_id: int, audio_padding: str, untrained: Sequence[str] = ()) -> None:
        self.names = tuple(names)
        self.video_id = video_id
        self.audio_padding = audio_padding
        self.untrained = list(untrained)

    @classmethod
    def from_config(cls, cfg, request: DemoRequest) -> "TrackDemo":
        """The label space of ``DATASETS.TEST[0]`` (a closed set: no vocabulary is accepted).

        Raises:
            DemoInputError: a vocabulary was given; the test dataset has no instance tracks or
                another number of classes than ``MODEL.SEM_SEG_HEAD.NUM_CLASSES``; the model
                cannot embed audio from a file (``MODEL.AVISM.AUDIO_ENCODER_ON`` False); or
                ``MODEL.AVISM.TEST_TOPK`` allows more tracks than the track-id PNGs hold.
        """
        metadata = test_dataset_metadata(cfg)
        if request.vocabulary is not None:
            raise DemoInputError(
                f"--vocabulary / --vocabulary-file do not apply to MODEL.META_ARCHITECTURE 'AVISM': it "
                f"classifies into the fixed label space of its dataset ('{metadata.name}', "
                f"{len(metadata.vocabulary)} names); run without them"
            )
        label_space = metadata.label_space
        if label_space is None or label_space.mask_format != RLE_TRACKS:
            raise DemoInputError(
                f"Config DATASETS.TEST[0] = '{metadata.name}' has no instance-track label space; AVISM's "
                "demo names its tracks by one (e.g. aviseg_val)"
            )
        num_classes = int(cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)
        if num_classes != label_space.num_labels:
            raise DemoInputError(
                f"Config MODEL.SEM_SEG_HEAD.NUM_CLASSES = {num_classes}, but DATASETS.TEST[0] = "
                f"'{metadata.name}' has {label_space.num_labels} categories"
            )
        if not cfg.MODEL.AVISM.AUDIO_ENCODER_ON:
            raise DemoInputError(
                "Config MODEL.AVISM.AUDIO_ENCODER_ON is False: the model then reads precomputed VGGish "
                "embeddings (AVISeg's FEATAudios), which the demo does not have; set it True so that the "
                "model embeds the audio track itself (MODEL.AUDIO.WEIGHTS: the VGGish weights)"
            )
        if int(cfg.MODEL.AVISM.TEST_TOPK) > MAX_TRACK_ID:
            raise DemoInputError(
                f"Config MODEL.AVISM.TEST_TOPK = {cfg.MODEL.AVISM.TEST_TOPK}: the track-id PNGs hold at "
                f"most {MAX_TRACK_ID} tracks; set it to {MAX_TRACK_ID} or less"
            )
        video_id = DEFAULT_VIDEO_ID if request.video_id is None else request.video_id
        return cls(label_space.names, video_id, metadata.audio_padding, untrained_reasons(cfg))

    def run(self, predictor: VideoPredictor, demo_input: DemoInput, output_dir: str,
            show_progress: bool = True) -> TrackDemoOutputs:
        return run_track_demo(
            predictor, demo_input, self.names, output_dir, self.video_id, self.audio_padding, show_progress
        )

    def report(self, outputs: TrackDemoOutputs) -> list[str]:
        """Where the outputs are, the tracks, frames without any, and why there may be none."""
        tracks = ", ".join(
            f"#{t.track_id} {t.category} {t.score:.2f} ({t.num_frames} frames)" for t in outputs.tracks
        )
        lines = [
            f"overlay video: {outputs.video_path}",
            f"track-id masks: {outputs.mask_dir}/ ({outputs.num_frames} frames)",
            f"tracks (results.json): {outputs.json_path}",
            f"tracks: {tracks or 'none'}",
            f"frames with no track: {outputs.frames_without_tracks} of {outputs.num_frames}",
        ]
        if not outputs.tracks:
            lines.append("hint: no track scored above MODEL.AVISM.TEST_SCORE_THRESHOLD; " + empty_output_hint(
                self.untrained, "the video may hold no sounding instance of the label space, or the threshold "
                "may be too strict",
            ))
        return lines


def run_track_demo(
    predictor: VideoPredictor,
    demo_input: DemoInput,
    names: Sequence[str],
    output_dir: str,
    video_id: int,
    audio_padding: str,
    show_progress: bool = True,
) -> TrackDemoOutputs:
    """Track the sounding instances of ``demo_input`` with an AVISM ``predictor`` and write,
    under ``output_dir``, the overlay video (with the input's audio), one track-id PNG per frame
    and ``results.json``.

    The frames are decoded twice: once to collect them at the test-time size for AVISM's offline
    inference over the whole video (which bounds its own memory, ``MODEL.AVISM.TEST_*``), once
    to draw the tracks over the original frames; the originals are never all held.

    Tracks are numbered 1, 2, ... by descending score. Where tracks overlap, a pixel goes to the
    highest-scoring one (track-id maps and overlay); ``results.json`` keeps every track's whole
    mask, entry ``i`` being track ``i + 1``.

    Raises:
        DemoInputError: no frame could be read, or frame sizes change within the input.
    """
    progress = tqdm(
        total=2 * (demo_input.frames.estimated_num_frames or 0) or None, unit="frame", desc="AVIS demo",
        disable=not show_progress,
    )
    try:
        aligned_audio = FrameAlignedAudio(demo_input.audio_path, predictor.model.audio_encoder.front_end, audio_padding)
        tracks_output, times = predict_tracks(predictor, demo_input.frames, aligned_audio, names, video_id, progress)
        with staging_folder(output_dir) as staging:
            frames_without_tracks = _draw_tracks(demo_input, tracks_output, names, staging, len(times), progress)
            # Compact, as the evaluator writes it: one RLE per frame and track adds up.
            write_json_atomic(
                os.path.join(staging, RESULTS_JSON_NAME), track_predictions(video_id, tracks_output), indent=None
            )
            move_into_place(staging, output_dir, TRACK_MASK_DIR_NAME, (OVERLAY_VIDEO_NAME, RESULTS_JSON_NAME))
    finally:
        progress.close()
    tracks = tracks_of(tracks_output, names)
    outputs = TrackDemoOutputs(
        video_path=os.path.join(output_dir, OVERLAY_VIDEO_NAME),
        mask_dir=os.path.join(output_dir, TRACK_MASK_DIR_NAME),
        json_path=os.path.join(output_dir, RESULTS_JSON_NAME),
        num_frames=len(times),
        tracks=tracks,
        frames_without_tracks=frames_without_tracks,
    )
    logger.info("Wrote %d frames, %d tracks: %s, %s/, %s", outputs.num_frames, len(tracks), outputs.video_path,
                outputs.mask_dir, outputs.json_path)
    return outputs


def predict_tracks(
    predictor: VideoPredictor,
    source: FrameSource,
    aligned_audio: FrameAlignedAudio,
    names: Sequence[str],
    video_id: int,
    progress: tqdm,
) -> tuple[dict, np.ndarray]:
    """Run AVISM's offline inference over all of ``source`` (frames at the test-time size, each
    with its audio example).

    Returns:
        The model's output with its ``segments`` in descending score order (``scores`` ``[K]``,
        ``labels`` ``[K]`` indexing ``names``, ``masks`` bool ``[K, T, H, W]`` at the frames'
        original size, on the CPU) and the frame times ``[T]`` in seconds.

    Raises:
        DemoInputError: no frame could be read, or frame sizes change within the input.
    """
    frames, times, (height, width) = _read_resized(predictor, source, progress)
    audio = aligned_audio.examples_at(times)
    output = predictor.predict(frames, audio, names, height, width, video_id=video_id)
    del frames
    segments = output_segments(output, f"Video {video_id}")
    # Stable: tracks of equal score keep the model's order.
    order = torch.sort(segments["scores"].cpu(), descending=True, stable=True).indices
    tracks_output = {SEGMENTS: {key: segments[key].cpu()[order] for key in ("scores", "labels", "masks")}}
    return tracks_output, times


def tracks_of(tracks_output: dict, names: Sequence[str]) -> tuple[Track, ...]:
    """``Track`` entries (ids 1, 2, ... in the output's order) of a ``predict_tracks`` result."""
    segments = tracks_output[SEGMENTS]
    masks = segments["masks"]
    return tuple(
        Track(track_id, names[label], score, int(masks[track_id - 1].flatten(1).any(1).sum()))
        for track_id, (score, label) in enumerate(zip(segments["scores"].tolist(), segments["labels"].tolist()), 1)
    )


# A track whose mask in a frame lies more than this fraction inside a higher-scoring labelled
# track's is the same object (a near-duplicate video query, many at a low threshold): its pixels
# keep their colour, its label is not drawn again.
DUPLICATE_COVERAGE = 0.5


def object_labels(frame_masks: torch.Tensor, visible: Sequence[FrameSegment]) -> list[FrameSegment]:
    """The segments to label in one frame: one per object.

    Args:
        frame_masks: bool ``[K, H, W]``, every track's whole mask in the frame (track k is row
            k - 1; the tracks are the model's output, all scoring above
            ``MODEL.AVISM.TEST_SCORE_THRESHOLD``).
        visible: the frame's visible segments in descending score order, ``label`` = track id.

    Returns:
        ``visible`` without the tracks whose mask lies more than ``DUPLICATE_COVERAGE`` inside a
        higher-scoring labelled track's.
    """
    labelled: list[FrameSegment] = []
    for segment in visible:
        mask = frame_masks[segment.label - 1]
        area = int(mask.sum())
        if not any(int((mask & frame_masks[kept.label - 1]).sum()) > DUPLICATE_COVERAGE * area for kept in labelled):
            labelled.append(segment)
    return labelled


def track_id_map(masks: torch.Tensor) -> torch.Tensor:
    """bool ``[K, H, W]`` (tracks in descending score order) -> uint8 ``[H, W]``: 0 background,
    k where track k (1-based) is the highest-scoring track covering the pixel."""
    if masks.shape[0] > MAX_TRACK_ID:
        raise ValueError(f"At most {MAX_TRACK_ID} tracks fit a track-id map, got {masks.shape[0]}")
    if masks.shape[0] == 0:
        return torch.zeros(masks.shape[-2:], dtype=torch.uint8)
    # argmax gives the first (highest-scoring) True along K.
    first = masks.to(torch.uint8).argmax(dim=0) + 1
    return torch.where(masks.any(dim=0), first, 0).to(torch.uint8)


def _read_resized(
    predictor: VideoPredictor, source: FrameSource, progress: tqdm
) -> tuple[torch.Tensor, np.ndarray, tuple[int, int]]:
    """All frames at the test-time size ``[T, 3, h, w]``, their times ``[T]`` and original size."""
    resized, times = [], []
    frame_size: Optional[tuple[int, int]] = None
    for frame in source:
        frame_size = check_frame_sizes([frame], frame_size)
        resized.append(predictor.resize(torch.from_numpy(frame.image)[None]))
        times.append(frame.time)
        progress.update(1)
    if not resized:
        raise DemoInputError(f"No frame could be read from {source.name}")
    return torch.cat(resized), np.array(times), frame_size


def _draw_tracks(
    demo_input: DemoInput, tracks_output: dict, names: Sequence[str], output_dir: str, num_frames: int,
    progress: tqdm,
) -> int:
    """Write the overlay video and the track-id PNGs into ``output_dir``; returns the number of
    frames without any track."""
    tracks = tracks_output[SEGMENTS]
    masks = tracks["masks"]
    segments = {
        "scores": tracks["scores"],
        "labels": torch.arange(masks.shape[0]),  # track id - 1
        "masks": masks,
    }
    labels = [f"#{k} {names[label]}" for k, label in enumerate(tracks["labels"].tolist(), 1)]
    palette = track_palette()
    mask_dir = os.path.join(output_dir, TRACK_MASK_DIR_NAME)
    os.makedirs(mask_dir)
    frames_without_tracks = 0
    written = 0
    with OverlayVideoWriter(
        os.path.join(output_dir, OVERLAY_VIDEO_NAME), demo_input.frames.fps, demo_input.audio_path
    ) as writer:
        for frame in demo_input.frames:
            if frame.index >= num_frames:
                raise DemoInputError(f"{demo_input.frames.name} gave more frames on a second reading than {num_frames}")
            id_map = track_id_map(masks[:, frame.index])
            frames_without_tracks += int(not id_map.any())
            write_palette_png(os.path.join(mask_dir, f"{frame.index:06d}.png"), id_map.numpy(), palette)
            visible = visible_frame_segments(id_map.to(torch.int64), segments, frame.index)
            labelled = object_labels(masks[:, frame.index], visible)
            writer.write(draw_segments(frame.image, id_map.numpy(), labelled, labels, palette))
            written += 1
            progress.update(1)
    if written != num_frames:
        raise DemoInputError(f"{demo_input.frames.name} gave {written} frames on a second reading, {num_frames} before")
    return frames_without_tracks
