"""Argument parsing, launching (multi-process / torchrun), the trainer and its hooks."""
from .defaults import (
    default_argument_parser,
    default_main,
    default_setup,
    parse_and_check_args,
    resolve_seed,
    seed_all_rngs,
    setup_cfg,
)
from .hooks import HookBase
from .launch import launch, launch_from_args
from .trainer import Trainer, TrainingInterrupted, inference_output_dir

__all__ = [
    "HookBase",
    "Trainer",
    "TrainingInterrupted",
    "default_argument_parser",
    "default_main",
    "default_setup",
    "inference_output_dir",
    "launch",
    "launch_from_args",
    "parse_and_check_args",
    "resolve_seed",
    "seed_all_rngs",
    "setup_cfg",
]
