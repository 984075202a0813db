#!/usr/bin/env python
"""Benchmark the deformable-attention op, the model, the data side and memory over video
length; write a JSON report (and a markdown one).

    python tools/benchmark.py --device cpu --sections op,model,data,memory,naming --output results.json
    python tools/benchmark.py --compare --output compare.json          # ours vs the published code
    python tools/benchmark.py --device cuda --profile --report-dir out/ # JSON + markdown table

A thin driver over the sections in ``tools/benchmarks/``: ``op``, ``model``, ``data``,
``memory``, ``naming`` and ``compare``. Timings are ``torch.utils.benchmark`` medians of ``--repeats`` runs
after ``--warmup`` runs; peak memory is the peak of tensor allocations above those at the start
(``torch.cuda.max_memory_allocated`` on GPU, ``torch.profiler`` allocation events on CPU), and
each entry names its method (tools/benchmarks/measure.py). A section whose dependency is
missing or fails records an ``error`` entry and the run continues. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import torch

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)
from benchmarks.compare import benchmark_compare
from benchmarks.data import benchmark_data
from benchmarks.measure import error_entry, machine_info
from benchmarks.memory import DEFAULT_MEMORY_SECONDS, benchmark_memory, parse_seconds
from benchmarks.naming import benchmark_naming
from benchmarks.model import DEFAULT_AMP_MODES, benchmark_model, parse_amp_modes, parse_compile_modes
from benchmarks.op import DEFAULT_OP_DTYPES, DEFAULT_OP_SHAPES, OP_SHAPE_PRESETS, benchmark_op, parse_dtypes, parse_levels
from benchmarks.report import markdown_report, write_report
from ov_avss.utils.file_io import write_json_atomic

logger = logging.getLogger("ov_avss.benchmark")

SECTIONS = ("op", "model", "data", "memory", "naming")
# Warm-up and repeat counts per device when not given on the command line (Timer adds two
# warm-up calls before each timed one, tools/benchmarks/measure.py).
DEFAULT_COUNTS = {"cpu": (0, 3), "cuda": (0, 10)}


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
                        help="comma list of op,model,data,memory,naming (default: op,model,data; none with --compare)")
    parser.add_argument("--compare", action="store_true",
                        help="time our evaluator and audio front end against the published definitions")
    parser.add_argument("--output", help="JSON file to write")
    parser.add_argument("--report-dir", help="folder for benchmark.json and benchmark.md (a summary is printed)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="extra warm-up runs before the first timed run (default: 0; Timer warms up before each)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default: 3 on CPU, 10 on GPU)")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="start no new op or model measurement after this many seconds (default: no limit)")
    parser.add_argument("--op-levels", action="append", default=None,
                        help=f"op shapes: a preset of {sorted(OP_SHAPE_PRESETS)} or HxW per level, comma "
                             "separated (repeatable; default: the R50 preset on CPU, both presets on GPU)")
    parser.add_argument("--op-dtypes", type=parse_dtypes, default=None,
                        help="comma list of float32,float16,bfloat16 (default: float32 on CPU, all on GPU)")
    parser.add_argument("--op-batch", type=int, default=5, help="batch of the op (frames of one window)")
    parser.add_argument("--op-heads", type=int, default=8)
    parser.add_argument("--op-head-dim", type=int, default=32)
    parser.add_argument("--op-points", type=int, default=4)
    parser.add_argument("--amp", type=parse_amp_modes, default=None,
                        help="model section AMP modes, comma list of off,float16,bfloat16 "
                             "(default: off on CPU, all three on GPU)")
    parser.add_argument("--compile", type=parse_compile_modes, default=None,
                        help="model section MODEL.COMPILE settings, comma list of off,on (default: off)")
    parser.add_argument("--explain", action="store_true",
                        help="torch._dynamo.explain graph breaks of each model config's training forward and "
                             "inference (with compile off and the first --amp mode)")
    parser.add_argument("--memory-seconds", type=parse_seconds, default=None,
                        help=f"memory section video lengths in seconds at 1 fps (default: {DEFAULT_MEMORY_SECONDS})")
    parser.add_argument("--memory-avism-config", default="configs/avis/AVISM_tiny_synthetic.yaml")
    parser.add_argument("--memory-ov-avss-config", default="configs/tiny/OV_AVSS_tiny.yaml")
    parser.add_argument("--naming-config", default="configs/tiny/OV_AVSS_tiny.yaml",
                        help="OV-AVSS config of the naming section (random weights)")
    parser.add_argument("--profile", action="store_true",
                        help="torch.profiler top-10 ops of the training step of --profile-config with "
                             "AMP --profile-amp")
    parser.add_argument("--profile-config", default="configs/avsbench/OV_AVSS_R50.yaml")
    parser.add_argument("--profile-amp", choices=("off", "float16", "bfloat16"), default="bfloat16",
                        help="the AMP mode whose training step --profile profiles")
    parser.add_argument("--data-clips", type=int, default=8, help="synthetic training windows for the loader")
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
    args.sections = args.sections if args.sections is not None else ([] if args.compare else ["op", "model", "data"])
    args.op_levels = args.op_levels or DEFAULT_OP_SHAPES[device.type]
    args.op_dtypes = args.op_dtypes or DEFAULT_OP_DTYPES[device.type]
    args.amp = args.amp or DEFAULT_AMP_MODES[device.type]
    args.compile = args.compile or ["off"]
    args.memory_seconds = args.memory_seconds or list(DEFAULT_MEMORY_SECONDS)
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
        "memory": lambda: benchmark_memory(args, device),
        "naming": lambda: benchmark_naming(args, device),
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
