#!/usr/bin/env python
"""Benchmark the deformable-attention op, the model and the data side; write a JSON report.

    python tools/benchmark.py --device cpu --sections op,model,data --output results.json
    python tools/benchmark.py --compare --output compare.json          # ours vs the published code
    python tools/benchmark.py --device cuda --profile --report-dir out/ # JSON + markdown table

Every timing is the median of ``--repeats`` runs after ``--warmup`` runs. Peak memory is
``torch.cuda.max_memory_allocated`` above the allocation at the start on GPU, and the growth of
the process's peak resident set (VmHWM after resetting it, minus VmRSS at the start) on CPU;
each entry names the method it used. A section whose dependency is missing or fails records an
``error`` entry and the run continues. ``--compare`` times our evaluator and audio front end
against references written from the published definitions (tools/benchmark_reference.py) in
interleaved repetitions and prints the ratios. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import wave
from typing import Any, Callable, Sequence

import torch

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)
from ov_avss.utils.file_io import atomic_open, write_json_atomic

logger = logging.getLogger("ov_avss.benchmark")

SECTIONS = ("op", "model", "data")
# Pixel-decoder levels res3, res4, res5 (strides 8, 16, 32) of the published configs' inputs.
OP_SHAPE_PRESETS = {
    "r50_360x640": "45x80,23x40,12x20",
    "swinb_480x854": "60x107,30x54,15x27",
}
DEFAULT_OP_SHAPES = {"cpu": ["r50_360x640"], "cuda": list(OP_SHAPE_PRESETS)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULT_OP_DTYPES = {"cpu": ["float32"], "cuda": list(DTYPES)}
DEFAULT_MODEL_CONFIGS = {
    "cpu": ["configs/tiny/OV_AVSS_tiny.yaml"],
    "cuda": ["configs/avsbench/OV_AVSS_R50.yaml", "configs/avsbench/swin/OV_AVSS_SwinB.yaml"],
}
# AMP settings of the model section: "off" or the autocast dtype.
DEFAULT_AMP_MODES = {"cpu": ["off"], "cuda": ["off", "float16", "bfloat16"]}
# Warm-up and repeat counts per device when not given on the command line.
DEFAULT_COUNTS = {"cpu": (1, 3), "cuda": (5, 20)}


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(function: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``function`` in milliseconds over ``repeats`` runs after ``warmup``."""
    for _ in range(warmup):
        function()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        _synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no {field} line")


class PeakMemory:
    """Peak memory of the code inside ``with PeakMemory(device) as meter:`` in ``meter.peak_mb``.

    GPU: ``torch.cuda.max_memory_allocated`` minus the allocation at entry.
    CPU (Linux): resets the process's peak RSS (``5 > /proc/self/clear_refs``), then reports
    ``VmHWM`` at exit minus ``VmRSS`` at entry. Where the reset is not permitted it falls back,
    logged once, to the growth of ``ru_maxrss``, which is 0 unless the code sets a new peak.
    """

    _fallback_logged = False

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = float("nan")
        self.method = ""
        self._start_bytes = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            _synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start_bytes = torch.cuda.memory_allocated(self.device)
            self.method = "cuda max_memory_allocated - allocated at start"
            return self
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
                clear_refs.write("5")
            self._start_bytes = _proc_status_kib("VmRSS") * 1024
            self.method = "process VmHWM (reset at start) - VmRSS at start"
        except OSError as error:
            if not PeakMemory._fallback_logged:
                logger.warning("Cannot reset the peak RSS (%s); CPU peak memory uses the ru_maxrss delta", error)
                PeakMemory._fallback_logged = True
            self._start_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.method = "process ru_maxrss delta (0 unless a new process peak is set)"
        return self

    def __exit__(self, *exc_info) -> None:
        if self.device.type == "cuda":
            _synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("process VmHWM"):
            peak = _proc_status_kib("VmHWM") * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_mb = max(0, peak - self._start_bytes) / 2**20


