"""TPAVI's decoder: four feature-fusion blocks (RefineNet / DPT style) and the segmentation head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FeatureFusionBlock", "ResidualConvUnit", "SegmentationHead"]


class ResidualConvUnit(nn.Module):
    """``relu(x) + conv2(relu(conv1(relu(x))))`` (two 3x3 convolutions with bias).

    Release quirk, reproduced: its ReLU is in-place on the input, so the residual adds relu(x),
    not x. The caller passes ``relu(x)`` (``forward_on_rectified``) and keeps it, as the release's
    caller is left holding relu(x).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward_on_rectified(self, rectified: torch.Tensor) -> torch.Tensor:
        """``rectified = relu(x)`` ``[N, C, h, w]`` -> the unit's output ``[N, C, h, w]``."""
        return rectified + self.conv2(F.relu(self.conv1(rectified)))


class FeatureFusionBlock(nn.Module):
    """``out = upsample_x2(RCU_out(a [+ RCU_skip(b)]))``, bilinear with ``align_corners=True``.

    The deepest block has no skip input and builds no ``skip_unit`` (the release registers one,
    ``path4.resConfUnit1``, and never calls it).
    """

    def __init__(self, channels: int, has_skip: bool) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(channels) if has_skip else None
        self.output_unit = ResidualConvUnit(channels)

    def forward(self, main: torch.Tensor, skip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            main: ``[N, C, h, w]``: the stage map (deepest block) or the previous block's output.
            skip: ``[N, C, h, w]``: the stage map (other blocks).

        Returns:
            ``[N, C, 2h, 2w]``, and the stage map as the release leaves it: ReLU'd in place by the
            residual unit it entered (``skip`` if given, else ``main``).
        """
        if (skip is None) != (self.skip_unit is None):
            raise ValueError("FeatureFusionBlock: a skip input goes with a skip unit, and only then")
        if skip is not None:
            stage_map = F.relu(skip)
            out = main + self.skip_unit.forward_on_rectified(stage_map)
            out = self.output_unit.forward_on_rectified(F.relu(out))
        else:
            stage_map = F.relu(main)
            out = self.output_unit.forward_on_rectified(stage_map)
        return F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=True), stage_map


class SegmentationHead(nn.Sequential):
    """``[N, C, h, w]`` -> ``[N, num_classes, 2h, 2w]`` logits: conv3x3 C -> C/2, bilinear x2
    (``align_corners=False``), conv3x3 C/2 -> 32, ReLU, conv1x1 32 -> num_classes (indices 0-4,
    the release's ``output_conv``)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
            nn.Conv2d(channels // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, num_classes, kernel_size=1),
        )
