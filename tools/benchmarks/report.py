"""The report: JSON and one markdown table per section present."""
from __future__ import annotations

import os
from typing import Any

from ov_avss.utils.file_io import atomic_open, write_json_atomic


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
                _ms(run.get("pytorch", {}), "forward", "median_ms"), _ms(run.get("kernel", {}), "forward", "median_ms"),
                _ms(run.get("deformops", {}), "forward", "median_ms"),
                _ms(run.get("pytorch", {}), "forward_backward", "median_ms"),
                _ms(run.get("kernel", {}), "forward_backward", "median_ms"),
                _ms(run.get("deformops", {}), "forward_backward", "median_ms"),
                _ms(run, "speedup_kernel_over_pytorch", "forward"),
                _ms(run, "speedup_kernel_over_pytorch", "forward_backward"),
                _ms(run, "max_abs_forward_difference_kernel_pytorch"),
            ])
        lines += _table(["shapes", "dtype", "fwd PyTorch", "fwd ours", "fwd deformops", "fwd+bwd PyTorch",
                         "fwd+bwd ours", "fwd+bwd deformops", "fwd ours vs PyTorch (x)",
                         "fwd+bwd ours vs PyTorch (x)", "max fwd difference"], rows)
    model = report.get("model", {})
    if model.get("runs"):
        lines += ["", "## Model per 5-frame window", ""]
        rows = [[
            os.path.basename(run.get("config", "-")), run.get("amp", "-"), run.get("compile", "-"),
            "x".join(map(str, run.get("input_size", []))) or "-",
            _ms(run, "train_step_per_clip", "median_ms"), _ms(run, "train_step_per_clip", "peak_memory_mb"),
            _ms(run, "inference", "clips_per_s"), _ms(run, "inference", "peak_memory_mb"),
            _ms(run, "first_call_s"), _ms(run, "max_abs_first_loss_difference_to_eager"),
        ] for run in model["runs"]]
        lines += _table(["config", "AMP", "compile", "input", "train step ms", "train peak MB", "inference windows/s",
                         "inference peak MB", "first call s", "loss diff to eager"], rows)
        for run in model["runs"]:
            for key, label in (("graph_breaks_train_forward", "training forward"),
                               ("graph_breaks_inference_forward", "inference")):
                if run.get(key):
                    breaks = run[key]
                    lines += ["", f"`torch._dynamo.explain` of the {label} ({os.path.basename(run['config'])}): "
                              f"{breaks['graphs']} graphs, {breaks['graph_breaks']} breaks", ""]
                    lines += _table(["where", "reason", "count"], [
                        [entry["where"], entry["reason"].replace("|", "/"), str(entry["count"])]
                        for entry in breaks["reasons"]
                    ])
        for run in model["runs"]:
            if run.get("profile_top10"):
                lines += ["", f"Top ops of the training step ({os.path.basename(run['config'])}, AMP {run['amp']}), "
                          "self time per step:", ""]
                lines += _table(["op", "self ms", "self CPU ms", "calls"], [
                    [event["op"], f"{event['self_ms_per_step']:.3g}", f"{event['self_cpu_ms_per_step']:.3g}",
                     f"{event['calls_per_step']:.3g}"] for event in run["profile_top10"]
                ])
    memory = report.get("memory", {})
    if memory:
        lines += ["", "## Peak tensor memory over video length", ""]
        rows = []
        for family in ("avism_whole_video", "ov_avss_demo"):
            entry = memory.get(family, {})
            if "error" in entry:
                rows.append([family, "-", "-", entry["error"], "-"])
            for run in entry.get("runs", []):
                rows.append([family, str(run.get("frames", "-")), _ms(run, "seconds_at_1_fps"), _ms(run, "peak_memory_mb"),
                             _ms(run, "output_mb")])
        lines += _table(["what", "frames", "video s (1 fps)", "peak MB", "of which the output MB"], rows)
        for family in ("avism_whole_video", "ov_avss_demo"):
            if memory.get(family, {}).get("bound"):
                lines += ["", f"{family}: {memory[family]['bound']}"]
    naming = report.get("naming", {})
    if naming:
        lines += ["", "## Naming stage per window (every (frame, query) region through CLIP)", ""]
        lines += _table(["window", "regions", "reference ms", "ours ms", "CLIP passes only ms",
                         "ratio (reference / ours)", "ours / CLIP floor", "max probability difference"], [[
            f"{naming.get('frames', '-')} frames, {naming.get('queries', '-')} queries, "
            f"{naming.get('vocabulary', '-')} names", str(naming.get("regions", naming.get("error", "-"))),
            _ms(naming, "reference_ms"), _ms(naming, "ours_ms"), _ms(naming, "clip_passes_only_ms"),
            _ms(naming, "ratio_reference_over_ours"), _ms(naming, "ours_over_clip_floor"),
            _ms(naming, "max_abs_probability_difference"),
        ]])
        if naming.get("profile_top10"):
            lines += ["", "Top ops of ours (self CPU time per window):", ""]
            lines += _table(["op", "self ms", "calls"], [
                [event["op"], f"{event['self_ms_per_step']:.3g}", f"{event['calls_per_step']:.3g}"]
                for event in naming["profile_top10"]
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
