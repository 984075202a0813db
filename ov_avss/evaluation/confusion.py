"""Per-frame confusion matrices of label maps, and the two ways the semantic protocols rewrite
them: relabelling from a vocabulary's labels into the dataset's, and merging label noise into
background."""
from __future__ import annotations

import torch

from ..data.label_space import IGNORE_LABEL


def frame_confusions(
    prediction: torch.Tensor, ground_truth: torch.Tensor, num_labels: int, ignore_label: int = IGNORE_LABEL
) -> torch.Tensor:
    """Per-frame confusion matrices int64 ``[T, V, V]`` (row = ground truth, column = prediction)
    of label maps int ``[T, H, W]`` with values in ``[0, V)``, ground truth ``ignore_label`` =
    ignored.

    One ``bincount`` over all pixels: ignored ground truth lands in a row of its own that is
    dropped, so no pixel masking is needed (the masking used to cost more than the counting).

    Raises:
        ValueError: shapes differ, or a label lies outside ``[0, V)`` (ground truth: or the ignore
            label).
    """
    if prediction.shape != ground_truth.shape or prediction.ndim != 3:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and ground truth {tuple(ground_truth.shape)} must be "
            "[T, H, W] of one shape"
        )
    n, rows = num_labels, ignore_label + 1
    if n > ignore_label:
        raise ValueError(f"At most {ignore_label} labels can be scored ({ignore_label} means ignored), got {n}")
    num_frames = prediction.shape[0]
    if prediction.numel() == 0:
        return torch.zeros((num_frames, n, n), dtype=torch.int64, device=prediction.device)
    # Counting keys ground truth * V + prediction in the narrowest integer type that holds them
    # (int16 for the 71 labels) cuts the memory traffic of every pass (bincount alone runs 3x
    # faster than on int64). Label maps hold 0..255, far inside that type's range.
    key_dtype = torch.int16 if rows * n <= torch.iinfo(torch.int16).max else torch.int32
    # Both ranges are checked before the keys are formed: out of range, a key wraps around in the
    # narrow type (ground truth 924 gives 924 * 71 = 65604 = 68 as int16, a background pixel).
    # The labels are narrowed first and checked in the narrow type, which costs a tenth of a
    # check on int64 maps; a label map value itself survives the narrowing unless its magnitude
    # exceeds the type's range (beyond 32767 for int16, which no 8- or 16-bit label image holds:
    # 16-bit values above 32767 turn negative and are refused).
    # Ground-truth labels in [n, 255) are found from the counts, in rows that must stay empty.
    # (Python ints: comparing the 0-d tensors would cost more than the reduction.)
    prediction, ground_truth = prediction.to(key_dtype), ground_truth.to(key_dtype)
    low, high = (int(v) for v in torch.aminmax(prediction))
    if low < 0 or high >= n:
        raise ValueError(f"prediction labels must lie in [0, {n - 1}], got [{low}, {high}]")
    bad_ground_truth = ValueError(f"ground-truth labels must lie in [0, {n - 1}] or be {ignore_label}")
    low, high = (int(v) for v in torch.aminmax(ground_truth))
    if low < 0 or high > ignore_label:
        raise bad_ground_truth
    keys = torch.add(prediction, ground_truth, alpha=n)
    counts = [torch.bincount(frame_keys.view(-1), minlength=rows * n) for frame_keys in keys]
    per_frame = torch.stack(counts).view(num_frames, rows, n)
    if bool(per_frame[:, n:ignore_label].any()):
        raise bad_ground_truth
    return per_frame[:, :n]


def relabel_confusions(per_frame: torch.Tensor, lookup: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Per-frame confusions ``[T, V, V]`` in a vocabulary's label space -> ``[T, n, n]`` in the
    dataset's label space, ``lookup`` int64 ``[V]`` mapping each vocabulary label to its dataset
    label (``LabelSpace.dataset_lookup``)."""
    lookup = lookup.to(per_frame.device)
    num_frames, size, _ = per_frame.shape
    rows = torch.zeros((num_frames, num_labels, size), dtype=per_frame.dtype, device=per_frame.device)
    rows.index_add_(1, lookup, per_frame)
    relabelled = torch.zeros((num_frames, num_labels, num_labels), dtype=per_frame.dtype, device=per_frame.device)
    return relabelled.index_add_(2, lookup, rows)


def merge_label_noise(per_frame: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Count ground-truth pixels of label-noise categories as background: their rows of the
    per-frame confusions ``[T, n, n]`` are added to row 0 (the same as resetting those pixels to 0
    before counting).

    Args:
        noise: bool ``[n]``, the window's label-noise labels (``LabelSpace.noise_labels``).
    """
    noise = noise.to(per_frame.device)
    merged = per_frame.clone()
    merged[:, 0] += per_frame[:, noise].sum(dim=1)
    merged[:, noise] = 0
    return merged
