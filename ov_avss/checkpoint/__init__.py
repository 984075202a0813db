"""Checkpoints (atomic writes, exact resumption), safe ``.pkl`` loading and the name map."""
from .checkpointer import (
    CheckpointReadError,
    Checkpointer,
    capture_rng_states,
    preserved_rng_states,
    read_checkpoint_file,
    restore_rng_states,
    set_rng_states,
)
from .safe_pickle import UnsafePickleError, load_safe_pickle

__all__ = [
    "CheckpointReadError",
    "Checkpointer",
    "UnsafePickleError",
    "capture_rng_states",
    "load_safe_pickle",
    "preserved_rng_states",
    "read_checkpoint_file",
    "restore_rng_states",
    "set_rng_states",
]
