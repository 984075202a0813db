"""A small synthetic dataset in the exact AVISeg layout (audio-visual instance segmentation).

Each video (8-12 frames at "1 fps", one second of audio per frame) shows 1-3 instances that
move across a textured background; each appears late with probability 1/4 and leaves early with
probability 1/4 (so about 44 % do one or both); each
instance sounds over one contiguous span of its visible seconds (the whole of it for about two
in three), and about one video in two also shows a silent distractor (an instance of another
category that never sounds). As in AVISeg, a track is annotated only where
its instance is visible and sounding (null elsewhere), so a model must use the audio to tell
which visible objects to segment. Categories look and sound as in ``ov_avss.data.synthetic``
(shape, colour, texture; a tone or a narrow noise band), here for AVISeg names.

Everything is drawn from one ``numpy`` generator seeded by ``seed``: the same arguments give
byte-identical files.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..utils.file_io import atomic_open
from ..structures.rle import encode_mask
from .datasets.aviseg import AVISEG_CATEGORIES, AVISEG_DIR
# The AVSBench generator's drawing and sound primitives, shared so both datasets look alike.
from .synthetic import (
    SAMPLE_RATE, _rgb_jpg, _shape_mask, _sound, _step_bouncing, _texture_factor, category_styles, wav_bytes,
)

DEFAULT_CATEGORIES = ("person", "violin", "guitar", "dog", "car", "piano")
DEFAULT_SIZE = (96, 128)
DEFAULT_FRAMES = (8, 12)
_FADE = int(0.01 * SAMPLE_RATE)


@dataclass
class _Instance:
    category: str
    center: np.ndarray
    velocity: np.ndarray
    radius: float
    visible: np.ndarray   # [T] bool
    sounding: np.ndarray  # [T] bool, a subset of visible


@dataclass(frozen=True)
class SyntheticVideo:
    frames: np.ndarray               # [T, H, W, 3] uint8 RGB
    waveform: np.ndarray             # [T * 16000] float32
    tracks: list[tuple[str, list]]   # (category, [H, W] bool mask or None per frame), sounding only


def _lifetime(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    visible = np.ones(num_frames, dtype=bool)
    if num_frames < 4:  # too short to leave room for entering and leaving
        return visible
    if rng.random() < 0.25:  # appears late
        visible[: rng.integers(1, num_frames // 2)] = False
    if rng.random() < 0.25:  # disappears early
        visible[rng.integers(num_frames // 2 + 1, num_frames):] = False
    return visible


def _sounding(rng: np.random.Generator, visible: np.ndarray) -> np.ndarray:
    """The seconds a source sounds: one contiguous span of its visible seconds.

    Sources play phrases, not random seconds: most sound over their whole visible span, about
    a third start late or stop early within it (at least half of it).
    """
    shown = np.flatnonzero(visible)
    sounding = np.zeros_like(visible)
    first, last = int(shown[0]), int(shown[-1]) + 1
    if rng.random() < 0.3 and last - first >= 3:
        length = int(rng.integers(max(1, (last - first) // 2), last - first))
        first = int(rng.integers(first, last - length + 1))
        last = first + length
    sounding[first:last] = True
    return sounding & visible  # the visible seconds form one span, so this only states the contract


def render_video(
    rng: np.random.Generator, categories: Sequence[str], num_frames: int, size: tuple[int, int]
) -> SyntheticVideo:
    """Render one video of 1-3 sounding instances and, sometimes, one silent distractor."""
    height, width = size
    styles = category_styles(list(categories))
    num_sources = int(rng.integers(1, 4))
    chosen = [str(c) for c in rng.choice(categories, size=num_sources, replace=True)]
    instances = []
    for index, category in enumerate(chosen + (["distractor"] if rng.random() < 0.5 else [])):
        if category == "distractor":
            others = [c for c in categories if c not in chosen] or list(categories)
            category = str(rng.choice(others))
        radius = float(rng.uniform(0.1, 0.17) * min(height, width))
        center = np.array([rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)])
        angle = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(0.03, 0.08) * min(height, width) * np.array([np.sin(angle), np.cos(angle)])
        visible = _lifetime(rng, num_frames)
        sounding = _sounding(rng, visible) if index < num_sources else np.zeros(num_frames, bool)
        instances.append(_Instance(category, center, velocity, radius, visible, sounding))

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    base = rng.uniform(40, 110, size=3)
    gradient = (ys / height)[..., None] * rng.uniform(-30, 30, 3) + (xs / width)[..., None] * rng.uniform(-30, 30, 3)
    period = max(3, min(height, width) // 24)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    owner = np.full((num_frames, height, width), -1, dtype=np.int64)  # which instance each pixel shows
    for t in range(num_frames):
        image = base + gradient + rng.normal(0, 6, size=(height, width, 3))
        for k, inst in enumerate(instances):
            if inst.visible[t]:
                style = styles[inst.category]
                dy, dx = ys - inst.center[0], xs - inst.center[1]
                inside = _shape_mask(style.shape, dy, dx, inst.radius)
                texture = _texture_factor(style.texture, np.floor(dy).astype(np.int64), np.floor(dx).astype(np.int64), period)
                image[inside] = (np.asarray(style.color, dtype=np.float64) * texture[..., None])[inside]
                owner[t][inside] = k  # later instances occlude earlier ones
            _step_bouncing(inst, height, width)
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)

    waveform = rng.normal(0, 0.003, size=num_frames * SAMPLE_RATE)
    envelope = np.ones(SAMPLE_RATE)
    envelope[:_FADE] = np.linspace(0, 1, _FADE)
    envelope[-_FADE:] = np.linspace(1, 0, _FADE)
    tracks = []
    for k, inst in enumerate(instances):
        if not inst.sounding.any():
            continue
        masks = [owner[t] == k if inst.sounding[t] else None for t in range(num_frames)]
        masks = [m if m is not None and m.any() else None for m in masks]  # fully occluded: not annotated
        if all(m is None for m in masks):
            continue
        sound = _sound(styles[inst.category], num_frames * SAMPLE_RATE, rng).reshape(num_frames, SAMPLE_RATE)
        waveform += 0.25 * (sound * inst.sounding[:, None] * envelope[None, :]).reshape(-1)
        tracks.append((inst.category, masks))
    return SyntheticVideo(frames=frames, waveform=np.clip(waveform, -1, 1).astype(np.float32), tracks=tracks)


def _write(path: str, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def make_synthetic_aviseg(
    out_root: str,
    *,
    seed: int = 0,
    num_videos: dict[str, int] | None = None,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    size: tuple[int, int] = DEFAULT_SIZE,
    frames: tuple[int, int] = DEFAULT_FRAMES,
) -> str:
    """Write ``<out_root>/AVISeg`` (train/val/test JSON, JPEGImages, WAVAudios); returns its path.

    ``categories`` must be AVISeg names; each JSON lists those categories with their AVISeg ids.
    """
    unknown = [c for c in categories if c not in AVISEG_CATEGORIES]
    if unknown or not categories:
        raise ValueError(f"categories must be AVISeg names (ov_avss.data.datasets.aviseg), got unknown {unknown}")
    if not (2 <= frames[0] <= frames[1]):
        raise ValueError(f"frames must be (min, max) with 2 <= min <= max, got {frames}")
    num_videos = num_videos or {"train": 24, "val": 4, "test": 6}
    rng = np.random.default_rng(seed)
    root = os.path.join(out_root, AVISEG_DIR)
    cat_ids = {name: AVISEG_CATEGORIES.index(name) + 1 for name in categories}
    video_id = ann_id = 0
    for split in ("train", "val", "test"):
        videos, annotations = [], []
        for _ in range(num_videos.get(split, 0)):
            video_id += 1
            name = f"{split}_{video_id:04d}"
            length = int(rng.integers(frames[0], frames[1] + 1))
            video = render_video(rng, list(categories), length, size)
            file_names = [f"{name}/{t:05d}.jpg" for t in range(length)]
            for file_name, frame in zip(file_names, video.frames):
                _write(os.path.join(root, split, "JPEGImages", file_name), _rgb_jpg(frame))
            _write(os.path.join(root, split, "WAVAudios", f"{name}.wav"), wav_bytes(video.waveform))
            videos.append({"id": video_id, "file_names": file_names, "height": size[0], "width": size[1],
                           "length": length})
            for category, masks in video.tracks:
                ann_id += 1
                rles = [None if m is None else encode_mask(m) for m in masks]
                annotations.append({
                    "id": ann_id, "video_id": video_id, "category_id": cat_ids[category], "iscrowd": 0,
                    "height": size[0], "width": size[1], "segmentations": rles,
                    "areas": [None if m is None else int(m.sum()) for m in masks],
                })
        data = {"videos": videos, "annotations": annotations,
                "categories": [{"id": i, "name": n} for n, i in sorted(cat_ids.items(), key=lambda x: x[1])]}
        _write(os.path.join(root, f"{split}.json"), json.dumps(data).encode("utf-8"))
    return root
