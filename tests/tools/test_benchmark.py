"""tools/benchmark.py: the op section at tiny shapes writes a well-formed JSON report."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_op_section_writes_json(tmp_path):
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"),
            "--device", "cpu", "--sections", "op", "--output", str(output),
            "--warmup", "0", "--repeats", "1",
            "--op-levels", "6x8,3x4", "--op-batch", "1", "--op-heads", "2", "--op-head-dim", "4", "--op-points", "2",
        ],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert set(report) == {"machine", "arguments", "op"}
    machine = report["machine"]
    assert machine["device"] == "cpu" and machine["gpu"] is None and machine["cpu_count"] >= 1
    assert machine["torch"] and machine["cpu_model"]
    op = report["op"]
    assert op["shapes"] == {
        "batch": 1, "levels": [[6, 8], [3, 4]], "heads": 2, "channels_per_head": 4, "points": 2, "queries": 60,
    }
    for phase in ("forward", "forward_backward"):
        entry = op["pytorch"][phase]
        assert entry["median_ms"] > 0
        assert entry["peak_memory_mb"] >= 0
        assert entry["memory_method"].startswith("process ")
    # The kernel is not measured on CPU, and the report says why instead of leaving it out.
    assert "error" in op["cuda"]


def test_bad_sections_are_rejected(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"), "--sections", "op,gpu", "--output", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode != 0
    assert "--sections takes a comma list" in completed.stderr
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
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "tools" / "benchmark.py"),
            "--device", "cpu", "--sections", "model", "--config", str(config), "--output", str(output),
            "--warmup", "0", "--repeats", "1",
        ],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    (run,) = json.loads(output.read_text())["model"]["runs"]
    assert "error" not in run, run
    assert run["config"] == str(config) and run["input_size"] == [32, 57]
    assert run["train_step_per_clip"]["median_ms"] > 0 and run["inference"]["clips_per_s"] > 0
