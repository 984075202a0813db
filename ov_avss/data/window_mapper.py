"""Turn a dataset record (plus the frames of one window) into a ``VideoInput`` (docs/architecture.md).

Training: window-consistent resize (short side per window with ``choice_by_clip``, per frame with
``choice``; or to ``INPUT.FIXED_SIZE_TRAIN`` exactly), flip (by window or by frame), optional
window-consistent crop, and per-category binary targets in vocabulary positions. Testing: resize
to ``MIN_SIZE_TEST`` (or ``FIXED_SIZE_TEST`` exactly) and the ground truth at original size in
the dataset's own labels.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from ..audio import RecordAudio
from ..structures import VideoInput, make_video_input
from .catalog import get_dataset_metadata
from .image_io import read_frame
from .label_maps import read_label_maps
from .transforms import (
    crop_config, fixed_size, random_crop_box, resize_for_test, resize_frames, resize_labels, resized_shape,
)

logger = logging.getLogger(__name__)

_SIZE_SAMPLING = ("choice_by_clip", "choice")
_FLIP_MODES = ("flip_by_clip", "flip_by_frame", "none")


class WindowMapper:
    """Callable ``(record, frame_indices, rng, audio_donor=None) -> VideoInput`` for one dataset.

    Args:
        cfg: the config (``INPUT.*``).
        dataset_name: registered dataset; gives the vocabulary and the label space.
        is_train: training augmentation and ``targets``, else test resize and ``sem_seg_gt``.
    """

    def __init__(self, cfg, dataset_name: str, is_train: bool):
        metadata = get_dataset_metadata(dataset_name)
        self.dataset_name = dataset_name
        self.vocabulary = list(metadata.vocabulary)
        self.label_space = metadata.label_space
        if not self.label_space.has_background:
            raise ValueError(
                f"WindowMapper needs label-map ground truth; dataset {dataset_name} stores "
                f"'{self.label_space.mask_format}'"
            )
        self.is_train = is_train
        self.min_size_train = tuple(int(s) for s in cfg.INPUT.MIN_SIZE_TRAIN)
        self.size_sampling = cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
        self.max_size_train = int(cfg.INPUT.MAX_SIZE_TRAIN)
        self.min_size_test = int(cfg.INPUT.MIN_SIZE_TEST)
        self.max_size_test = int(cfg.INPUT.MAX_SIZE_TEST)
        self.fixed_size_train = fixed_size(cfg, "FIXED_SIZE_TRAIN")
        self.fixed_size_test = fixed_size(cfg, "FIXED_SIZE_TEST")
        self.flip_mode = cfg.INPUT.RANDOM_FLIP
        self.crop_enabled, self.crop_type, self.crop_size = crop_config(cfg)
        self.audio = RecordAudio.from_config(cfg, metadata.audio_padding, is_train)
        # The overlay writer draws on the frames before the test resize.
        self.keep_original_frames = not is_train and int(cfg.TEST.VISUALIZE_NUM_CLIPS) > 0
        for key, value, allowed in (
            ("INPUT.MIN_SIZE_TRAIN_SAMPLING", self.size_sampling, _SIZE_SAMPLING),
            ("INPUT.RANDOM_FLIP", self.flip_mode, _FLIP_MODES),
        ):
            if value not in allowed:
                raise ValueError(f"Config {key} = '{value}' is not supported; expected one of {allowed}")
        if not self.min_size_train:
            raise ValueError("Config INPUT.MIN_SIZE_TRAIN must list at least one size")

    # ------------------------------------------------------------------------------------------
    def __call__(
        self,
        record: dict,
        frame_indices: Sequence[int],
        rng: np.random.Generator | None = None,
        audio_donor: dict | None = None,
    ) -> VideoInput:
        """Build the video input of ``record``'s frames ``frame_indices``.

        Args:
            rng: source of augmentation randomness (training); ``None`` is allowed in testing.
            audio_donor: with ``TEST.AUDIO_ABLATION: shuffle``, the record whose audio this
                window gets (``RecordAudio``).
        """
        frame_indices = [int(t) for t in frame_indices]
        if self.is_train and rng is None:
            raise ValueError("WindowMapper in training mode needs a random generator")
        frames_np = self._read_frames(record, frame_indices)
        height, width = frames_np.shape[1:3]
        labels = torch.from_numpy(read_label_maps(record, frame_indices, self.label_space, (height, width)))
        frame_valid = torch.tensor([record["mask_paths"][t] is not None for t in frame_indices], dtype=torch.bool)
        audio = self.audio(record, frame_indices, audio_donor)

        frames = torch.from_numpy(frames_np).permute(0, 3, 1, 2).contiguous()
        if self.is_train:
            frames, labels = self._augment(frames, labels, rng)
            mode_keys = {"targets": self._targets(labels, record["category_names"])}
        else:
            mode_keys = {"sem_seg_gt": labels}
            if self.keep_original_frames:
                mode_keys["original_frames"] = frames
            frames = resize_for_test(frames, self.min_size_test, self.max_size_test, self.fixed_size_test)
        return make_video_input(
            uid=record["uid"],
            dataset_name=record["dataset_name"],
            frame_indices=frame_indices,
            height=height,
            width=width,
            frames=frames,
            audio=audio,
            vocabulary=self.vocabulary,
            frame_valid=frame_valid,
            sounding_categories=record["category_names"],
            **mode_keys,
        )

    # ------------------------------------------------------------------------------------------
    def _read_frames(self, record: dict, frame_indices: Sequence[int]) -> np.ndarray:
        frames = [read_frame(record["frame_paths"][t]) for t in frame_indices]
        first_shape = frames[0].shape
        for t, frame in zip(frame_indices, frames):
            if frame.shape != first_shape:
                raise ValueError(
                    f"Frame {record['frame_paths'][t]} is {frame.shape[1]}x{frame.shape[0]}, but "
                    f"{record['frame_paths'][frame_indices[0]]} is {first_shape[1]}x{first_shape[0]}; "
                    f"the frames of a window must share one size"
                )
        return np.stack(frames)

    def _augment(
        self, frames: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Window-consistent resize, flip and crop of frames ``[T, 3, H, W]`` and labels ``[T, H, W]``."""
        num_frames, _, height, width = frames.shape
        if self.fixed_size_train is not None:
            short_sides = np.zeros(num_frames, dtype=np.int64)  # one size for all: aspect not kept
            sizes = {0: self.fixed_size_train}
        else:
            if self.size_sampling == "choice_by_clip":
                short_sides = np.full(num_frames, rng.choice(self.min_size_train))
            else:
                short_sides = rng.choice(self.min_size_train, size=num_frames)
            sizes = {int(s): resized_shape(height, width, int(s), self.max_size_train) for s in np.unique(short_sides)}
        out_height = max(h for h, _ in sizes.values())
        out_width = max(w for _, w in sizes.values())
        # Frames that got a smaller scale ("choice") are padded at the bottom/right; padding is
        # background in the targets.
        out_frames = torch.zeros((num_frames, 3, out_height, out_width), dtype=torch.uint8)
        out_labels = torch.zeros((num_frames, out_height, out_width), dtype=torch.int64)
        for short_side, (h, w) in sizes.items():
            selected = torch.from_numpy(short_sides == short_side)
            out_frames[selected, :, :h, :w] = resize_frames(frames[selected], (h, w))
            out_labels[selected, :h, :w] = resize_labels(labels[selected], (h, w))
        out_labels[~self._valid_rows(labels)] = self.label_space.ignore_label

        if self.flip_mode != "none":
            if self.flip_mode == "flip_by_clip":
                flips = torch.full((num_frames,), bool(rng.random() < 0.5))
            else:
                flips = torch.from_numpy(rng.random(num_frames) < 0.5)
            out_frames = torch.where(flips[:, None, None, None], out_frames.flip(-1), out_frames)
            out_labels = torch.where(flips[:, None, None], out_labels.flip(-1), out_labels)

        if self.crop_enabled:
            top, left, crop_h, crop_w = random_crop_box(out_height, out_width, self.crop_type, self.crop_size, rng)
            out_frames = out_frames[:, :, top : top + crop_h, left : left + crop_w].contiguous()
            out_labels = out_labels[:, top : top + crop_h, left : left + crop_w].contiguous()
        return out_frames, out_labels

    def _valid_rows(self, labels: torch.Tensor) -> torch.Tensor:
        """bool ``[T]``: frames that carry ground truth (not entirely the ignore label)."""
        return (labels != self.label_space.ignore_label).flatten(1).any(dim=1)

    def _targets(self, labels: torch.Tensor, sounding: Sequence[str]) -> dict[str, torch.Tensor]:
        """One binary mask track per vocabulary category present in ``labels`` (dataset labels
        ``[T, H, W]``): ``labels`` ``[N]`` (0-based vocabulary index) and ``masks``
        ``[N, T, H, W]`` (all False on frames without ground truth). With label noise, categories
        that do not sound in the window are background."""
        lookup = self.label_space.vocabulary_lookup(self.vocabulary, sounding if self.label_space.label_noise else None)
        vocabulary_labels = torch.from_numpy(lookup)[labels]
        present = torch.unique(vocabulary_labels)
        present = present[(present > 0) & (present != self.label_space.ignore_label)]
        masks = vocabulary_labels[None] == present[:, None, None, None]
        return {"labels": present - 1, "masks": masks}
