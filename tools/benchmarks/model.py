"""The model section: training step (forward, backward, AdamW) and inference per window, per
config, AMP mode and ``MODEL.COMPILE`` setting; the first step's losses (same seed) so compile
on / off can be compared; ``torch._dynamo.explain`` graph breaks; the profiler's top ops."""
from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import torch

from .measure import error_entry, measure, synchronize

DEFAULT_MODEL_CONFIGS = {
    "cpu": ["configs/tiny/OV_AVSS_tiny.yaml"],
    "cuda": ["configs/avsbench/OV_AVSS_R50.yaml", "configs/avsbench/swin/OV_AVSS_SwinB.yaml"],
}
# AMP settings of the model section: "off" or the autocast dtype.
DEFAULT_AMP_MODES = {"cpu": ["off"], "cuda": ["off", "float16", "bfloat16"]}
COMPILE_MODES = ("off", "on")


def parse_amp_modes(text: str) -> list[str]:
    modes = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(modes) - {"off", "float16", "bfloat16"})
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"--amp takes a comma list of off,float16,bfloat16, got {text!r}")
    return modes


def parse_compile_modes(text: str) -> list[str]:
    modes = [item.strip() for item in text.split(",") if item.strip()]
    if set(modes) - set(COMPILE_MODES) or not modes:
        raise argparse.ArgumentTypeError(f"--compile takes a comma list of off,on, got {text!r}")
    return modes


