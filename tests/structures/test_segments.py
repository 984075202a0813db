"""output_segments: the one prediction structure of every model is checked, and a wrong one is
refused naming the window and what was expected."""
from __future__ import annotations

import pytest
import torch

from ov_avss.structures import output_segments


def _segments(num: int = 2, **overrides) -> dict:
    segments = {
        "scores": torch.rand(num),
        "labels": torch.arange(num),
        "masks": torch.zeros((num, 3, 4, 5), dtype=torch.bool),
    }
    segments.update(overrides)
    return segments


def test_well_formed_segments_are_returned_as_they_are():
    segments = _segments()
    assert output_segments({"segments": segments, "sem_seg": torch.zeros(3, 4, 5)}, "Window c") is segments
    assert output_segments({"segments": _segments(0)}, "Window c")["masks"].shape == (0, 3, 4, 5)


def test_missing_segments_or_keys_are_named():
    with pytest.raises(KeyError, match=r"Window c: the model output has no 'segments' \(keys \['pred_masks'\]\)"):
        output_segments({"pred_masks": torch.zeros(1)}, "Window c")
    segments = _segments()
    del segments["labels"]
    with pytest.raises(KeyError, match=r"Window c: .* lack \['labels'\]"):
        output_segments({"segments": segments}, "Window c")


@pytest.mark.parametrize(
    "overrides",
    [
        {"scores": torch.rand(3)},  # K differs
        {"labels": torch.arange(2, dtype=torch.int32)},
        {"masks": torch.zeros((2, 3, 4, 5), dtype=torch.uint8)},
        {"masks": torch.zeros((2, 4, 5), dtype=torch.bool)},  # no frame axis
        {"scores": torch.arange(2)},  # integer scores
    ],
)
def test_inconsistent_segments_are_refused(overrides):
    with pytest.raises(ValueError, match=r"Video 7: 'segments' must hold scores float \[K\]"):
        output_segments({"segments": _segments(**overrides)}, "Video 7")
