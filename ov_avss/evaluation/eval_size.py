"""Resizing label maps to the 224x224 grid at which the semantic protocols score, as the
releases do: predictions with torch ``nearest``, ground truth with PIL ``NEAREST`` (it picks
other source pixels than torch's ``nearest`` on sizes that are not multiples of 224)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

EVAL_SIZE = (224, 224)
# Ground truth is resized as uint8 images (PIL), so labels above this would wrap around.
MAX_LABEL_VALUE = 255


def resize_prediction_to_eval(label_maps: torch.Tensor) -> torch.Tensor:
    """Predicted label maps int ``[T, H, W]`` -> int64 ``[T, 224, 224]`` (torch ``nearest``, as
    the releases upsample their predictions)."""
    if tuple(label_maps.shape[-2:]) == EVAL_SIZE:
        return label_maps.long()
    return F.interpolate(label_maps[:, None].float(), size=EVAL_SIZE, mode="nearest")[:, 0].long()


def check_ground_truth_range(label_maps: torch.Tensor) -> None:
    """Raises ValueError if a ground-truth label lies outside [0, 255] (the PIL resize works on
    uint8, where 256 would wrap around to 0 = background)."""
    if label_maps.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(label_maps))
    if low < 0 or high > MAX_LABEL_VALUE:
        raise ValueError(f"ground-truth labels must lie in [0, {MAX_LABEL_VALUE}], got [{low}, {high}]")


def resize_ground_truth_to_eval(label_maps: torch.Tensor) -> torch.Tensor:
    """Ground-truth label maps int ``[T, H, W]`` (0..255, else ValueError) -> int64 ``[T, 224, 224]``
    with PIL's
    ``NEAREST``, as the releases resize ground truth (it picks other source pixels than torch's
    ``nearest`` on sizes that are not multiples of 224)."""
    if tuple(label_maps.shape[-2:]) == EVAL_SIZE:
        return label_maps.long()
    check_ground_truth_range(label_maps)
    frames = label_maps.detach().cpu().numpy().astype(np.uint8)
    width_height = (EVAL_SIZE[1], EVAL_SIZE[0])
    resized = np.stack([np.asarray(Image.fromarray(f).resize(width_height, Image.NEAREST)) for f in frames])
    return torch.from_numpy(resized.astype(np.int64)).to(label_maps.device)
