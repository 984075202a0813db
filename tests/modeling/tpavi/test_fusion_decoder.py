"""The fusion blocks reproduce the release's in-place ReLU: compared with a re-computation written
from the release's ``ResidualConvUnit`` / ``FeatureFusionBlock`` (ReLU in place on the input)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ov_avss.modeling.tpavi import FeatureFusionBlock, SegmentationHead

TOLERANCE = 1e-5


class ReleaseResidualConvUnit(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv2(self.relu(self.conv1(self.relu(x))))
        return out + x  # x was rectified in place by the first ReLU


class ReleaseFusionBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.resConfUnit1 = ReleaseResidualConvUnit(channels)
        self.resConfUnit2 = ReleaseResidualConvUnit(channels)

    def forward(self, *xs):
        output = xs[0]
        if len(xs) == 2:
            output += self.resConfUnit1(xs[1])
        output = self.resConfUnit2(output)
        return F.interpolate(output, scale_factor=2, mode="bilinear", align_corners=True)


def _copy(ours: FeatureFusionBlock, release: ReleaseFusionBlock) -> None:
    if ours.skip_unit is not None:
        release.resConfUnit1.load_state_dict(ours.skip_unit.state_dict())
    release.resConfUnit2.load_state_dict(ours.output_unit.state_dict())


def test_block_with_skip_matches_the_release_and_rectifies_the_stage_map():
    torch.manual_seed(0)
    ours, release = FeatureFusionBlock(8, has_skip=True), ReleaseFusionBlock(8)
    _copy(ours, release)
    main, skip = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
    out, stage_map = ours(main, skip)
    release_main, release_skip = main.clone(), skip.clone()
    expected = release(release_main, release_skip)
    assert out.shape == (2, 8, 10, 12)
    assert (out - expected).abs().max() < TOLERANCE
    # The release leaves its caller's stage map ReLU'd: the AVM loss sees that.
    assert (stage_map - release_skip).abs().max() < TOLERANCE and stage_map.min() >= 0


def test_deepest_block_matches_the_release_and_has_no_skip_unit():
    torch.manual_seed(1)
    ours, release = FeatureFusionBlock(8, has_skip=False), ReleaseFusionBlock(8)
    _copy(ours, release)
    main = torch.randn(2, 8, 4, 4)
    out, stage_map = ours(main)
    release_main = main.clone()
    assert (out - release(release_main)).abs().max() < TOLERANCE
    assert (stage_map - release_main).abs().max() < TOLERANCE
    assert ours.skip_unit is None


def test_head_shapes():
    head = SegmentationHead(16, 71)
    assert head(torch.randn(2, 16, 7, 7)).shape == (2, 71, 14, 14)
