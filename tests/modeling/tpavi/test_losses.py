"""TPAVI's losses equal a plain re-computation from the release's definitions (frame by frame,
stage by stage, with explicit sums), within 1e-5 relative."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ov_avss.modeling.tpavi import (
    avm_kl_hard_mask_frame_mean,
    avm_kl_soft_mask_batch_sum,
    binary_segmentation_loss,
    semantic_segmentation_loss,
)

RELATIVE = 1e-5
STAGE_SIZES = [(16, 16), (8, 8), (4, 4), (2, 2)]


def _close(a: torch.Tensor, b: float) -> bool:
    return abs(float(a) - b) <= RELATIVE * max(1.0, abs(b))


def _inputs(classes: int, frames: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(frames, classes, 32, 32, generator=g) * 3
    maps = [torch.randn(frames, 8, h, w, generator=g).relu() for h, w in STAGE_SIZES]
    audio = [torch.randn(frames, 8, generator=g) for _ in STAGE_SIZES]
    return logits, maps, audio


def _kl(p_audio_logits: torch.Tensor, visual: torch.Tensor) -> float:
    """sum_c p_a (log p_a - log p_v) for one frame, written out."""
    pa = [math.exp(v) for v in p_audio_logits.tolist()]
    pv = [math.exp(v) for v in visual.tolist()]
    sa, sv = sum(pa), sum(pv)
    return sum((a / sa) * (math.log(a / sa) - math.log(v / sv)) for a, v in zip(pa, pv))


def _pool(values: torch.Tensor, size) -> torch.Tensor:
    """Average pooling of [H, W] to ``size`` (H, W divisible): mean of each block."""
    h, w = size
    return values.reshape(h, values.shape[0] // h, w, values.shape[1] // w).mean(dim=(1, 3))


def test_s4_bce_on_the_supervised_frame():
    logits, _, _ = _inputs(1)
    target = (torch.rand(10, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).long()
    supervised = torch.tensor([True, False, False, False, False] * 2)  # frame 1 of each window
    total, count = 0.0, 0
    for frame in (0, 5):
        for y in range(32):
            for x in range(32):
                p = 1 / (1 + math.exp(-float(logits[frame, 0, y, x])))
                t = int(target[frame, y, x])
                total += -(t * math.log(p) + (1 - t) * math.log(1 - p))
                count += 1
    assert _close(binary_segmentation_loss(logits, target, supervised), total / count)


def test_avss_cross_entropy_over_the_supervised_frames():
    logits, _, _ = _inputs(5)
    target = torch.randint(0, 5, (10, 32, 32), generator=torch.Generator().manual_seed(2))
    supervised = torch.tensor([True] + [False] * 4 + [True] * 5)  # a v1s window, then a v2 half
    frame_losses = []
    for frame in range(10):
        log_probs = F.log_softmax(logits[frame], dim=0)
        frame_losses.append(-float(log_probs.gather(0, target[frame][None]).mean()))
    expected = sum(l for l, s in zip(frame_losses, supervised.tolist()) if s) / int(supervised.sum())
    assert _close(semantic_segmentation_loss(logits, target, supervised), expected)


def test_ms3_avm_soft_mask_summed_over_the_batch():
    logits, maps, audio = _inputs(1)
    stage_terms = []
    for stage_map, projected, size in zip(maps, audio, STAGE_SIZES):
        total = 0.0
        for frame in range(10):
            mask = torch.sigmoid(_pool(logits[frame, 0], size))  # pool the logits, then sigmoid
            visual = (stage_map[frame] * mask).sum(dim=(1, 2)) / (size[0] * size[1])
            total += _kl(projected[frame], visual)
        stage_terms.append(total)
    assert _close(avm_kl_soft_mask_batch_sum(logits, maps, audio), sum(stage_terms) / 4)


def test_avss_avm_hard_mask_averaged_over_supervised_frames():
    logits, maps, audio = _inputs(4)
    supervised = torch.tensor([True, True, False, True, False, True, True, True, False, True])
    stage_terms = []
    for stage_map, projected, size in zip(maps, audio, STAGE_SIZES):
        values = []
        for frame in range(10):
            foreground = (logits[frame].argmax(0) != 0).float()
            mask = _pool(foreground, size)
            visual = (stage_map[frame] * mask).sum(dim=(1, 2)) / (size[0] * size[1])
            values.append(_kl(projected[frame], visual))
        stage_terms.append(sum(v for v, s in zip(values, supervised.tolist()) if s) / int(supervised.sum()))
    ours = avm_kl_hard_mask_frame_mean(logits, maps, audio, supervised)
    assert _close(ours, sum(stage_terms) / 4)


def test_gradients_through_the_masks():
    """MS3's soft mask passes a gradient to the logits; AVSS's hard mask does not."""
    logits, maps, audio = _inputs(1)
    logits.requires_grad_(True)
    avm_kl_soft_mask_batch_sum(logits, maps, audio).backward()
    assert logits.grad.abs().sum() > 0
    logits, maps, audio = _inputs(4)
    logits.requires_grad_(True)
    loss = avm_kl_hard_mask_frame_mean(logits, maps, audio, torch.ones(10, dtype=torch.bool))
    assert not loss.requires_grad or torch.autograd.grad(loss, logits, allow_unused=True)[0] is None
