"""Fixtures for the meta-architecture tests: fabricated windows in the model-input format
(coloured squares moving over a grey frame) and the tiny model."""
from __future__ import annotations

import pytest
import torch

from helpers import TINY_OV_AVSS_CONFIG, load_config
from ov_avss.structures import VideoInput, make_video_input

COLOURS = ((230, 40, 40), (40, 200, 60), (50, 80, 230))


def _make_window(
    num_objects: int = 2,
    num_frames: int = 3,
    height: int = 64,
    width: int = 64,
    vocabulary: tuple[str, ...] = ("dog", "car", "piano"),
    seed: int = 0,
    frame_valid: tuple[bool, ...] | None = None,
    with_targets: bool = True,
) -> VideoInput:
    """One video input (``make_video_input``): object ``i`` is a square of colour ``i`` moving
    diagonally; its label is ``i % len(vocabulary)``; the audio is random noise with a
    per-object tone pattern."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.full((num_frames, 3, height, width), 110, dtype=torch.uint8)
    masks = torch.zeros(num_objects, num_frames, height, width, dtype=torch.bool)
    side = height // 4
    for obj in range(num_objects):
        start_y = int(torch.randint(0, height - side - num_frames * 2, (1,), generator=generator))
        start_x = int(torch.randint(0, width - side - num_frames * 2, (1,), generator=generator))
        for t in range(num_frames):
            y, x = start_y + 2 * t, start_x + 2 * t
            masks[obj, t, y:y + side, x:x + side] = True
        colour = torch.tensor(COLOURS[obj % len(COLOURS)], dtype=torch.uint8)[:, None, None, None]
        frames = torch.where(masks[obj][:, None], colour.permute(1, 0, 2, 3), frames)
    audio = torch.randn(num_frames, 1, 96, 64, generator=generator)
    targets = {"labels": torch.arange(num_objects, dtype=torch.int64) % len(vocabulary), "masks": masks}
    return make_video_input(
        uid=f"synthetic_{seed}",
        dataset_name="synthetic",
        frame_indices=range(num_frames),
        height=height,
        width=width,
        frames=frames,
        audio=audio,
        vocabulary=vocabulary,
        frame_valid=torch.tensor(frame_valid) if frame_valid is not None else None,
        sounding_categories=[vocabulary[i % len(vocabulary)] for i in range(num_objects)],
        **({"targets": targets} if with_targets else {}),
    )


@pytest.fixture(scope="session")
def make_window():
    """Factory of synthetic video inputs (see ``_make_window``)."""
    return _make_window


def load_tiny_cfg():
    """A fresh copy of the tiny test config."""
    return load_config(TINY_OV_AVSS_CONFIG)


@pytest.fixture
def tiny_cfg():
    return load_tiny_cfg()
