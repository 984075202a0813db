"""Optimizer, parameter groups, gradient clipping and learning-rate schedules."""
from .build import build_gradient_clipper, build_optimizer, get_default_optimizer_params
from .lr_scheduler import LRMultiplier, PolyParamScheduler, WarmupParamScheduler, build_lr_scheduler

__all__ = [
    "LRMultiplier",
    "PolyParamScheduler",
    "WarmupParamScheduler",
    "build_gradient_clipper",
    "build_lr_scheduler",
    "build_optimizer",
    "get_default_optimizer_params",
]
