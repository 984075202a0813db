"""Peak memory of this process, as detectron2's training log line reports it (``max_mem``)."""
from __future__ import annotations

import resource
import sys

import torch

_MIB = 1024 * 1024


def peak_memory_mib(device: torch.device) -> float:
    """The most memory this process has held so far, in MiB.

    CUDA ``device``: ``torch.cuda.max_memory_allocated`` (memory of live tensors at its peak;
    the caching allocator may reserve more). Any other device: the peak resident set size of
    the process (``getrusage`` ``ru_maxrss``: KiB on Linux, bytes on macOS), which includes the
    interpreter and the libraries, not only tensors; loader worker processes are not counted.
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / _MIB
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max_rss / _MIB if sys.platform == "darwin" else max_rss / 1024
