"""Learning-rate schedules: warmup followed by multi-step, cosine or poly decay, expressed as
fvcore param schedulers and applied per iteration by ``LRMultiplier``."""
from __future__ import annotations

import logging
import math

import torch
from fvcore.common.param_scheduler import (
    CosineParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
)

from ov_avss.config import CfgNode

logger = logging.getLogger(__name__)


class PolyParamScheduler(ParamScheduler):
    """``max((1 - where) ** power, constant_ending)``; Mask2Former's poly schedule, whose
    ``constant_ending`` (0 disables it) keeps the LR from decaying below a floor."""

    def __init__(self, power: float, constant_ending: float = 0.0) -> None:
        self.power = power
        self.constant_ending = constant_ending

    def __call__(self, where: float) -> float:
        value = math.pow(max(1.0 - where, 0.0), self.power)
        if self.constant_ending > 0:
            return max(value, self.constant_ending)
        return value


class WarmupParamScheduler(ParamScheduler):
    """Ramp into ``scheduler`` over the first ``warmup_length`` of training.

    ``linear``: from ``warmup_factor * scheduler(0)`` up to ``scheduler(warmup_length)``;
    ``constant``: ``warmup_factor * scheduler(0)`` throughout the warmup.
    """

    def __init__(
        self, scheduler: ParamScheduler, warmup_factor: float, warmup_length: float, warmup_method: str
    ) -> None:
        if warmup_method not in ("linear", "constant"):
            raise ValueError(
                f"SOLVER.WARMUP_METHOD must be 'linear' or 'constant', got '{warmup_method}'"
            )
        self.scheduler = scheduler
        self.warmup_factor = warmup_factor
        self.warmup_length = warmup_length
        self.warmup_method = warmup_method

    def __call__(self, where: float) -> float:
        if where >= self.warmup_length:
            return self.scheduler(where)
        start = self.warmup_factor * self.scheduler(0.0)
        if self.warmup_method == "constant":
            return start
        end = self.scheduler(self.warmup_length)
        alpha = where / self.warmup_length
        return start + alpha * (end - start)


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """Sets each group's LR to ``initial_lr * multiplier(iteration / max_iter)`` per step.

    Its state is ``base_lrs`` and ``last_epoch`` only: the multiplier is rebuilt from the
    config, so a checkpoint never pickles scheduler objects.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, multiplier: ParamScheduler, max_iter: int, last_iter: int = -1
    ) -> None:
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> dict:
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def get_lr(self) -> list[float]:
        factor = self._multiplier(min(self.last_epoch / self._max_iter, 1.0))
        return [base_lr * factor for base_lr in self.base_lrs]


def build_lr_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer) -> LRMultiplier:
    """``SOLVER.LR_SCHEDULER_NAME``: ``WarmupMultiStepLR``, ``WarmupCosineLR`` or
    ``WarmupPolyLR``, with ``SOLVER.WARMUP_*`` in front."""
    solver = cfg.SOLVER
    name = solver.LR_SCHEDULER_NAME
    max_iter = solver.MAX_ITER
    if name == "WarmupMultiStepLR":
        steps = [step for step in solver.STEPS if step < max_iter]
        if len(steps) != len(solver.STEPS):
            logger.warning(
                "SOLVER.STEPS %s has steps at or beyond SOLVER.MAX_ITER=%d; they are ignored.",
                list(solver.STEPS),
                max_iter,
            )
        schedule: ParamScheduler = MultiStepParamScheduler(
            values=[solver.GAMMA**k for k in range(len(steps) + 1)],
            milestones=steps,
            num_updates=max_iter,
        )
    elif name == "WarmupCosineLR":
        schedule = CosineParamScheduler(1.0, solver.BASE_LR_END / solver.BASE_LR)
    elif name == "WarmupPolyLR":
        schedule = PolyParamScheduler(solver.POLY_LR_POWER, solver.POLY_LR_CONSTANT_ENDING)
    else:
        raise ValueError(
            "SOLVER.LR_SCHEDULER_NAME must be 'WarmupMultiStepLR', 'WarmupCosineLR' or "
            f"'WarmupPolyLR', got '{name}'"
        )
    warmup_length = min(solver.WARMUP_ITERS / max_iter, 1.0)
    if warmup_length > 0:
        schedule = WarmupParamScheduler(schedule, solver.WARMUP_FACTOR, warmup_length, solver.WARMUP_METHOD)
    return LRMultiplier(optimizer, schedule, max_iter)
