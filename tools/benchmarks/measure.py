"""How every section measures: time with ``torch.utils.benchmark``, peak tensor memory with
``torch.cuda`` memory statistics on GPU and ``torch.profiler``'s allocation events on CPU, the
machine description, and the error entry of a measurement that could not run."""
from __future__ import annotations

import logging
import os
import platform
import subprocess
import traceback
from typing import Any, Callable

import torch
import torch.utils.benchmark as torch_benchmark

logger = logging.getLogger("ov_avss.benchmark")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(function: Callable[[], Any], warmup: int, repeats: int, label: str = "") -> dict[str, float]:
    """Median and interquartile range (ms) of ``repeats`` timed calls of ``function`` after
    ``warmup`` untimed ones, with ``torch.utils.benchmark.Timer`` (which synchronises CUDA
    around each timed block and keeps the current thread count). Each timed call is
    ``Timer.timeit(1)``, which runs two warm-up calls of its own first: a run costs
    ``warmup + 3 * repeats`` calls."""
    timer = torch_benchmark.Timer(
        stmt="function()", globals={"function": function}, label=label, num_threads=torch.get_num_threads()
    )
    if warmup:
        timer.timeit(warmup)
    measurement = torch_benchmark.Measurement.merge([timer.timeit(1) for _ in range(repeats)])[0]
    return {"median_ms": measurement.median * 1e3, "iqr_ms": measurement.iqr * 1e3}


def elapsed_s(function: Callable[[], Any]) -> float:
    """Seconds of one call of ``function`` (``torch.utils.benchmark.Timer``), for throughputs
    over a stream that cannot be repeated, such as batches drawn from a loader."""
    timer = torch_benchmark.Timer(stmt="function()", globals={"function": function}, num_threads=torch.get_num_threads())
    return timer.timeit(1).median


def interleaved_medians(functions: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, float]:
    """Median ms of each function, timed in turns (the order alternates every repetition) so
    that a change of machine load affects all of them alike; each turn is ``Timer.timeit(1)``
    (two warm-up calls, then the timed one)."""
    names = list(functions)
    timers = {
        name: torch_benchmark.Timer(stmt="function()", globals={"function": function}, num_threads=torch.get_num_threads())
        for name, function in functions.items()
    }
    for _ in range(warmup):
        for name in names:
            functions[name]()
    runs: dict[str, list[torch_benchmark.Measurement]] = {name: [] for name in names}
    for repetition in range(repeats):
        for name in names if repetition % 2 == 0 else reversed(names):
            runs[name].append(timers[name].timeit(1))
    return {name: torch_benchmark.Measurement.merge(values)[0].median * 1e3 for name, values in runs.items()}


def cpu_peak_allocated_bytes(profiler: torch.profiler.profile) -> int:
    """Peak of the CPU tensor memory allocated inside a ``profile(profile_memory=True)`` block
    above what was allocated at its start: the running sum of its allocation events (frees are
    negative allocations), in time order."""
    events = []
    pending = list(profiler.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        pending.extend(event.children)
        if event.tag == torch._C._profiler._EventType.Allocation and event.extra_fields.device.type == "cpu":
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak


def peak_memory_mb(function: Callable[[], Any], device: torch.device) -> dict[str, Any]:
    """Peak tensor memory (MB) of one call of ``function`` above the memory allocated before it.

    GPU: ``torch.cuda.max_memory_allocated`` after resetting the peak. CPU: the allocation
    events of ``torch.profiler`` (``profile_memory=True``). Tensors only, in both cases: not
    the allocator's cache or the process's other memory.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        function()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start
        method = "torch.cuda.max_memory_allocated - allocated at start"
    else:
        # acc_events: one cycle, whose events are all read after it ends.
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True, acc_events=True
        ) as profiler:
            function()
        peak = cpu_peak_allocated_bytes(profiler)
        method = "torch.profiler CPU allocation events (peak of the running sum)"
    return {"peak_memory_mb": max(0, peak) / 2**20, "memory_method": method}


def measure(function: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> dict[str, Any]:
    """Median time (ms) over ``repeats`` runs and the peak tensor memory (MB) of one more run."""
    return {**time_ms(function, warmup, repeats), **peak_memory_mb(function, device)}


def error_entry(what: str, error: BaseException) -> dict[str, str]:
    """A JSON error entry for a benchmark that could not run (logged with its traceback)."""
    logger.error("Benchmark %s failed: %s: %s\n%s", what, type(error).__name__, error, traceback.format_exc())
    return {"error": f"{type(error).__name__}: {error}"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError as error:
        logger.warning("Cannot read /proc/cpuinfo (%s); using platform.processor()", error)
    return platform.processor() or "unknown"


def _gpu_driver() -> str:
    try:
        completed = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=30, check=True)
        return completed.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as error:
        logger.warning("Cannot read the GPU driver version from nvidia-smi (%s)", error)
        return "unknown"


def machine_info(device: torch.device) -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "gpu_driver": _gpu_driver() if device.type == "cuda" else None,
        # Other processes on the machine slow every number down; this says how busy it was.
        "load_average_1_5_15_min_at_start": list(os.getloadavg()),
    }
