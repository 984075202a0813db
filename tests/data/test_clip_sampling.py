"""Samples of a record: a clip's windows, and a video's training clip (consecutive frames at a
random start, the last frame repeated)."""
from __future__ import annotations

import numpy as np
import pytest

from ov_avss.data.clip_sampling import clip_windows, sample_clip


def test_sample_clip():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        clip = sample_clip(12, 5, rng)
        assert len(clip) == 5 and clip == list(range(clip[0], clip[0] + 5)) and clip[-1] <= 11
        starts.add(clip[0])
    assert starts == set(range(8))
    assert sample_clip(3, 5, rng) == [0, 1, 2, 2, 2]
    with pytest.raises(ValueError):
        sample_clip(0, 5, rng)


def test_clip_windows():
    assert clip_windows(10, 5, "windows") == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert clip_windows(5, 5, "windows") == [[0, 1, 2, 3, 4]]
    assert clip_windows(10, 5, "full") == [list(range(10))]
    assert clip_windows(7, 5, "windows") == [[0, 1, 2, 3, 4], [5, 6]]
    with pytest.raises(ValueError, match="INPUT.LONG_CLIP_MODE = 'all'"):
        clip_windows(10, 5, "all")
