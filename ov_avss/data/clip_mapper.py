"""Turn a dataset record (plus the frames of one window) into a clip dict (docs/architecture.md).

Training: clip-consistent resize (short side per clip with ``choice_by_clip``, per frame with
``choice``), flip (by clip or by frame), optional clip-consistent crop, and per-category binary
targets. Testing: resize to ``MIN_SIZE_TEST`` and the ground truth at original size.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..audio import audio_examples_for_frames, audio_front_end
from .catalog import get_dataset_metadata
from .categories import CATEGORIES, IGNORE_LABEL
from .image_io import read_binary_mask, read_frame, read_palette_mask

logger = logging.getLogger(__name__)

# Subsets whose masks are binary (AVSBench-object); the others use the semantic palette.
BINARY_SUBSETS = ("s4", "ms3")
_SIZE_SAMPLING = ("choice_by_clip", "choice")
_FLIP_MODES = ("flip_by_clip", "flip_by_frame", "none")
_CROP_TYPES = ("absolute", "absolute_range")


def resized_shape(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Output ``(height, width)`` when the short side becomes ``short_side`` and the long side
    stays within ``max_size`` (detectron2's ``ResizeShortestEdge`` rounding)."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def _resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[T, 3, H, W]`` -> uint8 ``[T, 3, h, w]`` (bilinear, antialiased when shrinking)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    shrinking = size[0] < frames.shape[-2] or size[1] < frames.shape[-1]
    resized = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """int64 ``[T, H, W]`` -> int64 ``[T, h, w]`` (nearest)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


