"""FramePreprocessing: the padded size of a batch, normalisation, zero padding after it (the mean
colour), windows concatenated in order; pad_to aligns target masks with the padded frames."""
from __future__ import annotations

import torch

from ov_avss.modeling.meta_arch.preprocess import FramePreprocessing, pad_to

MEAN, STD = [100.0, 110.0, 120.0], [50.0, 60.0, 70.0]


def test_padded_size_is_the_next_multiple_holding_every_window():
    preprocessing = FramePreprocessing(pixel_mean=MEAN, pixel_std=STD, size_divisibility=32)
    assert preprocessing.padded_size([(50, 70), (64, 33)]) == (64, 96)
    assert preprocessing.padded_size([(64, 96)]) == (64, 96)
    unpadded = FramePreprocessing(pixel_mean=MEAN, pixel_std=STD, size_divisibility=0)
    assert unpadded.padded_size([(50, 70), (64, 33)]) == (64, 70)


def test_frames_are_normalised_then_zero_padded_and_concatenated_in_order():
    preprocessing = FramePreprocessing(pixel_mean=MEAN, pixel_std=STD, size_divisibility=32)
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, 256, (2, 3, 50, 70), dtype=torch.uint8, generator=generator)
    second = torch.randint(0, 256, (1, 3, 64, 33), dtype=torch.uint8, generator=generator)
    images = preprocessing.preprocess_frames([first, second])
    assert images.shape == (3, 3, 64, 96) and images.dtype == torch.float32
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(images[:2, :, :50, :70], (first.float() - mean) / std)
    torch.testing.assert_close(images[2:, :, :, :33], (second.float() - mean) / std)
    assert not images[:2, :, 50:].any() and not images[:2, :, :, 70:].any()
    assert not images[2:, :, :, 33:].any()
    # A given padded size is used as is (AVISM pads a training batch to one size).
    assert preprocessing.preprocess_frames([first], (96, 128)).shape == (2, 3, 96, 128)


def test_pad_to_pads_masks_at_the_bottom_and_right():
    masks = torch.ones(2, 3, 50, 70, dtype=torch.bool)
    padded = pad_to(masks, (64, 96))
    assert padded.shape == (2, 3, 64, 96) and padded.dtype == torch.bool
    assert padded[..., :50, :70].all() and int(padded.sum()) == masks.numel()