def measure(function: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> dict[str, Any]:
    """Median time (ms) and peak memory (MB) of ``function``."""
    with PeakMemory(device) as memory:
        time_ms = median_ms(function, device, warmup, repeats)
    return {"median_ms": time_ms, "peak_memory_mb": memory.peak_mb, "memory_method": memory.method}


def error_entry(what: str, error: BaseException) -> dict[str, str]:
    """A JSON error entry for a benchmark that could not run (logged with its traceback)."""
    logger.error("Benchmark %s failed: %s: %s\n%s", what, type(error).__name__, error, traceback.format_exc())
    return {"error": f"{type(error).__name__}: {error}"}


# ---------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------
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
    info = {
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
    return info


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def parse_levels(text: str) -> list[tuple[int, int]]:
    """``"45x80,23x40"`` or a preset name of :data:`OP_SHAPE_PRESETS` -> ``[(45, 80), (23, 40)]``."""
    text = OP_SHAPE_PRESETS.get(text, text)
    levels = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise argparse.ArgumentTypeError(
                f"level sizes must look like 45x80,23x40 or be one of {sorted(OP_SHAPE_PRESETS)}; got {item!r} in {text!r}"
            )
        levels.append((int(parts[0]), int(parts[1])))
    return levels


def parse_dtypes(text: str) -> list[str]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(names) - set(DTYPES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"dtypes must be a comma list of {sorted(DTYPES)}, got {text!r}")
    return names


def parse_amp_modes(text: str) -> list[str]:
    modes = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(modes) - {"off", "float16", "bfloat16"})
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"--amp takes a comma list of off,float16,bfloat16, got {text!r}")
    return modes


def _deformops_msda() -> tuple[Callable[..., torch.Tensor] | None, str]:
    """The ``deformops`` package's multi-scale deformable attention as a function of
    ``(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)``, or
    ``None`` and why not. Only compared, never required."""
    try:
        import deformops
    except ImportError as error:
        return None, f"not importable: {error}"
    version = getattr(deformops, "__version__", "unknown version")
    # Function names of the Deformable-DETR signature that deformops releases have used.
    for module_name, attribute in (("deformops", "multi_scale_deformable_attention"),
                                   ("deformops.functional", "multi_scale_deformable_attention"),
                                   ("deformops.functional", "ms_deform_attn"),
                                   ("deformops", "ms_deform_attn")):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, attribute, None)
        if callable(function):
            return function, f"deformops {version}: {module_name}.{attribute}"
    return None, f"deformops {version} is importable but exposes none of the known MSDA functions"


def _op_inputs(levels: list[tuple[int, int]], args: argparse.Namespace, device: torch.device, dtype: torch.dtype):
    spatial_shapes = torch.tensor(levels, dtype=torch.int64, device=device)
    sizes = spatial_shapes.prod(1)
    level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
    num_tokens = int(sizes.sum())
    generator = torch.Generator(device="cpu").manual_seed(0)
    shape = (args.op_batch, num_tokens, args.op_heads)
    value = torch.randn(*shape, args.op_head_dim, generator=generator)
    sampling_locations = torch.rand(*shape, len(levels), args.op_points, 2, generator=generator)
    attention_weights = (
        torch.rand(*shape, len(levels) * args.op_points, generator=generator)
        .softmax(-1)
        .view(*shape, len(levels), args.op_points)
    )
    grad_output = torch.randn(args.op_batch, num_tokens, args.op_heads * args.op_head_dim, generator=generator)
    tensors = [t.to(device=device, dtype=dtype) for t in (value, sampling_locations, attention_weights, grad_output)]
    return spatial_shapes, level_start_index, num_tokens, tensors


