"""The demo's predictions as Python objects, for notebooks and scripts (no files written).

    from ov_avss import AudioVisualPredictor

    predictor = AudioVisualPredictor("configs/avsbench/OV_AVSS_R50.yaml", weights="model.pth")
    result = predictor("clip.mp4", vocabulary=["dog", "piano", "man"])
    for frame in result.frames:
        print(frame.time, [(segment.name, round(segment.score, 2)) for segment in frame.segments])

The config's ``MODEL.META_ARCHITECTURE`` picks what comes back, as in the demo: ``OV_AVSS``
gives a ``SegmentationResult`` (per frame: the semantic map and its named, scored segments),
``AVISM`` a ``TrackingResult`` (instance tracks with names, scores and per-frame masks). The
frames, audio examples, model calls and post-processing are the demo's own
(``segment_frames`` / ``predict_tracks``), so the results equal what ``demo_video/demo.py``
writes for the same input.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
from tqdm import tqdm

from ov_avss.config import get_cfg
from ov_avss.structures import SEGMENTS

from .audio_stream import FrameAlignedAudio
from .build import DemoRequest, build_demo
from .errors import DemoInputError
from .frame_source import ArrayFrameSource, FrameSource, open_demo_input
from .pipeline import SegmentDemo, segment_frames
from .predictor import VideoPredictor
from .track_pipeline import Track, TrackDemo, predict_tracks, track_id_map, tracks_of
from .vocabulary import parse_vocabulary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One named segment of a frame: the pixels its name holds in the frame's ``label_map``
    that this scored prediction painted."""

    name: str
    label: int  # its value in ``label_map``: position of ``name`` in the vocabulary + 1
    score: float
    mask: np.ndarray  # bool [H, W]


@dataclass(frozen=True)
class FrameResult:
    """One sampled frame: its position, time, semantic map and segments (best first)."""

    index: int
    time: float  # seconds from the start of the input
    label_map: np.ndarray  # uint8 [H, W]: 0 background, k the name vocabulary[k - 1]
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class SegmentationResult:
    """What an ``OV_AVSS`` model found in every sampled frame (the demo's ``segments.json`` and
    palette PNGs, as arrays)."""

    vocabulary: tuple[str, ...]
    fps: float
    frames: tuple[FrameResult, ...]


@dataclass(frozen=True)
class TrackingResult:
    """The sounding-instance tracks of an ``AVISM`` model (the demo's ``results.json`` and
    track-id PNGs, as arrays). Track ``k`` (1 = highest score) is ``tracks[k - 1]`` and its
    mask in every frame is ``masks[k - 1]``."""

    names: tuple[str, ...]  # the model's label space
    fps: float
    times: np.ndarray  # float [T], seconds
    tracks: tuple[Track, ...]
    masks: np.ndarray  # bool [K, T, H, W]

    def id_map(self, frame: int) -> np.ndarray:
        """uint8 ``[H, W]`` of frame ``frame``: 0 background, ``k`` where track ``k`` is the
        highest-scoring track covering the pixel (the demo's track-id PNG)."""
        return track_id_map(torch.from_numpy(self.masks[:, frame])).numpy()


Result = Union[SegmentationResult, TrackingResult]


