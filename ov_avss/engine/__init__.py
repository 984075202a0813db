"""Argument parsing, launching (multi-process / torchrun), the trainer and its hooks."""
from .defaults import default_argument_parser, default_main, default_setup, seed_all_rngs, setup_cfg
from .hooks import HookBase
from .launch import launch
from .trainer import Trainer, TrainingInterrupted

__all__ = [
    "HookBase",
    "Trainer",
    "TrainingInterrupted",
    "default_argument_parser",
    "default_main",
    "default_setup",
    "launch",
    "seed_all_rngs",
    "setup_cfg",
]