def _training_window(cfg, vocabulary: tuple[str, ...], num_frames: int, with_targets: bool) -> dict[str, Any]:
    """A synthetic ``VideoInput`` (docs/architecture.md) at the config's test size, 16:9."""
    from ov_avss.structures import make_video_input

    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = min(int(round(height * 16 / 9)), int(cfg.INPUT.MAX_SIZE_TEST))
    generator = torch.Generator().manual_seed(0)
    optional: dict[str, Any] = {}
    if with_targets:
        masks = torch.zeros(1, num_frames, height, width, dtype=torch.bool)
        masks[:, :, height // 4 : 3 * height // 4, width // 4 : width // 2] = True
        optional["targets"] = {"labels": torch.tensor([0]), "masks": masks}
    return make_video_input(
        uid="benchmark_window",
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


def _avism_video(cfg, num_frames: int, with_targets: bool) -> dict[str, Any]:
    """A synthetic AVISM video (the model's input dict) at the config's test size, 16:9: one
    sounding instance in every frame when ``with_targets``."""
    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = min(int(round(height * 16 / 9)), int(cfg.INPUT.MAX_SIZE_TEST))
    generator = torch.Generator().manual_seed(0)
    audio_shape = (num_frames, 1, 96, 64) if cfg.MODEL.AVISM.AUDIO_ENCODER_ON else (num_frames, cfg.MODEL.AVISM.AUDIO_DIM)
    video: dict[str, Any] = {
        "uid": "benchmark_video",
        "frames": torch.randint(0, 256, (num_frames, 3, height, width), dtype=torch.uint8, generator=generator),
        "audio": torch.randn(*audio_shape, generator=generator),
        "height": height,
        "width": width,
    }
    if with_targets:
        masks = torch.zeros(1, num_frames, height, width, dtype=torch.bool)
        masks[:, :, height // 4 : 3 * height // 4, width // 4 : width // 2] = True
        video["targets"] = {"labels": torch.tensor([0]), "masks": masks}
    return video


def _profile_top_ops(step: Callable[[], None], device: torch.device, steps: int, top: int = 10) -> list[dict[str, Any]]:
    """``torch.profiler`` over ``steps`` calls of ``step``: the ``top`` ops by self time on the
    device (self CPU time on CPU), times per step in ms."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        for _ in range(steps):
            step()
        synchronize(device)
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


def graph_breaks(function: Callable[..., Any], *inputs: Any) -> dict[str, Any]:
    """``torch._dynamo.explain`` of ``function(*inputs)``: graphs, breaks and each distinct
    break reason with the place in our code (or the library) where it happened."""
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(function)(*inputs)
    reasons: dict[str, dict[str, Any]] = {}
    for reason in explanation.break_reasons:
        frame = reason.user_stack[-1] if reason.user_stack else None
        where = f"{os.path.relpath(frame.filename)}:{frame.lineno}" if frame is not None else "-"
        text = reason.reason.strip().splitlines()[0][:200]
        entry = reasons.setdefault(f"{where} {text}", {"where": where, "reason": text, "count": 0})
        entry["count"] += 1
    torch._dynamo.reset()
    return {
        "graphs": explanation.graph_count,
        "graph_breaks": explanation.graph_break_count,
        "reasons": sorted(reasons.values(), key=lambda entry: -entry["count"]),
    }


def _benchmark_model_config(
    config_file: str, args: argparse.Namespace, device: torch.device, amp_mode: str, compile_mode: str
) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.catalog import get_dataset_metadata, with_seen_categories
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    amp = amp_mode != "off"
    cfg.SOLVER.AMP.ENABLED = amp
    if amp:
        cfg.SOLVER.AMP.DTYPE = amp_mode
    cfg.MODEL.COMPILE = compile_mode == "on"
    cfg.freeze()
    torch._dynamo.reset()
    # Random weights (the same for every AMP / compile setting): timings do not depend on the
    # values, and the published configs' weight files need not be present.
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(with_seen_categories(cfg), device.type)
    num_frames = int(cfg.INPUT.SAMPLING_FRAME_NUM)
    if cfg.MODEL.META_ARCHITECTURE == "AVISM":
        train_window = _avism_video(cfg, num_frames, with_targets=True)
        test_window = _avism_video(cfg, num_frames, with_targets=False)
    else:
        vocabulary = get_dataset_metadata(cfg.DATASETS.TRAIN[0]).vocabulary
        train_window = _training_window(cfg, vocabulary, num_frames, with_targets=True)
        test_window = _training_window(
            cfg, get_dataset_metadata(cfg.DATASETS.TEST[0]).vocabulary, num_frames, with_targets=False
        )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.SOLVER.BASE_LR)
    amp_dtype = getattr(torch, cfg.SOLVER.AMP.DTYPE)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and amp_dtype == torch.float16)

    def losses() -> dict[str, torch.Tensor]:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            return model([train_window])

    def train_step() -> None:
        total = sum(losses().values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()

    def inference() -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            model([test_window])

    result: dict[str, Any] = {"config": config_file, "amp": amp_mode, "compile": compile_mode}
    # The losses of the untrained model, before any optimizer step: equal (to float
    # tolerance) with compile on and off. Matching with the random draws of the criterion
    # needs the same seed before the call.
    model.train()
    torch.manual_seed(1)
    start = time.perf_counter()
    result["first_losses"] = {name: float(value.detach()) for name, value in losses().items()}
    # With MODEL.COMPILE this call compiled the training graphs.
    result["first_call_s"] = time.perf_counter() - start
    # Inference first: on CPU the allocator keeps what a training step freed.
    model.eval()
    infer = measure(inference, device, args.warmup, args.repeats)
    model.train()
    train = measure(train_step, device, args.warmup, args.repeats)
    result.update({
        "frames_per_window": num_frames,
        "input_size": [int(train_window["height"]), int(train_window["width"])],
        "train_step_per_clip": train,
        "inference": {**infer, "clips_per_s": 1e3 / infer["median_ms"]},
        "warmup": args.warmup,
        "repeats": args.repeats,
    })
    if args.profile and amp_mode == args.profile_amp and config_file == args.profile_config and compile_mode == "off":
        result["profile_top10"] = _profile_top_ops(train_step, device, steps=max(1, min(args.repeats, 5)))
    if args.explain and compile_mode == "off" and amp_mode == args.amp[0]:
        model.train()
        result["graph_breaks_train_forward"] = graph_breaks(losses)
        model.eval()
        result["graph_breaks_inference_forward"] = graph_breaks(inference)
    return result


def _max_loss_difference(runs: list[dict[str, Any]]) -> None:
    """Adds to each compile-on run the largest |loss difference| to its compile-off twin."""
    eager = {(run["config"], run["amp"]): run for run in runs if run.get("compile") == "off" and "first_losses" in run}
    for run in runs:
        twin = eager.get((run["config"], run["amp"]))
        if run.get("compile") == "on" and "first_losses" in run and twin is not None:
            run["max_abs_first_loss_difference_to_eager"] = max(
                abs(value - twin["first_losses"][name]) for name, value in run["first_losses"].items()
            )


def benchmark_model(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Training step and inference per window, per config, AMP mode and compile setting."""
    configs = args.config or DEFAULT_MODEL_CONFIGS[device.type]
    runs = []
    for config_file in configs:
        for amp_mode in args.amp:
            for compile_mode in args.compile:
                entry = {"config": config_file, "amp": amp_mode, "compile": compile_mode}
                if time.monotonic() > args.deadline:
                    runs.append({**entry, "error": "skipped: --time-budget-s spent"})
                    continue
                try:
                    runs.append(_benchmark_model_config(config_file, args, device, amp_mode, compile_mode))
                except Exception as error:  # reported in the JSON; the next config still runs
                    runs.append({**entry, **error_entry(f"model/{config_file}/{amp_mode}/{compile_mode}", error)})
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    _max_loss_difference(runs)
    return {"runs": runs}
