"""TPAVI's losses, as the AVSBench release computes them (docs/tpavi.md, "Losses").

All take the model's logits ``[N, K, H, W]`` (N = B*T frames, windows consecutive) and per-frame
flags; the audio-visual matching (AVM) terms take the stage maps ``[N, C, h_s, w_s]`` and the
projected audio ``[N, C]`` of each stage.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "AVM_LOSSES",
    "avm_kl_hard_mask_frame_mean",
    "avm_kl_soft_mask_batch_sum",
    "binary_segmentation_loss",
    "semantic_segmentation_loss",
]

AVM_LOSSES = ("", "soft_mask_batch_sum", "hard_mask_frame_mean")


def binary_segmentation_loss(logits: torch.Tensor, target: torch.Tensor, supervised: torch.Tensor) -> torch.Tensor:
    """BCE of ``sigmoid(logits)`` against the binary ``target``, mean over every pixel of the
    supervised frames (S4: the first frame of each window in training; MS3: all five).

    Args:
        logits: ``[N, 1, H, W]``.
        target: ``[N, H, W]`` in {0, 1}.
        supervised: bool ``[N]``.
    """
    chosen = supervised.nonzero().squeeze(1)
    if chosen.numel() == 0:
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[chosen, 0], target[chosen].to(logits.dtype))


def semantic_segmentation_loss(logits: torch.Tensor, target: torch.Tensor, supervised: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over K classes, mean over the pixels of each frame, then averaged over the
    supervised frames (AVSS: ``sum(frame loss * flag) / sum(flag)``).

    Args:
        logits: ``[N, K, H, W]``.
        target: int64 ``[N, H, W]`` in 0..K-1.
        supervised: bool ``[N]``.
    """
    per_frame = F.cross_entropy(logits, target, reduction="none").flatten(1).mean(1)  # [N]
    flags = supervised.to(per_frame.dtype)
    return (per_frame * flags).sum() / flags.sum().clamp(min=1.0)


def _masked_visual_means(stage_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean over (h, w) of stage_map * mask`` (divided by h*w, not by the mask's area): ``[N, C]``."""
    return (stage_map * mask).mean(dim=(2, 3))


def _kl_rows(projected_audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
    """Per row: ``sum_c p_a (log p_a - log p_v)`` with ``p = softmax`` over channels: ``[N]``."""
    log_audio = F.log_softmax(projected_audio, dim=1)
    log_visual = F.log_softmax(visual, dim=1)
    return (log_audio.exp() * (log_audio - log_visual)).sum(1)


def avm_kl_soft_mask_batch_sum(
    logits: torch.Tensor, stage_maps: Sequence[torch.Tensor], projected_audio: Sequence[torch.Tensor]
) -> torch.Tensor:
    """MS3's AVM loss: per stage, mask = sigmoid(adaptive average pool of the logits to the stage's
    size) (soft, with gradient), visual vector = masked spatial mean, KL(p_audio || p_visual)
    **summed over all N frames**; averaged over the stages. ``logits`` ``[N, 1, H, W]``."""
    terms = []
    for stage_map, audio in zip(stage_maps, projected_audio):
        mask = torch.sigmoid(F.adaptive_avg_pool2d(logits, stage_map.shape[-2:]))
        terms.append(_kl_rows(audio, _masked_visual_means(stage_map, mask)).sum())
    return torch.stack(terms).mean()


def avm_kl_hard_mask_frame_mean(
    logits: torch.Tensor,
    stage_maps: Sequence[torch.Tensor],
    projected_audio: Sequence[torch.Tensor],
    supervised: torch.Tensor,
) -> torch.Tensor:
    """AVSS's AVM loss: per stage, mask = adaptive average pool of ``1[argmax != background]``
    (hard, no gradient), visual vector = masked spatial mean, KL(p_audio || p_visual) per frame
    averaged over the supervised frames; averaged over the stages. ``logits`` ``[N, K, H, W]``."""
    foreground = (logits.detach().argmax(1, keepdim=True) != 0).to(logits.dtype)
    flags = supervised.to(logits.dtype)
    terms = []
    for stage_map, audio in zip(stage_maps, projected_audio):
        mask = F.adaptive_avg_pool2d(foreground, stage_map.shape[-2:])
        per_frame = _kl_rows(audio, _masked_visual_means(stage_map, mask))
        terms.append((per_frame * flags).sum() / flags.sum().clamp(min=1.0))
    return torch.stack(terms).mean()