class ClipMapper:
    """Callable ``(record, frame_indices, rng, audio=None) -> clip dict`` for one dataset.

    Args:
        cfg: the config (``INPUT.*``).
        dataset_name: registered dataset; gives the vocabulary.
        is_train: training augmentation and ``targets``, else test resize and ``sem_seg_gt``.
    """

    def __init__(self, cfg, dataset_name: str, is_train: bool):
        metadata = get_dataset_metadata(dataset_name)
        self.dataset_name = dataset_name
        self.vocabulary = list(metadata.vocabulary)
        self.is_train = is_train
        self.min_size_train = tuple(int(s) for s in cfg.INPUT.MIN_SIZE_TRAIN)
        self.size_sampling = cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
        self.max_size_train = int(cfg.INPUT.MAX_SIZE_TRAIN)
        self.min_size_test = int(cfg.INPUT.MIN_SIZE_TEST)
        self.max_size_test = int(cfg.INPUT.MAX_SIZE_TEST)
        self.flip_mode = cfg.INPUT.RANDOM_FLIP
        self.crop_enabled = bool(cfg.INPUT.CROP.ENABLED)
        self.crop_type = cfg.INPUT.CROP.TYPE
        self.crop_size = tuple(int(s) for s in cfg.INPUT.CROP.SIZE)
        self.audio_front_end = audio_front_end(cfg.MODEL.AUDIO.NAME)
        for key, value, allowed in (
            ("INPUT.MIN_SIZE_TRAIN_SAMPLING", self.size_sampling, _SIZE_SAMPLING),
            ("INPUT.RANDOM_FLIP", self.flip_mode, _FLIP_MODES),
            ("INPUT.CROP.TYPE", self.crop_type, _CROP_TYPES),
        ):
            if value not in allowed:
                raise ValueError(f"Config {key} = '{value}' is not supported; expected one of {allowed}")
        if not self.min_size_train:
            raise ValueError("Config INPUT.MIN_SIZE_TRAIN must list at least one size")
        # Palette label k (1..70) -> 1-based vocabulary index (0 when the name is not in it).
        self._palette_to_vocabulary = np.zeros(256, dtype=np.int64)
        self._palette_to_vocabulary[IGNORE_LABEL] = IGNORE_LABEL
        for palette_index, name in enumerate(CATEGORIES, start=1):
            if name in self.vocabulary:
                self._palette_to_vocabulary[palette_index] = self.vocabulary.index(name) + 1

    # ------------------------------------------------------------------------------------------
    def __call__(
        self,
        record: dict,
        frame_indices: Sequence[int],
        rng: np.random.Generator | None = None,
        audio: torch.Tensor | None = None,
    ) -> dict:
        """Build the clip dict of ``record``'s frames ``frame_indices``.

        Args:
            rng: source of augmentation randomness (training); ``None`` is allowed in testing.
            audio: ``[T, 1, 96, 64]`` log-mel to use instead of the record's own (audio
                ablations); ``None`` loads the record's audio.
        """
        frame_indices = [int(t) for t in frame_indices]
        if self.is_train and rng is None:
            raise ValueError("ClipMapper in training mode needs a random generator")
        frames_np = self._read_frames(record, frame_indices)
        height, width = frames_np.shape[1:3]
        labels_np = self._read_labels(record, frame_indices, (height, width))
        frame_valid = torch.tensor([record["mask_paths"][t] is not None for t in frame_indices], dtype=torch.bool)
        if audio is None:
            # Short audio is completed as each release does: S4/MS3 repeat the last example.
            padding = "repeat_last" if record["subset"] in BINARY_SUBSETS else "zero_examples"
            # AVSBench frames are one per second: frame t is at t s.
            audio = audio_examples_for_frames(record["audio_path"], frame_indices, padding, self.audio_front_end)
        if audio.shape[0] != len(frame_indices):
            raise ValueError(
                f"Clip {record['uid']}: audio has {audio.shape[0]} examples for {len(frame_indices)} frames"
            )

        frames = torch.from_numpy(frames_np).permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(labels_np)
        clip = {
            "uid": record["uid"],
            "dataset_name": record["dataset_name"],
            "frame_indices": frame_indices,
            "height": int(height),
            "width": int(width),
            "audio": audio.to(torch.float32),
            "vocabulary": list(self.vocabulary),
            "frame_valid": frame_valid,
            "sounding_categories": list(record["category_names"]),
        }
        if self.is_train:
            frames, labels = self._augment(frames, labels, rng)
            clip["frames"] = frames
            clip["targets"] = self._targets(labels)
        else:
            size = resized_shape(height, width, self.min_size_test, self.max_size_test)
            clip["frames"] = _resize_frames(frames, size)
            clip["sem_seg_gt"] = labels
        return clip

    # ------------------------------------------------------------------------------------------
    def _read_frames(self, record: dict, frame_indices: Sequence[int]) -> np.ndarray:
        frames = [read_frame(record["frame_paths"][t]) for t in frame_indices]
        first_shape = frames[0].shape
        for t, frame in zip(frame_indices, frames):
            if frame.shape != first_shape:
                raise ValueError(
                    f"Frame {record['frame_paths'][t]} is {frame.shape[1]}x{frame.shape[0]}, but "
                    f"{record['frame_paths'][frame_indices[0]]} is {first_shape[1]}x{first_shape[0]}; "
                    f"the frames of a clip must share one size"
                )
        return np.stack(frames)

    def _read_labels(self, record: dict, frame_indices: Sequence[int], size: tuple[int, int]) -> np.ndarray:
        """Label maps ``[T, H, W]`` in vocabulary space; 255 on frames without ground truth."""
        binary = record["subset"] in BINARY_SUBSETS
        lookup = self._palette_to_vocabulary
        if self.is_train and not binary:
            # Label noise: pixels of categories that are not sounding in this clip are background.
            lookup = lookup.copy()
            sounding = set(record["category_names"])
            for palette_index, name in enumerate(CATEGORIES, start=1):
                if name not in sounding:
                    lookup[palette_index] = 0
        labels = np.full((len(frame_indices), *size), IGNORE_LABEL, dtype=np.int64)
        for slot, t in enumerate(frame_indices):
            path = record["mask_paths"][t]
            if path is None:
                continue
            mask = read_binary_mask(path) if binary else read_palette_mask(path, len(CATEGORIES) + 1)
            if mask.shape != tuple(size):
                raise ValueError(
                    f"Mask {path} is {mask.shape[1]}x{mask.shape[0]} but its frame "
                    f"{record['frame_paths'][t]} is {size[1]}x{size[0]}"
                )
            labels[slot] = mask if binary else lookup[mask]
        return labels

    def _augment(
        self, frames: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip-consistent resize, flip and crop of frames ``[T, 3, H, W]`` and labels ``[T, H, W]``."""
        num_frames, _, height, width = frames.shape
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
            out_frames[selected, :, :h, :w] = _resize_frames(frames[selected], (h, w))
            out_labels[selected, :h, :w] = _resize_labels(labels[selected], (h, w))
        out_labels[~self._valid_rows(labels)] = IGNORE_LABEL

        if self.flip_mode != "none":
            if self.flip_mode == "flip_by_clip":
                flips = torch.full((num_frames,), bool(rng.random() < 0.5))
            else:
                flips = torch.from_numpy(rng.random(num_frames) < 0.5)
            out_frames = torch.where(flips[:, None, None, None], out_frames.flip(-1), out_frames)
            out_labels = torch.where(flips[:, None, None], out_labels.flip(-1), out_labels)

        if self.crop_enabled:
            crop_h, crop_w = self._crop_shape(out_height, out_width, rng)
            top = int(rng.integers(0, out_height - crop_h + 1))
            left = int(rng.integers(0, out_width - crop_w + 1))
            out_frames = out_frames[:, :, top : top + crop_h, left : left + crop_w].contiguous()
            out_labels = out_labels[:, top : top + crop_h, left : left + crop_w].contiguous()
        return out_frames, out_labels

    @staticmethod
    def _valid_rows(labels: torch.Tensor) -> torch.Tensor:
        """bool ``[T]``: frames that carry ground truth (not entirely 255)."""
        return (labels != IGNORE_LABEL).flatten(1).any(dim=1)

    def _crop_shape(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int]:
        if self.crop_type == "absolute":
            crop_h, crop_w = self.crop_size
        else:
            low, high = self.crop_size
            crop_h = int(rng.integers(min(height, low), min(height, high) + 1))
            crop_w = int(rng.integers(min(width, low), min(width, high) + 1))
        return min(crop_h, height), min(crop_w, width)

    def _targets(self, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """One binary mask track per category present: ``labels`` ``[N]`` (0-based vocabulary
        index) and ``masks`` ``[N, T, H, W]`` (all False on frames without ground truth)."""
        present = torch.unique(labels)
        present = present[(present > 0) & (present != IGNORE_LABEL)]
        masks = labels[None] == present[:, None, None, None]
        return {"labels": present - 1, "masks": masks}
