"""Peak memory for the training log line: peak RSS on CPU, ``max_memory_allocated`` on CUDA."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ov_avss.utils.memory import peak_memory_mib


def _resident_mib() -> float:
    """VmRSS of this process from /proc (Linux), in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_cpu_peak_covers_what_is_resident_and_never_drops():
    before = peak_memory_mib(torch.device("cpu"))
    array = np.ones(256 * 1024 * 1024 // 8)  # 256 MiB, every page written
    resident = _resident_mib()
    during = peak_memory_mib(torch.device("cpu"))
    assert during >= resident - 1 and during >= 256
    assert during >= before
    del array
    assert peak_memory_mib(torch.device("cpu")) >= during  # a peak, not the current size


def test_cuda_device_reads_the_allocators_peak(monkeypatch):
    asked = []
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: asked.append(device) or 3 * 1024 * 1024)
    assert peak_memory_mib(torch.device("cuda", 1)) == 3.0
    assert asked == [torch.device("cuda", 1)]


@pytest.mark.gpu
def test_cuda_peak_counts_a_64_mib_tensor():
    device = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(device)
    block = torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device=device)
    assert peak_memory_mib(device) >= 64
    del block
