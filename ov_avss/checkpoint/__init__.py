"""Checkpoints (atomic writes, exact resumption), safe ``.pkl`` loading, weights from
``http(s)://`` addresses and the name map."""
from .checkpointer import (
    CheckpointReadError,
    Checkpointer,
    capture_rng_states,
    preserved_rng_states,
    read_checkpoint_file,
    restore_rng_states,
    set_rng_states,
)
from .download import WeightDownloadError, fetch_weights, is_url
from .safe_pickle import UnsafePickleError, load_safe_pickle

__all__ = [
    "CheckpointReadError",
    "Checkpointer",
    "UnsafePickleError",
    "WeightDownloadError",
    "capture_rng_states",
    "fetch_weights",
    "is_url",
    "load_safe_pickle",
    "preserved_rng_states",
    "read_checkpoint_file",
    "restore_rng_states",
    "set_rng_states",
]
