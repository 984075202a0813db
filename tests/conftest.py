"""Shared test settings: one intra-op thread keeps CPU tests deterministic and light on shared
machines (set before any test module builds tensors)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
