"""The tiny OV_AVSS overfits one synthetic window on CPU."""
from __future__ import annotations

import pytest
import torch

from ov_avss.modeling import build_model


def _train(cfg, window, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    history = []
    for _ in range(steps):
        losses = model([window])
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    return history


def test_loss_falls_within_twenty_steps(tiny_cfg, make_window):
    # Measured on windows of seeds 0, 1 and 2 (Intel Xeon @ 2.50GHz): the loss falls from about
    # 105 to 13-15 in 20 steps, a factor of 7. The bound asks for a factor of 3, so that kernel
    # rounding on other CPUs (which can flip a Hungarian assignment on the way) cannot fail it.
    history = _train(tiny_cfg, make_window(num_objects=2, seed=0), steps=20)
    assert min(history[-3:]) < history[0] / 3


@pytest.mark.slow
def test_loss_falls_by_an_order_of_magnitude(tiny_cfg, make_window):
    history = _train(tiny_cfg, make_window(num_objects=2, seed=0), steps=80)
    assert min(history[-5:]) < history[0] / 10