class AudioVisualPredictor:
    """A model built from a config and weights, run on a video (path) or frames in memory.

    Args:
        config_file: a model config (YAML), e.g. ``configs/avsbench/OV_AVSS_R50.yaml``.
        weights: ``MODEL.WEIGHTS``: a checkpoint path or an ``http(s)://`` address (downloaded
            once into ``$FVCORE_CACHE``, default ``~/.torch/iopath_cache``); ``None`` keeps the
            config's.
        opts: further config overrides, ``["KEY", "VALUE", ...]``.
        device: ``"cpu"`` or ``"cuda"`` (``MODEL.DEVICE``); ``None`` keeps the config's.

    Raises:
        DemoInputError: the config has no demo or its test dataset is unusable.
        FileNotFoundError, WeightDownloadError, CheckpointReadError: the weights cannot be read.
    """

    def __init__(
        self,
        config_file: str,
        weights: Optional[str] = None,
        opts: Sequence[str] = (),
        device: Optional[str] = None,
    ) -> None:
        cfg = get_cfg()
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(list(opts))
        if weights is not None:
            cfg.MODEL.WEIGHTS = weights
        if device is not None:
            cfg.MODEL.DEVICE = device
        cfg.freeze()
        self.cfg = cfg
        build_demo(cfg, DemoRequest())  # checks the config before the model is built
        self.video_predictor = VideoPredictor(cfg)

    @property
    def model(self) -> torch.nn.Module:
        """The model, in eval mode."""
        return self.video_predictor.model

    def __call__(
        self,
        video: str,
        vocabulary: Optional[Sequence[str]] = None,
        *,
        audio: Optional[str] = None,
        fps: float = 1.0,
        allow_silent: bool = False,
        video_id: Optional[int] = None,
    ) -> Result:
        """Predict on a video file or an AVSBench-style frame folder, as the demo does.

        Args:
            video: a video file with an audio track, or a frame folder (``0.jpg, 1.jpg, ...``
                with ``audio.wav``).
            vocabulary: ``OV_AVSS``: the names to segment (default: those of
                ``DATASETS.TEST[0]``); must be ``None`` for ``AVISM`` (its label space is fixed).
            audio: an audio file to use instead of the video's own track.
            fps: frames sampled per second.
            allow_silent: run with silence when there is no audio (else an error).
            video_id: ``AVISM``: the ``video_id`` of the tracks (default 1).

        Raises:
            DemoInputError: unreadable input, no audio, or a vocabulary that does not fit.
        """
        demo_input = open_demo_input(video, audio, fps, allow_silent)
        demo = self._demo(vocabulary, video_id)
        aligned_audio = FrameAlignedAudio(demo_input.audio_path, self._front_end, demo.audio_padding)
        return self._predict(demo, demo_input.frames, aligned_audio)

    def predict_frames(
        self,
        frames,
        vocabulary: Optional[Sequence[str]] = None,
        *,
        audio: Union[str, np.ndarray, torch.Tensor, None] = None,
        sample_rate: Optional[int] = None,
        fps: float = 1.0,
        allow_silent: bool = False,
        video_id: Optional[int] = None,
    ) -> Result:
        """Predict on frames already in memory.

        Args:
            frames: RGB uint8 ``[T, H, W, 3]``; frame ``k`` is at ``k / fps`` seconds.
            vocabulary: as for ``__call__``.
            audio: an audio file, a waveform float ``[N]`` or ``[C, N]`` in [-1, 1] (with
                ``sample_rate``), or ``None`` for silence (only with ``allow_silent``).
            sample_rate: the waveform's sampling rate in Hz (a whole number).
            fps: the frames' rate, which places each frame's audio example.
            allow_silent: as for ``__call__``: run with silence when ``audio`` is ``None``.
            video_id: as for ``__call__``.

        Raises:
            DemoInputError: frames of the wrong type or shape, no audio without
                ``allow_silent``, a waveform that is not float or comes without a whole-number
                ``sample_rate``, an unreadable audio file, or a vocabulary that does not fit.
        """
        source = ArrayFrameSource(frames, fps)
        demo = self._demo(vocabulary, video_id)
        if audio is None:
            if not allow_silent:
                raise DemoInputError("No audio given: pass audio= (a file or a waveform), or allow_silent=True")
            logger.warning("No audio given; the model hears silence (allow_silent=True).")
            aligned_audio = FrameAlignedAudio(None, self._front_end, demo.audio_padding)
        elif isinstance(audio, (str, os.PathLike)):
            aligned_audio = FrameAlignedAudio(os.fspath(audio), self._front_end, demo.audio_padding)
        else:
            if sample_rate is None or int(sample_rate) != sample_rate:
                raise DemoInputError(
                    f"audio given as a waveform needs its sample_rate as a whole number of Hz, got {sample_rate!r}"
                )
            aligned_audio = FrameAlignedAudio.from_waveform(audio, sample_rate, self._front_end, demo.audio_padding)
        return self._predict(demo, source, aligned_audio)

    @property
    def _front_end(self):
        return self.model.audio_encoder.front_end

    def _demo(self, vocabulary: Optional[Sequence[str]], video_id: Optional[int]) -> Union[SegmentDemo, TrackDemo]:
        if vocabulary is not None:
            if isinstance(vocabulary, str):
                raise DemoInputError(f"vocabulary must be a list of names, got the string {vocabulary!r}")
            vocabulary = parse_vocabulary(vocabulary, "the vocabulary argument")
        return build_demo(self.cfg, DemoRequest(vocabulary=vocabulary, video_id=video_id))

    def _predict(self, demo: Union[SegmentDemo, TrackDemo], source: FrameSource,
                 aligned_audio: FrameAlignedAudio) -> Result:
        if isinstance(demo, TrackDemo):
            with tqdm(disable=True) as progress:
                tracks_output, times = predict_tracks(
                    self.video_predictor, source, aligned_audio, demo.names, demo.video_id, progress
                )
            return TrackingResult(
                names=demo.names,
                fps=source.fps,
                times=times,
                tracks=tracks_of(tracks_output, demo.names),
                masks=tracks_output[SEGMENTS]["masks"].numpy(),
            )
        vocabulary = demo.vocabulary
        frames = tuple(
            FrameResult(
                index=result.frame.index,
                time=result.frame.time,
                # uint8 as the demo's PNGs (a vocabulary has at most 255 names): 1/8 of int64's memory.
                label_map=result.label_map.to(torch.uint8).numpy(),
                segments=tuple(
                    Segment(vocabulary[segment.label - 1], segment.label, segment.score, segment.mask.cpu().numpy())
                    for segment in result.segments
                ),
            )
            for result in segment_frames(self.video_predictor, source, aligned_audio, vocabulary, demo.window_size)
        )
        if not frames:
            raise DemoInputError(f"No frame could be read from {source.name}")
        return SegmentationResult(vocabulary=tuple(vocabulary), fps=source.fps, frames=frames)
