"""Samples of a record: a video's windows, and a video's training window (consecutive frames at a
random start, the last frame repeated)."""
from __future__ import annotations

import numpy as np
import pytest

from ov_avss.data.window_sampling import video_windows, sample_window


def test_sample_window():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        window = sample_window(12, 5, rng)
        assert len(window) == 5 and window == list(range(window[0], window[0] + 5)) and window[-1] <= 11
        starts.add(window[0])
    assert starts == set(range(8))
    assert sample_window(3, 5, rng) == [0, 1, 2, 2, 2]
    with pytest.raises(ValueError):
        sample_window(0, 5, rng)


def test_video_windows():
    assert video_windows(10, 5, "windows") == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert video_windows(5, 5, "windows") == [[0, 1, 2, 3, 4]]
    assert video_windows(10, 5, "full") == [list(range(10))]
    assert video_windows(7, 5, "windows") == [[0, 1, 2, 3, 4], [5, 6]]
    with pytest.raises(ValueError, match="INPUT.LONG_CLIP_MODE = 'all'"):
        video_windows(10, 5, "all")
