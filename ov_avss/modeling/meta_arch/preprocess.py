"""Frames -> the backbone's input batch: the one preprocessing step of the meta-architectures."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def pad_to(tensor: torch.Tensor, padded_size: tuple[int, int]) -> torch.Tensor:
    """Zero-pad ``[..., H, W]`` at the bottom and right to ``[..., Hp, Wp]`` = ``padded_size``,
    as the frames are padded (target masks use it to stay aligned with their frames)."""
    height, width = tensor.shape[-2:]
    return F.pad(tensor, (0, padded_size[1] - width, 0, padded_size[0] - height))


class FramePreprocessing(nn.Module):
    """Base class of the meta-architectures: RGB normalisation and padding of the input frames.

    ``pixel_mean`` / ``pixel_std`` (buffers ``[1, 3, 1, 1]``, 0-255 scale) come from the config
    and are not saved in checkpoints; ``device`` is theirs, i.e. the model's.
    """

    def __init__(self, *, pixel_mean: Sequence[float], pixel_std: Sequence[float], size_divisibility: int) -> None:
        """
        Args:
            pixel_mean, pixel_std: RGB normalisation (0-255 scale).
            size_divisibility: padded sizes are multiples of this (values below 1 mean 1); the
                meta-architecture passes the larger of its config value and its backbone's.
        """
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), persistent=False)
        self.size_divisibility = max(size_divisibility, 1)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def padded_size(self, sizes: Iterable[tuple[int, int]]) -> tuple[int, int]:
        """The smallest ``(Hp, Wp)``, multiples of ``size_divisibility``, that hold every ``(H, W)``."""
        sizes = list(sizes)
        divisor = self.size_divisibility
        max_h = max(h for h, _ in sizes)
        max_w = max(w for _, w in sizes)
        return math.ceil(max_h / divisor) * divisor, math.ceil(max_w / divisor) * divisor

    def preprocess_frames(
        self, frames_per_window: Sequence[torch.Tensor], padded_size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Normalise every window's frames and zero-pad them (after normalisation, i.e. with the mean
        colour) to one size; the windows' frames are concatenated in order.

        Args:
            frames_per_window: per window, uint8 ``[T_i, 3, H_i, W_i]`` RGB (any device).
            padded_size: ``(Hp, Wp)``; default ``padded_size`` of the windows' sizes.

        Returns:
            float32 ``[sum T_i, 3, Hp, Wp]`` on the model's device.
        """
        if padded_size is None:
            padded_size = self.padded_size(tuple(int(s) for s in frames.shape[-2:]) for frames in frames_per_window)
        return torch.cat(
            [
                pad_to((frames.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std, padded_size)
                for frames in frames_per_window
            ]
        )
