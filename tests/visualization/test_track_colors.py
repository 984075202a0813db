"""Track colours: one fixed, distinct colour per track id, and the palette built from them."""
from __future__ import annotations

import numpy as np
import pytest

from ov_avss.visualization import MAX_TRACK_ID, track_color, track_palette


def test_each_id_has_one_colour_for_every_call_and_the_palette_holds_it():
    palette = track_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert (palette[0] == 0).all()  # background
    for track_id in (1, 2, 7, MAX_TRACK_ID):
        assert np.array_equal(track_color(track_id), track_color(track_id))
        assert np.array_equal(palette[track_id], track_color(track_id))
    assert np.array_equal(track_palette(), palette)


def test_colours_are_distinct_and_neighbouring_ids_far_apart():
    colors = track_palette()[1:].astype(np.float64)
    assert len({tuple(c) for c in colors}) == MAX_TRACK_ID
    assert colors.max(axis=1).min() > 150, "a track colour is too dark to tell from the background"
    assert np.linalg.norm(colors[1:] - colors[:-1], axis=1).min() > 100
    first = colors[:10]
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 40


@pytest.mark.parametrize("track_id", [0, -1, MAX_TRACK_ID + 1])
def test_ids_outside_the_png_range_are_refused(track_id):
    with pytest.raises(ValueError, match="Track ids run from 1 to 255"):
        track_color(track_id)
