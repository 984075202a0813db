"""Random crops of the training mappers: detectron2's crop types, their order of random draws,
clamping to the image, and named config errors."""
from __future__ import annotations

import numpy as np
import pytest

from ov_avss.config import get_cfg
from ov_avss.data.transforms import crop_config, random_crop_box


@pytest.mark.parametrize("seed", range(5))
def test_absolute_range_draws_height_width_top_left_in_that_order(seed):
    box = random_crop_box(300, 500, "absolute_range", (100, 400), np.random.default_rng(seed))
    draws = np.random.default_rng(seed)
    height = int(draws.integers(100, 300 + 1))  # the range clamped to the image's 300 rows
    width = int(draws.integers(100, 400 + 1))
    top = int(draws.integers(0, 300 - height + 1))
    left = int(draws.integers(0, 500 - width + 1))
    assert box == (top, left, height, width)


def test_absolute_draws_only_the_position_and_crops_are_clamped():
    draws = np.random.default_rng(7)
    top, left = int(draws.integers(0, 21)), int(draws.integers(0, 31))
    assert random_crop_box(60, 80, "absolute", (40, 50), np.random.default_rng(7)) == (top, left, 40, 50)
    # Larger than the image: the whole image.
    assert random_crop_box(30, 40, "absolute", (64, 64), np.random.default_rng(0)) == (0, 0, 30, 40)
    assert random_crop_box(30, 40, "absolute_range", (384, 600), np.random.default_rng(0)) == (0, 0, 30, 40)


def test_boxes_stay_inside_the_image():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = random_crop_box(90, 120, "absolute_range", (50, 100), rng)
        assert 50 <= h <= 90 and 50 <= w <= 100
        assert 0 <= top <= 90 - h and 0 <= left <= 120 - w


@pytest.mark.parametrize(
    ("crop_type", "size", "key"),
    [("relative_range", (0.5, 0.5), "INPUT.CROP.TYPE"), ("absolute_range", (600, 384), "INPUT.CROP.SIZE"),
     ("absolute", (0, 10), "INPUT.CROP.SIZE"), ("absolute", (10,), "INPUT.CROP.SIZE")],
)
def test_bad_crop_config_is_named(crop_type, size, key):
    cfg = get_cfg()
    cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE = crop_type, size
    with pytest.raises(ValueError, match=key):
        crop_config(cfg)
    cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE = "absolute_range", (384, 600)
    assert crop_config(cfg) == (False, "absolute_range", (384, 600))