def _benchmark_op_run(levels, dtype_name: str, args, device: torch.device, deadline: float) -> dict[str, Any]:
    from ov_avss.ops import MSDeformAttnFunction, get_extension, ms_deform_attn_pytorch

    spatial_shapes, level_start_index, num_tokens, (value, locations, weights, grad_output) = _op_inputs(
        levels, args, device, DTYPES[dtype_name]
    )
    result: dict[str, Any] = {
        "dtype": dtype_name,
        "shapes": {
            "batch": args.op_batch,
            "levels": levels,
            "heads": args.op_heads,
            "channels_per_head": args.op_head_dim,
            "points": args.op_points,
            "queries": num_tokens,
        },
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    implementations: dict[str, Callable[..., torch.Tensor]] = {"pytorch": ms_deform_attn_pytorch}
    if device.type == "cuda":
        extension, reason = get_extension()
        if extension is None:
            result["cuda"] = {"error": f"CUDA kernel unavailable: {reason}"}
        else:
            implementations["cuda"] = lambda *inputs: MSDeformAttnFunction.apply(extension, *inputs)
        deformops_function, deformops_source = _deformops_msda()
        result["deformops_source"] = deformops_source
        if deformops_function is None:
            result["deformops"] = {"error": deformops_source}
        else:
            implementations["deformops"] = deformops_function
    else:
        result["cuda"] = {"error": "not measured: --device cpu (the kernel runs on CUDA tensors only)"}

    for name, function in implementations.items():
        if time.monotonic() > deadline:
            result[name] = {"error": "skipped: --time-budget-s spent"}
            continue
        try:
            def forward() -> torch.Tensor:
                with torch.no_grad():
                    return function(value, spatial_shapes, level_start_index, locations, weights)

            def forward_backward() -> None:
                inputs = [t.detach().requires_grad_(True) for t in (value, locations, weights)]
                output = function(inputs[0], spatial_shapes, level_start_index, inputs[1], inputs[2])
                output.backward(grad_output)

            result[name] = {
                "forward": measure(forward, device, args.warmup, args.repeats),
                "forward_backward": measure(forward_backward, device, args.warmup, args.repeats),
            }
        except Exception as error:  # reported in the JSON; the other implementations still run
            result[name] = error_entry(f"op/{name}/{dtype_name}", error)
    for name in ("cuda", "deformops"):
        if "forward" in result.get(name, {}) and "forward" in result.get("pytorch", {}):
            result[f"speedup_{name}_over_pytorch"] = {
                phase: result["pytorch"][phase]["median_ms"] / result[name][phase]["median_ms"]
                for phase in ("forward", "forward_backward")
            }
    return result


def benchmark_op(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """ms_deform_attn forward and forward+backward per shape preset and dtype: the PyTorch path,
    our CUDA kernel and (where importable) deformops'; all tokens are queries."""
    runs = []
    for shape_name in args.op_levels:
        for dtype_name in args.op_dtypes:
            run = {"shape_name": shape_name}
            try:
                run.update(_benchmark_op_run(parse_levels(shape_name), dtype_name, args, device, args.deadline))
            except Exception as error:  # reported in the JSON; the next run still goes
                run.update({"dtype": dtype_name, **error_entry(f"op/{shape_name}/{dtype_name}", error)})
            runs.append(run)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"runs": runs}


def _training_clip(cfg, vocabulary: tuple[str, ...], num_frames: int, with_targets: bool) -> dict[str, Any]:
    """A synthetic ``ClipInput`` (docs/architecture.md) at the config's test size, 16:9."""
    from ov_avss.structures import make_clip_input

    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = min(int(round(height * 16 / 9)), int(cfg.INPUT.MAX_SIZE_TEST))
    generator = torch.Generator().manual_seed(0)
    optional: dict[str, Any] = {}
    if with_targets:
        masks = torch.zeros(1, num_frames, height, width, dtype=torch.bool)
        masks[:, :, height // 4 : 3 * height // 4, width // 4 : width // 2] = True
        optional["targets"] = {"labels": torch.tensor([0]), "masks": masks}
    return make_clip_input(
        uid="benchmark_clip",
        dataset_name="benchmark",
        frame_indices=range(num_frames),
        height=height,
        width=width,
        frames=torch.randint(0, 256, (num_frames, 3, height, width), dtype=torch.uint8, generator=generator),
        audio=torch.randn(num_frames, 1, 96, 64, generator=generator),
        vocabulary=vocabulary,
        sounding_categories=[vocabulary[0]],
        **optional,
    )


def _profile_top_ops(step: Callable[[], None], device: torch.device, steps: int, top: int = 10) -> list[dict[str, Any]]:
    """``torch.profiler`` over ``steps`` calls of ``step``: the ``top`` ops by self time on the
    device (self CPU time on CPU), times per step in ms."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        for _ in range(steps):
            step()
        _synchronize(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(profiler.key_averages(), key=lambda event: getattr(event, key), reverse=True)[:top]
    return [
        {
            "op": event.key,
            "self_ms_per_step": getattr(event, key) / 1e3 / steps,
            "self_cpu_ms_per_step": event.self_cpu_time_total / 1e3 / steps,
            "calls_per_step": event.count / steps,
        }
        for event in events
    ]


def _benchmark_model_config(config_file: str, args: argparse.Namespace, device: torch.device, amp_mode: str) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.catalog import get_dataset_metadata
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    amp = amp_mode != "off"
    cfg.SOLVER.AMP.ENABLED = amp
    if amp:
        cfg.SOLVER.AMP.DTYPE = amp_mode
    cfg.freeze()
    # Random weights: timings do not depend on the values, and the published configs' weight
    # files need not be present.
    model = build_model_without_pretrained_files(cfg, device.type)
    vocabulary = get_dataset_metadata(cfg.DATASETS.TRAIN[0]).vocabulary
    num_frames = int(cfg.INPUT.SAMPLING_FRAME_NUM)
    train_clip = _training_clip(cfg, vocabulary, num_frames, with_targets=True)
    test_clip = _training_clip(cfg, get_dataset_metadata(cfg.DATASETS.TEST[0]).vocabulary, num_frames, with_targets=False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.SOLVER.BASE_LR)
    amp_dtype = getattr(torch, cfg.SOLVER.AMP.DTYPE)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and amp_dtype == torch.float16)

    def train_step() -> None:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            losses = model([train_clip])
        total = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()

    def inference() -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            model([test_clip])

    # Inference first: on CPU the allocator keeps what a training step freed, which would hide
    # the inference peak in the RSS measurement.
    model.eval()
    infer = measure(inference, device, args.warmup, args.repeats)
    model.train()
    train = measure(train_step, device, args.warmup, args.repeats)
    result = {
        "config": config_file,
        "amp": amp_mode,
        "frames_per_clip": num_frames,
        "input_size": [train_clip["height"], train_clip["width"]],
        "train_step_per_clip": train,
        "inference": {**infer, "clips_per_s": 1e3 / infer["median_ms"]},
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    if args.profile and amp_mode == args.profile_amp and config_file == args.profile_config:
        result["profile_top10"] = _profile_top_ops(train_step, device, steps=max(1, min(args.repeats, 5)))
    return result


def benchmark_model(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Training step (forward, backward, AdamW) and inference per clip, per config and AMP mode."""
    configs = args.config or DEFAULT_MODEL_CONFIGS[device.type]
    runs = []
    for config_file in configs:
        for amp_mode in args.amp:
            if time.monotonic() > args.deadline:
                runs.append({"config": config_file, "amp": amp_mode, "error": "skipped: --time-budget-s spent"})
                continue
            try:
                runs.append(_benchmark_model_config(config_file, args, device, amp_mode))
            except Exception as error:  # reported in the JSON; the next config still runs
                runs.append({"config": config_file, "amp": amp_mode, **error_entry(f"model/{config_file}", error)})
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"runs": runs}


def _benchmark_loader(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.build import build_train_loader
    from ov_avss.data.synthetic import make_synthetic_avsbench

    make_synthetic_avsbench(work_dir, seed=0, num_train_clips=args.data_clips, num_val_clips=1, num_test_clips=1)
    cfg = get_cfg()
    if args.config:
        cfg.merge_from_file(args.config[0])
    cfg.DATASETS.ROOT = work_dir
    cfg.DATASETS.TRAIN = ("avsbench_ov_train_base",)
    cfg.SEED = 0
    loader = build_train_loader(cfg)
    # The first batch pays for starting the workers and is not timed.
    next(loader)
    start = time.perf_counter()
    clips = sum(len(next(loader)) for _ in range(args.loader_batches))
    elapsed = time.perf_counter() - start
    return {
        "clips_per_s": clips / elapsed,
        "clips": clips,
        "clips_per_batch": int(cfg.SOLVER.IMS_PER_BATCH),
        "num_workers": int(cfg.DATALOADER.NUM_WORKERS),
        "min_size_train": list(cfg.INPUT.MIN_SIZE_TRAIN),
        "synthetic_train_clips": args.data_clips,
    }


def evaluator_input_clip(index: int, ground_truth: torch.Tensor, sounding: Sequence[str]) -> dict[str, Any]:
    """An ``avsbench_ov_test`` ``ClipInput`` for the evaluator: ``ground_truth`` ``[T, H, W]`` in
    the dataset's 71 labels, the full vocabulary, ``sounding`` as its sounding categories. The
    evaluator reads no frames or audio: they are blank 8x8 frames and zero audio, expanded
    views that take no memory per clip."""
    from ov_avss.data.catalog import get_dataset_metadata
    from ov_avss.structures import make_clip_input

    num_frames, height, width = ground_truth.shape
    return make_clip_input(
        uid=f"clip{index}",
        dataset_name="avsbench_ov_test",
        frame_indices=range(num_frames),
        height=height,
        width=width,
        frames=torch.zeros((1, 3, 8, 8), dtype=torch.uint8).expand(num_frames, -1, -1, -1),
        audio=torch.zeros((1, 1, 96, 64)).expand(num_frames, -1, -1, -1),
        vocabulary=get_dataset_metadata("avsbench_ov_test").vocabulary,
        sounding_categories=sounding,
        sem_seg_gt=ground_truth,
    )


def _benchmark_evaluator(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    from ov_avss.data.categories import CATEGORIES
    from ov_avss.evaluation.avss_evaluator import AVSSEvaluator

    num_frames, height, width = 5, 360, 640
    generator = torch.Generator().manual_seed(0)
    clips = []
    for index in range(args.repeats):
        ground_truth = torch.randint(0, 4, (num_frames, height, width), generator=generator)
        prediction = torch.randint(0, 4, (num_frames, height, width), generator=generator)
        clips.append((
            evaluator_input_clip(index, ground_truth, CATEGORIES[:3]),
            {"sem_seg": prediction, "sounding_prob": (prediction > 0).float()},
        ))
    evaluator = AVSSEvaluator("avsbench_ov_test", None, os.path.join(work_dir, "evaluator"))
    evaluator.reset()
    start = time.perf_counter()
    for inputs, outputs in clips:
        evaluator.process([inputs], [outputs])
    process_s = time.perf_counter() - start
    evaluator.evaluate()
    total_s = time.perf_counter() - start
    frames = num_frames * len(clips)
    return {
        "frames_per_s_process": frames / process_s,
        "frames_per_s_with_evaluate": frames / total_s,
        "frames": frames,
        "frame_size": [height, width],
    }


def benchmark_data(args: argparse.Namespace) -> dict[str, Any]:
    """Training loader and AVSS evaluator, each reported independently (the audio front end is
    timed by ``--compare``)."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ov_avss_benchmark_") as work_dir:
        for name, function in (
            ("train_loader", lambda: _benchmark_loader(args, work_dir)),
            ("evaluator", lambda: _benchmark_evaluator(args, work_dir)),
        ):
            try:
                result[name] = function()
            except Exception as error:  # reported in the JSON; the other parts still run
                result[name] = error_entry(f"data/{name}", error)
    return result


# ---------------------------------------------------------------------------------------------
# --compare: ours against the published definitions, interleaved
# ---------------------------------------------------------------------------------------------
def interleaved_medians(functions: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, float]:
    """Median ms of each function, timed in turns (the order alternates every repetition) so
    that a change of machine load affects all of them alike."""
    names = list(functions)
    for _ in range(warmup):
        for name in names:
            functions[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repeats):
        for name in names if repetition % 2 == 0 else reversed(names):
            start = time.perf_counter()
            functions[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def _compare_entry(medians: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {
        "ours_ms": medians["ours"],
        "reference_ms": medians["reference"],
        "ratio_reference_over_ours": medians["reference"] / medians["ours"],
        **extra,
    }


def _label_clips(num_frames: int, frames_per_clip: int, size: int, seed: int = 0):
    """Ground truth of a few blobby regions per frame and a prediction that gets most of it
    right: int64 ``[frames_per_clip, size, size]`` pairs, labels 0..70, some pixels 255."""
    generator = torch.Generator().manual_seed(seed)
    clips = []
    for _ in range(-(-num_frames // frames_per_clip)):
        coarse = torch.randint(0, 71, (frames_per_clip, 1, 7, 7), generator=generator).float()
        ground_truth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="nearest")[:, 0].long()
        ground_truth[ground_truth > 8] = 0  # mostly background and a few classes
        prediction = ground_truth.clone()
        wrong = torch.rand(prediction.shape, generator=generator) < 0.1
        prediction[wrong] = torch.randint(0, 71, (int(wrong.sum()),), generator=generator)
        ground_truth[:, :4] = 255  # ignored rows
        clips.append((prediction, ground_truth))
    return clips


def compare_evaluator(args: argparse.Namespace) -> dict[str, Any]:
    """Our AVSSEvaluator (process + evaluate) against the release's per-frame histc loop."""
    from benchmark_reference import avss_metrics_reference
    from ov_avss.data.categories import CATEGORIES
    from ov_avss.evaluation.avss_evaluator import AVSSEvaluator

    size, frames_per_clip = 224, 5
    clips = _label_clips(args.compare_frames, frames_per_clip, size)
    inputs = [evaluator_input_clip(index, ground_truth, CATEGORIES) for index, (_, ground_truth) in enumerate(clips)]
    outputs = [{"sem_seg": prediction} for prediction, _ in clips]
    results: dict[str, dict[str, float]] = {}

    def ours() -> None:
        evaluator = AVSSEvaluator("avsbench_ov_test", None, None)
        evaluator.reset()
        for clip, output in zip(inputs, outputs):
            evaluator.process([clip], [output])
        results["ours"] = evaluator.evaluate()["sem_seg"]

    def reference() -> None:
        frames = [(p, g) for prediction, ground_truth in clips for p, g in zip(prediction, ground_truth)]
        results["reference"] = avss_metrics_reference(frames)

    medians = interleaved_medians({"ours": ours, "reference": reference}, args.warmup, args.repeats)
    difference = max(abs(results["ours"][key] - results["reference"][key]) for key in ("mIoU", "F_score"))
    return _compare_entry(
        medians,
        frames=len(clips) * frames_per_clip,
        frame_size=[size, size],
        ours_metrics={key: results["ours"][key] for key in ("mIoU", "F_score")},
        reference_metrics=results["reference"],
        max_abs_metric_difference=difference,
    )


def _write_int16_wav(path: str, seconds: float, rate: int, channels: int) -> None:
    generator = torch.Generator().manual_seed(rate)
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    columns = [0.3 * torch.sin(2 * torch.pi * (440 + 2000 * c) * t) + 0.05 * torch.randn(t.shape, generator=generator, dtype=torch.float64)
               for c in range(channels)]
    ints = (torch.stack(columns, dim=1).clamp(-1, 1) * 32767).round().to(torch.int16)
    with wave.open(path, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(ints.numpy().astype("<i2").tobytes())


def _published_wavfile_to_examples(path: str) -> torch.Tensor:
    """The published ``wavfile_to_examples`` with its default ``return_tensor=True``: int16
    samples / 32768, the numpy front end, then the release's conversion to the float32
    ``[K, 1, 96, 64]`` tensor that VGGish consumes (``torch.tensor(examples, requires_grad=True)
    [:, None].float()``), so that both sides of the comparison return the same thing."""
    import numpy as np
    from benchmark_reference import vggish_examples_reference

    with wave.open(path, "rb") as reader:
        channels, rate = reader.getnchannels(), reader.getframerate()
        ints = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    examples = vggish_examples_reference(ints.reshape(-1, channels) / 32768.0, rate)
    return torch.tensor(examples, requires_grad=True)[:, None, :, :].float()


def compare_audio(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    """Our front end (``audio_examples_for_frames``: wav decode, resampling, log-mel) against the
    published one, per 10 s wav at 16 kHz mono and 44.1 kHz stereo."""
    from benchmark_reference import resampy_available
    from ov_avss.audio import audio_examples_for_frames

    seconds = args.compare_audio_seconds
    result: dict[str, Any] = {
        "reference_resampler": "resampy (the published code)" if resampy_available()
        else "numpy transcription of resampy's loop (resampy not installed; slower than resampy)",
    }
    for rate, channels in ((16000, 1), (44100, 2)):
        path = os.path.join(work_dir, f"audio_{rate}_{channels}.wav")
        _write_int16_wav(path, seconds, rate, channels)
        outputs: dict[str, Any] = {}

        def ours() -> None:
            outputs["ours"] = audio_examples_for_frames(path, range(int(seconds)))

        def reference() -> None:
            outputs["reference"] = _published_wavfile_to_examples(path)

        medians = interleaved_medians({"ours": ours, "reference": reference}, args.warmup, args.repeats)
        expected = outputs["reference"][: int(seconds)].detach()
        result[f"{rate}_hz_{channels}ch"] = _compare_entry(
            medians,
            seconds=seconds,
            max_abs_log_mel_difference=float((outputs["ours"] - expected).abs().max()),
        )
    return result


def benchmark_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluator and audio front end against the published definitions, in one run."""
    torch.set_num_threads(args.compare_threads)
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "warmup": args.warmup, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="ov_avss_compare_") as work_dir:
        for name, function in (("evaluator", lambda: compare_evaluator(args)),
                               ("audio_frontend", lambda: compare_audio(args, work_dir))):
            try:
                result[name] = function()
            except Exception as error:  # reported in the JSON; the other comparison still runs
                result[name] = error_entry(f"compare/{name}", error)
    return result


# ---------------------------------------------------------------------------------------------
# Report: JSON + markdown tables
# ---------------------------------------------------------------------------------------------
def _ms(entry: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if not isinstance(entry, dict) or key not in entry:
            return entry.get("error", "-") if isinstance(entry, dict) else "-"
        entry = entry[key]
    return f"{entry:.3g}" if isinstance(entry, float) else str(entry)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def markdown_report(report: dict[str, Any]) -> str:
    """The report's numbers as markdown tables (one per section present)."""
    machine = report.get("machine", {})
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {machine.get('cpu_model')} ({machine.get('cpus_usable')} usable CPUs), "
        f"GPU: {machine.get('gpu') or 'none'}, driver {machine.get('gpu_driver') or '-'}, "
        f"torch {machine.get('torch')} (CUDA {machine.get('torch_cuda')}), "
        f"load average at start {machine.get('load_average_1_5_15_min_at_start')}.",
    ]
    op = report.get("op", {})
    if op.get("runs"):
        lines += ["", "## Deformable attention op (median ms)", ""]
        rows = []
        for run in op["runs"]:
            rows.append([
                run.get("shape_name", "-"), run.get("dtype", "-"),
                _ms(run.get("pytorch", {}), "forward", "median_ms"), _ms(run.get("cuda", {}), "forward", "median_ms"),
                _ms(run.get("deformops", {}), "forward", "median_ms"),
                _ms(run.get("pytorch", {}), "forward_backward", "median_ms"),
                _ms(run.get("cuda", {}), "forward_backward", "median_ms"),
                _ms(run.get("deformops", {}), "forward_backward", "median_ms"),
                _ms(run, "speedup_cuda_over_pytorch", "forward_backward"),
            ])
        lines += _table(["shapes", "dtype", "fwd PyTorch", "fwd ours", "fwd deformops", "fwd+bwd PyTorch",
                         "fwd+bwd ours", "fwd+bwd deformops", "fwd+bwd ours vs PyTorch (x)"], rows)
    model = report.get("model", {})
    if model.get("runs"):
        lines += ["", "## Model per 5-frame clip", ""]
        rows = [[
            os.path.basename(run.get("config", "-")), run.get("amp", "-"), "x".join(map(str, run.get("input_size", []))) or "-",
            _ms(run, "train_step_per_clip", "median_ms"), _ms(run, "train_step_per_clip", "peak_memory_mb"),
            _ms(run, "inference", "clips_per_s"), _ms(run, "inference", "peak_memory_mb"),
        ] for run in model["runs"]]
        lines += _table(["config", "AMP", "input", "train step ms", "train peak MB", "inference clips/s",
                         "inference peak MB"], rows)
        for run in model["runs"]:
            if run.get("profile_top10"):
                lines += ["", f"Top ops of the training step ({os.path.basename(run['config'])}, AMP {run['amp']}), "
                          "self time per step:", ""]
                lines += _table(["op", "self ms", "self CPU ms", "calls"], [
                    [event["op"], f"{event['self_ms_per_step']:.3g}", f"{event['self_cpu_ms_per_step']:.3g}",
                     f"{event['calls_per_step']:.3g}"] for event in run["profile_top10"]
                ])
    compare = report.get("compare", {})
    if compare:
        lines += ["", f"## Ours vs the published definitions ({compare.get('torch_threads')} torch thread(s), "
                  f"median of {compare.get('repeats')} interleaved runs)", ""]
        rows = []
        evaluator = compare.get("evaluator", {})
        rows.append([f"evaluator, {evaluator.get('frames', '-')} frames 224x224", _ms(evaluator, "reference_ms"),
                     _ms(evaluator, "ours_ms"), _ms(evaluator, "ratio_reference_over_ours"),
                     f"metrics differ by {_ms(evaluator, 'max_abs_metric_difference')}"])
        audio = compare.get("audio_frontend", {})
        for key, label in (("16000_hz_1ch", "16 kHz mono"), ("44100_hz_2ch", "44.1 kHz stereo")):
            entry = audio.get(key, audio if "error" in audio else {})
            rows.append([f"audio front end per {entry.get('seconds', '-')} s wav, {label}", _ms(entry, "reference_ms"),
                         _ms(entry, "ours_ms"), _ms(entry, "ratio_reference_over_ours"),
                         f"log-mel differs by {_ms(entry, 'max_abs_log_mel_difference')}"])
        lines += _table(["path", "reference ms", "ours ms", "ratio (reference / ours)", "agreement"], rows)
        if "reference_resampler" in audio:
            lines += ["", f"Reference resampler: {audio['reference_resampler']}."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], folder: str) -> tuple[str, str]:
    """``folder/benchmark.json`` and ``folder/benchmark.md`` (atomically); returns both paths."""
    os.makedirs(folder, exist_ok=True)
    json_path, markdown_path = os.path.join(folder, "benchmark.json"), os.path.join(folder, "benchmark.md")
    write_json_atomic(json_path, report)
    with atomic_open(markdown_path, "w") as handle:
        handle.write(markdown_report(report))
    return json_path, markdown_path


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_sections(text: str) -> list[str]:
    sections = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        raise argparse.ArgumentTypeError(f"--sections takes a comma list of {SECTIONS}, got {text!r}")
    return sections


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", action="append", default=[],
                        help="model config(s) for the model section (repeatable); the first also sets the "
                             "loader's input sizes. Default: tiny on CPU, R50 and Swin-B on GPU")
    parser.add_argument("--sections", type=parse_sections, default=None,
                        help="comma list of op,model,data (default: all three; none with --compare)")
    parser.add_argument("--compare", action="store_true",
                        help="time our evaluator and audio front end against the published definitions")
    parser.add_argument("--output", help="JSON file to write")
    parser.add_argument("--report-dir", help="folder for benchmark.json and benchmark.md (a summary is printed)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs (default: 1 on CPU, 5 on GPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default: 3 on CPU, 20 on GPU)")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="start no new op or model measurement after this many seconds (default: no limit)")
    parser.add_argument("--op-levels", action="append", default=None,
                        help=f"op shapes: a preset of {sorted(OP_SHAPE_PRESETS)} or HxW per level, comma "
                             "separated (repeatable; default: the R50 preset on CPU, both presets on GPU)")
    parser.add_argument("--op-dtypes", type=parse_dtypes, default=None,
                        help="comma list of float32,float16,bfloat16 (default: float32 on CPU, all on GPU)")
    parser.add_argument("--op-batch", type=int, default=5, help="batch of the op (frames of one clip)")
    parser.add_argument("--op-heads", type=int, default=8)
    parser.add_argument("--op-head-dim", type=int, default=32)
    parser.add_argument("--op-points", type=int, default=4)
    parser.add_argument("--amp", type=parse_amp_modes, default=None,
                        help="model section AMP modes, comma list of off,float16,bfloat16 "
                             "(default: off on CPU, all three on GPU)")
    parser.add_argument("--profile", action="store_true",
                        help="torch.profiler top-10 ops of the training step of --profile-config with "
                             "AMP --profile-amp")
    parser.add_argument("--profile-config", default="configs/avsbench/OV_AVSS_R50.yaml")
    parser.add_argument("--profile-amp", choices=("off", "float16", "bfloat16"), default="bfloat16",
                        help="the AMP mode whose training step --profile profiles")
    parser.add_argument("--data-clips", type=int, default=8, help="synthetic training clips for the loader")
    parser.add_argument("--loader-batches", type=int, default=24,
                        help="timed loader batches after the first; workers prefetch 2 batches each, so "
                             "use many more batches than workers")
    parser.add_argument("--compare-frames", type=int, default=1000, help="evaluator frames (224x224) of --compare")
    parser.add_argument("--compare-audio-seconds", type=int, default=10, help="wav length of --compare")
    parser.add_argument("--compare-threads", type=int, default=1, help="torch threads during --compare")
    return parser


def _fail(message: str) -> None:
    """One ``error:`` line and exit status 2, before anything is measured."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        _fail("--device cuda but no CUDA GPU is visible (torch.cuda.is_available() is False); nothing was run")
    if not args.output and not args.report_dir:
        _fail("give --output FILE.json and/or --report-dir FOLDER")
    warmup, repeats = DEFAULT_COUNTS[device.type]
    args.warmup = warmup if args.warmup is None else args.warmup
    args.repeats = repeats if args.repeats is None else args.repeats
    if args.repeats < 1 or args.warmup < 0:
        _fail(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    for name in ("compare_frames", "compare_audio_seconds", "compare_threads"):
        if getattr(args, name) < 1:
            _fail(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    try:
        for levels in args.op_levels or []:
            parse_levels(levels)
    except argparse.ArgumentTypeError as error:
        _fail(f"--op-levels: {error}")
    args.sections = args.sections if args.sections is not None else ([] if args.compare else list(SECTIONS))
    args.op_levels = args.op_levels or DEFAULT_OP_SHAPES[device.type]
    args.op_dtypes = args.op_dtypes or DEFAULT_OP_DTYPES[device.type]
    args.amp = args.amp or DEFAULT_AMP_MODES[device.type]
    args.deadline = time.monotonic() + (args.time_budget_s if args.time_budget_s is not None else float("inf"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")

    report: dict[str, Any] = {
        "machine": machine_info(device),
        "arguments": {"sections": args.sections, "compare": args.compare, "time_budget_s": args.time_budget_s},
    }
    runners = {
        "op": lambda: benchmark_op(args, device),
        "model": lambda: benchmark_model(args, device),
        "data": lambda: benchmark_data(args),
        "compare": lambda: benchmark_compare(args),
    }
    for section in args.sections + (["compare"] if args.compare else []):
        logger.info("Benchmarking %s on %s", section, device)
        try:
            report[section] = runners[section]()
        except Exception as error:  # reported in the JSON; the other sections still run
            report[section] = error_entry(section, error)
    if args.output:
        write_json_atomic(args.output, report)
        logger.info("Wrote %s", args.output)
    if args.report_dir:
        paths = write_report(report, args.report_dir)
        logger.info("Wrote %s and %s", *paths)
    print(markdown_report(report))
    return report


if __name__ == "__main__":
    main()
