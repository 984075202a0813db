"""Checkpoints (atomic writes, exact resumption), safe ``.pkl`` loading, weights from
``http(s)://`` addresses and the name map."""
from .checkpointer import (
    CheckpointReadError,
    Checkpointer,
    FrozenWeightsError,
    capture_rng_states,
    check_checkpoint_complete,
    preserved_rng_states,
    read_checkpoint_file,
    restore_rng_states,
    set_rng_states,
)
from .download import WeightDownloadError, fetch_weights, is_url
from .model_fit import CheckpointMismatchError, check_checkpoint_fits, is_pretrained_initialisation
from .safe_pickle import UnsafePickleError, load_safe_pickle

__all__ = [
    "CheckpointMismatchError",
    "CheckpointReadError",
    "Checkpointer",
    "FrozenWeightsError",
    "UnsafePickleError",
    "WeightDownloadError",
    "capture_rng_states",
    "fetch_weights",
    "is_url",
    "check_checkpoint_complete",
    "check_checkpoint_fits",
    "is_pretrained_initialisation",
    "load_safe_pickle",
    "preserved_rng_states",
    "read_checkpoint_file",
    "restore_rng_states",
    "set_rng_states",
]
