"""Warmup + multi-step / cosine / poly schedules and their resumable state."""
from __future__ import annotations

import math

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.solver import build_lr_scheduler


def lr_trace(cfg, num_steps: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.SOLVER.BASE_LR)
    scheduler = build_lr_scheduler(cfg, optimizer)
    trace = []
    for _ in range(num_steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


def base_cfg(name: str):
    cfg = get_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = name
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.MAX_ITER = 100
    cfg.SOLVER.WARMUP_ITERS = 10
    cfg.SOLVER.WARMUP_FACTOR = 0.1
    cfg.SOLVER.WARMUP_METHOD = "linear"
    return cfg


def test_warmup_multistep():
    cfg = base_cfg("WarmupMultiStepLR")
    cfg.SOLVER.STEPS = (50, 80, 200)  # 200 >= MAX_ITER is dropped
    cfg.SOLVER.GAMMA = 0.1
    trace = lr_trace(cfg, 100)
    assert trace[0] == pytest.approx(0.1)
    assert trace[5] == pytest.approx(0.1 + 0.5 * 0.9)
    assert trace[10:50] == pytest.approx([1.0] * 40)
    assert trace[50:80] == pytest.approx([0.1] * 30)
    assert trace[80:] == pytest.approx([0.01] * 20)


def test_cosine_and_poly():
    cfg = base_cfg("WarmupCosineLR")
    cfg.SOLVER.WARMUP_ITERS = 0
    cfg.SOLVER.BASE_LR_END = 0.0
    trace = lr_trace(cfg, 100)
    assert trace[0] == pytest.approx(1.0)
    assert trace[50] == pytest.approx(0.5)
    assert trace[75] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))

    cfg = base_cfg("WarmupPolyLR")
    cfg.SOLVER.WARMUP_ITERS = 0
    cfg.SOLVER.POLY_LR_POWER = 0.9
    cfg.SOLVER.POLY_LR_CONSTANT_ENDING = 0.0
    trace = lr_trace(cfg, 100)
    assert trace[40] == pytest.approx(0.6**0.9)
    cfg.SOLVER.POLY_LR_CONSTANT_ENDING = 0.5
    assert lr_trace(cfg, 100)[90] == pytest.approx(0.5)


def test_unknown_scheduler_and_state_round_trip():
    with pytest.raises(ValueError, match="StepLR"):
        lr_trace(base_cfg("StepLR"), 1)
    cfg = base_cfg("WarmupMultiStepLR")
    cfg.SOLVER.STEPS = (50,)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_lr_scheduler(cfg, optimizer)
    for _ in range(60):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    assert set(state) == {"base_lrs", "last_epoch"} and state["last_epoch"] == 60
    fresh_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    fresh = build_lr_scheduler(cfg, fresh_optimizer)
    fresh.load_state_dict(state)
    fresh_optimizer.step()
    fresh.step()
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
