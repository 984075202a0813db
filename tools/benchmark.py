#!/usr/bin/env python
"""Benchmark the deformable-attention op, the model and the data side; write a JSON report.

    python tools/benchmark.py --device cpu --sections op,model,data --output results.json

Every timing is the median of ``--repeats`` runs after ``--warmup`` runs. Peak memory is
``torch.cuda.max_memory_allocated`` above the allocation at the start on GPU, and the growth of
the process's peak resident set (VmHWM after resetting it, minus VmRSS at the start) on CPU;
each entry names the method it used. A section whose dependency is missing or fails records an
``error`` entry and the run continues. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import statistics
import tempfile
import time
import traceback
from typing import Any, Callable

import torch

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)
from ov_avss.utils.file_io import write_json_atomic

logger = logging.getLogger("ov_avss.benchmark")

SECTIONS = ("op", "model", "data")
# R50 pixel decoder at a 360x640 input: res3, res4, res5 (strides 8, 16, 32).
DEFAULT_OP_LEVELS = "45x80,23x40,12x20"
DEFAULT_MODEL_CONFIGS = {
    "cpu": ["configs/tiny/OV_AVSS_tiny.yaml"],
    "cuda": ["configs/avsbench/OV_AVSS_R50.yaml", "configs/avsbench/swin/OV_AVSS_SwinB.yaml"],
}
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
        # Other processes on the machine slow every number down; this says how busy it was.
        "load_average_1_5_15_min_at_start": list(os.getloadavg()),
    }
    return info


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def parse_levels(text: str) -> list[tuple[int, int]]:
    """``"45x80,23x40"`` -> ``[(45, 80), (23, 40)]`` (height x width)."""
    levels = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise argparse.ArgumentTypeError(f"level sizes must look like 45x80,23x40; got {item!r} in {text!r}")
        levels.append((int(parts[0]), int(parts[1])))
    return levels


def benchmark_op(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """ms_deform_attn forward and forward+backward, kernel vs PyTorch, all tokens as queries."""
    from ov_avss.ops import MSDeformAttnFunction, get_extension, ms_deform_attn_pytorch

    levels = parse_levels(args.op_levels)
    spatial_shapes = torch.tensor(levels, dtype=torch.int64, device=device)
    sizes = spatial_shapes.prod(1)
    level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
    num_tokens = int(sizes.sum())
    generator = torch.Generator(device="cpu").manual_seed(0)
    shape = (args.op_batch, num_tokens, args.op_heads)
    value = torch.randn(*shape, args.op_head_dim, generator=generator).to(device)
    sampling_locations = torch.rand(*shape, len(levels), args.op_points, 2, generator=generator).to(device)
    attention_weights = (
        torch.rand(*shape, len(levels) * args.op_points, generator=generator)
        .softmax(-1)
        .view(*shape, len(levels), args.op_points)
        .to(device)
    )
    grad_output = torch.randn(args.op_batch, num_tokens, args.op_heads * args.op_head_dim, generator=generator).to(device)
    result: dict[str, Any] = {
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

    implementations: dict[str, Callable[..., torch.Tensor] | None] = {"pytorch": ms_deform_attn_pytorch}
    if device.type == "cuda":
        extension, reason = get_extension()
        if extension is None:
            result["cuda"] = {"error": f"CUDA kernel unavailable: {reason}"}
        else:
            implementations["cuda"] = lambda *inputs: MSDeformAttnFunction.apply(extension, *inputs)
    else:
        result["cuda"] = {"error": "not measured: --device cpu (the kernel runs on CUDA tensors only)"}

    for name, function in implementations.items():
        try:
            def forward() -> torch.Tensor:
                with torch.no_grad():
                    return function(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)

            def forward_backward() -> None:
                inputs = [t.detach().requires_grad_(True) for t in (value, sampling_locations, attention_weights)]
                output = function(inputs[0], spatial_shapes, level_start_index, inputs[1], inputs[2])
                output.backward(grad_output)

            result[name] = {
                "forward": measure(forward, device, args.warmup, args.repeats),
                "forward_backward": measure(forward_backward, device, args.warmup, args.repeats),
            }
        except Exception as error:  # reported in the JSON; the other implementation still runs
            result[name] = error_entry(f"op/{name}", error)
    if "forward" in result.get("cuda", {}) and "forward" in result.get("pytorch", {}):
        result["speedup_cuda_over_pytorch"] = {
            phase: result["pytorch"][phase]["median_ms"] / result["cuda"][phase]["median_ms"]
            for phase in ("forward", "forward_backward")
        }
    return result


def _training_clip(cfg, vocabulary: tuple[str, ...], num_frames: int, with_targets: bool) -> dict[str, Any]:
    """A synthetic clip dict (docs/architecture.md) at the config's test size, 16:9."""
    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = min(int(round(height * 16 / 9)), int(cfg.INPUT.MAX_SIZE_TEST))
    generator = torch.Generator().manual_seed(0)
    clip: dict[str, Any] = {
        "uid": "benchmark_clip",
        "dataset_name": "benchmark",
        "frame_indices": list(range(num_frames)),
        "height": height,
        "width": width,
        "frames": torch.randint(0, 256, (num_frames, 3, height, width), dtype=torch.uint8, generator=generator),
        "audio": torch.randn(num_frames, 1, 96, 64, generator=generator),
        "vocabulary": list(vocabulary),
        "frame_valid": torch.ones(num_frames, dtype=torch.bool),
        "sounding_categories": [vocabulary[0]],
    }
    if with_targets:
        masks = torch.zeros(1, num_frames, height, width, dtype=torch.bool)
        masks[:, :, height // 4 : 3 * height // 4, width // 4 : width // 2] = True
        clip["targets"] = {"labels": torch.tensor([0]), "masks": masks}
    return clip


def _benchmark_model_config(config_file: str, args: argparse.Namespace, device: torch.device, amp: bool) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.catalog import get_dataset_metadata
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.SOLVER.AMP.ENABLED = amp
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
    return {
        "config": config_file,
        "amp": amp,
        "amp_dtype": cfg.SOLVER.AMP.DTYPE if amp else None,
        "frames_per_clip": num_frames,
        "input_size": [train_clip["height"], train_clip["width"]],
        "train_step_per_clip": train,
        "inference": {**infer, "clips_per_s": 1e3 / infer["median_ms"]},
        "warmup": args.warmup,
        "repeats": args.repeats,
    }


def benchmark_model(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Training step (forward, backward, AdamW) and inference per clip, per config (and AMP on GPU)."""
    configs = args.config or DEFAULT_MODEL_CONFIGS[device.type]
    amp_settings = (False, True) if device.type == "cuda" else (False,)
    runs = []
    for config_file in configs:
        for amp in amp_settings:
            try:
                runs.append(_benchmark_model_config(config_file, args, device, amp))
            except Exception as error:  # reported in the JSON; the next config still runs
                runs.append({"config": config_file, "amp": amp, **error_entry(f"model/{config_file}", error)})
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"runs": runs}


def _benchmark_audio(args: argparse.Namespace) -> dict[str, Any]:
    from ov_avss.data.audio import waveform_to_examples

    generator = torch.Generator().manual_seed(0)
    result = {}
    for sample_rate in (16000, 44100):
        waveform = (0.1 * torch.randn(10 * sample_rate, generator=generator)).clamp(-1.0, 1.0)
        examples = waveform_to_examples(waveform, sample_rate)
        timing = measure(lambda: waveform_to_examples(waveform, sample_rate), torch.device("cpu"), args.warmup, args.repeats)
        result[f"{sample_rate}_hz"] = {"ms_per_10s_clip": timing["median_ms"], "examples": int(examples.shape[0])}
    return result


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
            {
                "uid": f"clip{index}",
                "dataset_name": "avsbench_ov_test",
                "frame_indices": list(range(num_frames)),
                "height": height,
                "width": width,
                "vocabulary": list(CATEGORIES),
                "frame_valid": torch.ones(num_frames, dtype=torch.bool),
                "sem_seg_gt": ground_truth,
                "sounding_categories": list(CATEGORIES[:3]),
            },
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
    """Audio front end, training loader and AVSS evaluator, each reported independently."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ov_avss_benchmark_") as work_dir:
        for name, function in (
            ("audio_frontend", lambda: _benchmark_audio(args)),
            ("train_loader", lambda: _benchmark_loader(args, work_dir)),
            ("evaluator", lambda: _benchmark_evaluator(args, work_dir)),
        ):
            try:
                result[name] = function()
            except Exception as error:  # reported in the JSON; the other parts still run
                result[name] = error_entry(f"data/{name}", error)
    return result


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
    parser.add_argument("--sections", type=parse_sections, default=list(SECTIONS), help="comma list of op,model,data")
    parser.add_argument("--output", required=True, help="JSON file to write")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs (default: 1 on CPU, 5 on GPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default: 3 on CPU, 20 on GPU)")
    parser.add_argument("--op-levels", default=DEFAULT_OP_LEVELS, help="HxW per level, comma separated")
    parser.add_argument("--op-batch", type=int, default=5, help="batch of the op (frames of one clip)")
    parser.add_argument("--op-heads", type=int, default=8)
    parser.add_argument("--op-head-dim", type=int, default=32)
    parser.add_argument("--op-points", type=int, default=4)
    parser.add_argument("--data-clips", type=int, default=8, help="synthetic training clips for the loader")
    parser.add_argument("--loader-batches", type=int, default=24,
                        help="timed loader batches after the first; workers prefetch 2 batches each, so "
                             "use many more batches than workers")
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is visible")
    warmup, repeats = DEFAULT_COUNTS[device.type]
    args.warmup = warmup if args.warmup is None else args.warmup
    args.repeats = repeats if args.repeats is None else args.repeats
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")

    report: dict[str, Any] = {"machine": machine_info(device), "arguments": {"sections": args.sections}}
    runners = {
        "op": lambda: benchmark_op(args, device),
        "model": lambda: benchmark_model(args, device),
        "data": lambda: benchmark_data(args),
    }
    for section in args.sections:
        logger.info("Benchmarking %s on %s", section, device)
        try:
            report[section] = runners[section]()
        except Exception as error:  # reported in the JSON; the other sections still run
            report[section] = error_entry(section, error)
    write_json_atomic(args.output, report)
    logger.info("Wrote %s", args.output)
    return report


if __name__ == "__main__":
    main()
