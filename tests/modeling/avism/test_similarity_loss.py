"""AVISM's query similarity loss against a direct pair-by-pair computation of its definition."""
from __future__ import annotations

import math

import pytest
import torch

from ov_avss.modeling.avism import query_similarity_loss


def _pairs(*pairs):
    return (torch.tensor([q for q, _ in pairs], dtype=torch.int64), torch.tensor([t for _, t in pairs], dtype=torch.int64))


def _bce(logit: float, target: float) -> float:
    return -(target * math.log(1 / (1 + math.exp(-logit))) + (1 - target) * math.log(1 - 1 / (1 + math.exp(-logit))))


def test_equals_pairwise_definition():
    """2 rounds, 2 videos of 2 frames, 3 frame queries, 2 video queries, C = 4."""
    generator = torch.Generator().manual_seed(0)
    frame_embed = torch.randn(2, 2, 2, 3, 4, generator=generator) * 0.5
    video_embed = torch.randn(2, 2, 2, 4, generator=generator) * 0.5
    # Frame targets per (video, frame): video 0 has tracks 0 and 1, video 1 has track 0 only.
    track_ids = [torch.tensor([0, 1]), torch.tensor([1]), torch.tensor([0]), torch.tensor([0])]
    frame_indices = [
        [_pairs((2, 0), (0, 1)), _pairs((1, 0)), _pairs((0, 0)), _pairs((2, 0))],  # round 0
        [_pairs((0, 0), (1, 1)), _pairs((2, 0)), _pairs((1, 0)), _pairs()],        # round 1
    ]
    video_indices = [_pairs((1, 0), (0, 1)), _pairs((0, 0)), _pairs((0, 1)), _pairs((1, 0))]  # set l * B + b

    # Every matched query with (video group, track id) written out by hand.
    items = []
    for r in range(2):
        for b in range(2):
            for t in range(2):
                queries, targets = frame_indices[r][b * 2 + t]
                for q, k in zip(queries.tolist(), targets.tolist()):
                    items.append((frame_embed[r, b, t, q], r * 2 + b, int(track_ids[b * 2 + t][k])))
            queries, targets = video_indices[r * 2 + b]
            for q, k in zip(queries.tolist(), targets.tolist()):
                items.append((video_embed[r, b, q], r * 2 + b, k))
    total, count = 0.0, 0
    for ei, gi, ti in items:
        for ej, gj, tj in items:
            if gi == gj:
                total += _bce(float(ei @ ej), float(ti == tj))
                count += 1
    loss = query_similarity_loss(frame_embed, frame_indices, track_ids, video_embed, video_indices)
    assert float(loss) == pytest.approx(total / count, rel=1e-5)


def test_no_match_gives_a_zero_loss_with_a_graph():
    frame_embed = torch.randn(1, 1, 2, 3, 4, requires_grad=True)
    video_embed = torch.randn(1, 1, 2, 4, requires_grad=True)
    empty = _pairs()
    loss = query_similarity_loss(frame_embed, [[empty, empty]], [torch.tensor([], dtype=torch.int64)] * 2, video_embed, [empty])
    loss.backward()
    assert float(loss.detach()) == 0.0 and frame_embed.grad is not None
