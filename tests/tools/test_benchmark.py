"""tools/benchmark.py: the CPU parts (op section at tiny shapes, the model section without
weight files, --compare at small sizes, the report writer, argument handling and the exit
without a GPU) and the published-definition references of tools/benchmark_reference.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
# No GPU visible, one thread: the same behaviour on any machine.
ENV = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}


def _run(*arguments: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"), *arguments],
        capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, env=ENV,
    )


def test_op_section_writes_json(tmp_path):
    output = tmp_path / "results.json"
    completed = _run(
        "--device", "cpu", "--sections", "op", "--output", str(output), "--warmup", "0", "--repeats", "1",
        "--op-levels", "6x8,3x4", "--op-levels", "2x2", "--op-dtypes", "float32,bfloat16",
        "--op-batch", "1", "--op-heads", "2", "--op-head-dim", "4", "--op-points", "2",
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert set(report) == {"machine", "arguments", "op"}
    machine = report["machine"]
    assert machine["device"] == "cpu" and machine["gpu"] is None and machine["cpu_count"] >= 1
    assert machine["torch"] and machine["cpu_model"]
    runs = report["op"]["runs"]
    assert [(run["shape_name"], run["dtype"]) for run in runs] == [
        ("6x8,3x4", "float32"), ("6x8,3x4", "bfloat16"), ("2x2", "float32"), ("2x2", "bfloat16"),
    ]
    assert runs[0]["shapes"] == {
        "batch": 1, "levels": [[6, 8], [3, 4]], "heads": 2, "channels_per_head": 4, "points": 2, "queries": 60,
    }
    for run in runs:
        # On CPU both the PyTorch path and our kernel's CPU build run, through the same op.
        for impl in ("pytorch", "kernel"):
            for phase in ("forward", "forward_backward"):
                entry = run[impl][phase]
                assert entry["median_ms"] > 0 and entry["iqr_ms"] >= 0 and entry["peak_memory_mb"] > 0
                assert entry["memory_method"].startswith("torch.profiler")
        assert run["speedup_kernel_over_pytorch"]["forward"] > 0
        tolerance = 1e-5 if run["dtype"] == "float32" else 2e-2
        assert run["max_abs_forward_difference_kernel_pytorch"] < tolerance
    assert "| 2x2 | bfloat16 |" in completed.stdout  # the printed summary table


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--sections", "op,gpu", "--output", "r.json"], "--sections takes a comma list"),
        (["--op-dtypes", "float8", "--output", "r.json"], "dtypes must be a comma list"),
        (["--amp", "on", "--output", "r.json"], "--amp takes a comma list"),
        (["--compile", "yes", "--output", "r.json"], "--compile takes a comma list of off,on"),
        (["--memory-seconds", "60", "--output", "r.json"], "--memory-seconds takes at least two"),
        (["--op-levels", "r50", "--output", "r.json"], "--op-levels: level sizes must look like"),
        (["--sections", "op"], "give --output FILE.json and/or --report-dir FOLDER"),
        (["--compare", "--compare-frames", "0", "--output", "r.json"], "--compare-frames must be >= 1"),
        (["--device", "cuda", "--output", "r.json"], "no CUDA GPU is visible"),
    ],
)
def test_bad_arguments_exit_2_before_running(tmp_path, arguments, message):
    completed = _run(*[str(tmp_path / a) if a == "r.json" else a for a in arguments], timeout=60)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith(("error:", "benchmark.py: error:"))
    assert not (tmp_path / "r.json").exists()


def test_model_section_reads_no_weight_file(tmp_path):
    """A config naming weight files that do not exist still gets timings, not an error entry:
    the benchmark builds the model with random VGGish / CLIP weights and no MODEL.WEIGHTS."""
    config = tmp_path / "tiny_with_missing_weights.yaml"
    config.write_text(
        f"_BASE_: {REPO_ROOT / 'configs/tiny/OV_AVSS_tiny.yaml'}\n"
        "MODEL:\n"
        f"  WEIGHTS: {tmp_path / 'missing_model_final.pkl'}\n"
        f"  AUDIO: {{RANDOM_INIT: False, WEIGHTS: {tmp_path / 'missing_vggish.pth'}}}\n"
        f"  CLIP_ADAPTER: {{RANDOM_INIT: False, CLIP_PRETRAINED: {tmp_path / 'missing_clip.pt'}}}\n"
        "INPUT: {MIN_SIZE_TEST: 32, MAX_SIZE_TEST: 64}\n"
        "SOLVER: {IMS_PER_BATCH: 1}\n"
    )
    completed = _run(
        "--device", "cpu", "--sections", "model", "--config", str(config), "--report-dir", str(tmp_path / "out"),
        "--warmup", "0", "--repeats", "1", "--amp", "off", "--profile", "--profile-amp", "off",
        "--profile-config", str(config),
    )
    assert completed.returncode == 0, completed.stderr
    (run,) = json.loads((tmp_path / "out" / "benchmark.json").read_text())["model"]["runs"]
    assert "error" not in run, run
    assert run["config"] == str(config) and run["input_size"] == [32, 57] and run["amp"] == "off"
    assert run["compile"] == "off" and run["first_losses"] and run["first_call_s"] > 0
    assert run["train_step_per_clip"]["median_ms"] > 0 and run["inference"]["clips_per_s"] > 0
    top = run["profile_top10"]
    assert 1 <= len(top) <= 10 and all(event["self_ms_per_step"] >= 0 for event in top)
    assert top == sorted(top, key=lambda event: -event["self_ms_per_step"])
    markdown = (tmp_path / "out" / "benchmark.md").read_text()
    assert "## Model per 5-frame window" in markdown and "Top ops of the training step" in markdown


def test_compare_reports_ratios_and_agreement(tmp_path):
    output = tmp_path / "compare.json"
    completed = _run(
        "--compare", "--compare-frames", "10", "--compare-audio-seconds", "2", "--warmup", "0", "--repeats", "1",
        "--output", str(output), timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    compare = json.loads(output.read_text())["compare"]
    assert compare["torch_threads"] == 1
    evaluator = compare["evaluator"]
    assert evaluator["frames"] == 10 and evaluator["frame_size"] == [224, 224]
    assert evaluator["ratio_reference_over_ours"] == pytest.approx(evaluator["reference_ms"] / evaluator["ours_ms"])
    assert evaluator["max_abs_metric_difference"] < 1e-9
    audio = compare["audio_frontend"]
    for key in ("16000_hz_1ch", "44100_hz_2ch"):
        assert audio[key]["seconds"] == 2 and audio[key]["ours_ms"] > 0 and audio[key]["reference_ms"] > 0
        assert audio[key]["max_abs_log_mel_difference"] < 1e-2
    assert "ratio (reference / ours)" in completed.stdout


def test_interleaved_medians_alternate_the_order():
    load_tool("benchmark")
    from benchmarks.measure import interleaved_medians

    calls: list[str] = []
    medians = interleaved_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 1, 3)
    # Warm-up a, b; then each timed turn is Timer.timeit(1): its 2 warm-up calls and the timed one.
    assert calls == ["a", "b"] + ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3 + ["a"] * 3 + ["b"] * 3
    assert set(medians) == {"a", "b"} and all(value >= 0 for value in medians.values())


def test_cpu_peak_memory_follows_allocations_and_frees():
    load_tool("benchmark")
    from benchmarks.measure import peak_memory_mb

    def allocate() -> torch.Tensor:
        first = torch.zeros(1024, 1024)  # 4 MiB
        second = torch.zeros(2048, 1024)  # 8 MiB: 12 MiB live
        del first
        third = torch.zeros(1024, 1024)  # 4 MiB again: 12 MiB live, not 16
        return second, third

    entry = peak_memory_mb(allocate, torch.device("cpu"))
    assert entry["peak_memory_mb"] == pytest.approx(12.0, abs=0.1)


def test_report_writer_tables(tmp_path):
    load_tool("benchmark")
    from benchmarks import report as benchmark
    timing = {"median_ms": 2.5, "peak_memory_mb": 10.0, "memory_method": "cuda"}
    report = {
        "machine": {"cpu_model": "CPU X", "cpus_usable": 4, "gpu": "GPU Y", "gpu_driver": "555.1", "torch": "2.11"},
        "op": {"runs": [{
            "shape_name": "r50_360x640", "dtype": "bfloat16",
            "pytorch": {"forward": timing, "forward_backward": {**timing, "median_ms": 10.0}},
            "kernel": {"forward": {**timing, "median_ms": 0.5}, "forward_backward": {**timing, "median_ms": 1.0}},
            "deformops": {"error": "not importable: no module"},
            "speedup_kernel_over_pytorch": {"forward": 5.0, "forward_backward": 10.0},
            "max_abs_forward_difference_kernel_pytorch": 2e-06,
        }]},
        "model": {"runs": [
            {"config": "configs/avsbench/OV_AVSS_R50.yaml", "amp": "off", "compile": "on", "input_size": [360, 640],
             "first_call_s": 40.0, "max_abs_first_loss_difference_to_eager": 1e-06,
             "train_step_per_clip": {**timing, "median_ms": 300.0}, "inference": {**timing, "clips_per_s": 4.0}},
            {"config": "configs/avsbench/swin/OV_AVSS_SwinB.yaml", "amp": "float16", "error": "RuntimeError: oom"},
        ]},
    }
    json_path, markdown_path = benchmark.write_report(report, str(tmp_path / "report"))
    assert json.loads(Path(json_path).read_text()) == report
    markdown = Path(markdown_path).read_text()
    assert "GPU: GPU Y, driver 555.1" in markdown
    assert ("| r50_360x640 | bfloat16 | 2.5 | 0.5 | not importable: no module | 10 | 1 | not importable: no module "
            "| 5 | 10 | 2e-06 |") in markdown
    assert "| OV_AVSS_R50.yaml | off | on | 360x640 | 300 | 10 | 4 | 10 | 40 | 1e-06 |" in markdown
    assert "| OV_AVSS_SwinB.yaml | float16 | - | - | RuntimeError: oom |" in markdown
    assert not [name for name in os.listdir(tmp_path / "report") if name.endswith(".tmp")]


def test_evaluator_reference_on_a_hand_computed_frame():
    reference = load_tool("benchmark_reference")
    ground_truth = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 255]])
    prediction = torch.tensor([[0, 1, 1, 1], [0, 2, 0, 7]])
    metrics = reference.avss_metrics_reference([(prediction, ground_truth)], num_labels=3)
    # Valid pixels: gt 0,0,1,1,0,2,2 / pred 0,1,1,1,0,2,0.
    # IoU: label 0: TP 2, union 4 -> 1/2; label 1: TP 2, union 3 -> 2/3; label 2: TP 1, union 2 -> 1/2.
    assert metrics["mIoU"] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)

    def f(p, r):
        return 1.3 * p * r / (0.3 * p + r)

    # P, R: label 0: 2/3, 2/3; label 1: 2/3, 1; label 2: 1, 1/2.
    assert metrics["F_score"] == pytest.approx((f(2 / 3, 2 / 3) + f(2 / 3, 1) + f(1, 1 / 2)) / 3)


def test_naming_section_matches_the_release_procedure(tmp_path):
    """The naming stage of the tiny OV-AVSS against the reference written from the release's
    ClipAdapter (tools/benchmarks/naming.py): the same probabilities to float32 rounding."""
    output = tmp_path / "naming.json"
    completed = _run("--device", "cpu", "--sections", "naming", "--repeats", "1", "--output", str(output), timeout=300)
    assert completed.returncode == 0, completed.stderr
    naming = json.loads(output.read_text())["naming"]
    assert "error" not in naming, naming
    assert naming["regions"] > 0 and naming["queries_with_a_region"] > 0
    assert naming["max_abs_probability_difference"] < 1e-5 and naming["same_top_name"]
    assert naming["ours_ms"] > 0 and naming["reference_ms"] > 0 and naming["clip_passes_only_ms"] > 0
    assert 1 <= len(naming["profile_top10"]) <= 10
    assert "## Naming stage per window" in completed.stdout
