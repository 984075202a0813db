"""The per-stage channel reducer of TPAVI: four parallel dilated 3x3 convolutions, summed."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["DilatedReducer"]

# Dilation (= padding) of the four branches (DeepLab-v2's ASPP rates, as the AVSBench release).
DILATIONS = (3, 6, 12, 18)


class DilatedReducer(nn.Module):
    """``[N, in_channels, h, w]`` -> ``[N, out_channels, h, w]``: the sum of four 3x3 convolutions
    with bias and dilation 3 / 6 / 12 / 18 (no norm, no activation). Weights start from
    N(0, 0.01), biases at PyTorch's default, as the release's ``Classifier_Module``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=dilation, dilation=dilation)
            for dilation in DILATIONS
        )
        for branch in self.branches:
            nn.init.normal_(branch.weight, mean=0.0, std=0.01)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](features)
        for branch in self.branches[1:]:
            out = out + branch(features)
        return out
