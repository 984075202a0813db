"""tools/quickstart.py: the report assembly from fabricated metrics (fast) and the whole job,
shortened, on a small generated dataset (slow)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ov_avss.data.categories import BASE_CATEGORIES, NOVEL_CATEGORIES
from ov_avss.data.synthetic import make_synthetic_avsbench

from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
ROW_NAMES = ["audio", "audio zeroed", "audio shuffled"]
COLUMNS = ["mIoU_base", "mIoU_novel", "mIoU_harmonic", "mIoU", "F_score"]
TARGET_NAMES = {"base_mIoU", "drop_audio_zeroed", "drop_audio_shuffled"}


quickstart = load_tool("quickstart")


def fabricated_report(base_with_audio: float, base_zeroed: float, base_shuffled: float, loss_history):
    def row(base):
        return {"mIoU_base": base, "mIoU_novel": 0.05, "mIoU_harmonic": 2 * base * 0.05 / (base + 0.05), "mIoU": 0.4, "F_score": 0.45}

    return quickstart.build_report(
        rows={"audio": row(base_with_audio), "audio zeroed": row(base_zeroed), "audio shuffled": row(base_shuffled)},
        per_class={
            "background": {"iou": 0.9, "f_score": 0.95},
            "dog": {"iou": 0.7, "f_score": 0.8},
            "violin": {"iou": 0.0, "f_score": 0.0},
        },
        base_names=BASE_CATEGORIES,
        novel_names=NOVEL_CATEGORIES,
        loss_history=loss_history,
        dataset_name="avsbench_ov_test",
        seed=5,
        iterations=30,
        trained=True,
        elapsed_seconds=12.5,
        paths={"chart": "out/inference/avsbench_ov_test/per_class_iou.png", "predictions": None, "overlays": None},
        synthetic_data={"root": "datasets/synthetic", "generated": False, "seed": None},
        caveat=["A pipeline check."],
    )


def test_report_targets_table_and_json(tmp_path):
    report = fabricated_report(0.6, 0.3, 0.5, [(4, 9.0), (9, 7.5), (14, 6.0)])
    assert list(report["rows"]) == ROW_NAMES
    targets = report["targets"]
    assert targets["base_mIoU"]["value"] == pytest.approx(0.6) and targets["base_mIoU"]["met"]
    assert targets["drop_audio_zeroed"]["value"] == pytest.approx(0.3) and targets["drop_audio_zeroed"]["met"]
    # A drop of 0.1 misses the 0.15 target.
    assert targets["drop_audio_shuffled"]["value"] == pytest.approx(0.1)
    assert not targets["drop_audio_shuffled"]["met"]
    assert report["all_targets_met"] is False
    assert report["training_loss"] == {
        "first": {"iteration": 4, "total_loss": 9.0},
        "last": {"iteration": 14, "total_loss": 6.0},
    }
    assert {name: v["split"] for name, v in report["per_class"].items()} == {
        "background": "background", "dog": "base", "violin": "novel",
    }

    text = quickstart.format_report(report)
    lines = text.splitlines()
    audio_line = next(line for line in lines if line.startswith("audio "))
    assert audio_line.split("|")[1].strip() == "0.6000"
    assert any(line.startswith("audio zeroed") and "0.3000" in line for line in lines)
    assert any(line.startswith("dog ") and "base" in line and "0.7000" in line for line in lines)
    assert any(line.startswith("violin ") and "novel" in line for line in lines)
    assert "Wall time: 12.5 s" in text
    # The job ends with the metrics table and one line with every target's verdict.
    assert lines[-1] == (
        "Targets: PASS base mIoU with audio >= 0.55: 0.6000; "
        "PASS base mIoU drop with audio zeroed >= 0.15: 0.3000; "
        "FAIL base mIoU drop with audio shuffled >= 0.15: 0.1000 -> TARGETS MISSED"
    )
    assert lines.index(audio_line) > max(i for i, line in enumerate(lines) if line.startswith("dog "))

    path = tmp_path / "quickstart_metrics.json"
    quickstart.write_report(str(path), report)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    assert os.listdir(tmp_path) == ["quickstart_metrics.json"]  # no temporary file left


def test_all_targets_met_and_missing_rows():
    report = fabricated_report(0.55, 0.2, 0.35, [])
    assert report["all_targets_met"] is True and report["training_loss"] is None
    assert quickstart.format_report(report).splitlines()[-1].endswith("-> all targets met")
    assert fabricated_report(0.549, 0.2, 0.35, [])["all_targets_met"] is False
    with pytest.raises(KeyError, match="audio shuffled"):
        quickstart.build_report(
            rows={"audio": {c: 0.5 for c in COLUMNS}, "audio zeroed": {c: 0.1 for c in COLUMNS}},
            per_class={}, base_names=BASE_CATEGORIES, novel_names=NOVEL_CATEGORIES, loss_history=[],
            dataset_name="avsbench_ov_test", seed=0, iterations=1, trained=True, elapsed_seconds=1.0,
            paths={}, synthetic_data={}, caveat=[],
        )


def test_non_finite_metrics_are_refused(tmp_path):
    report = fabricated_report(0.6, 0.3, 0.5, [])
    report["rows"]["audio"]["mIoU"] = float("nan")
    with pytest.raises(ValueError):
        quickstart.write_report(str(tmp_path / "report.json"), report)
    assert not (tmp_path / "report.json").exists()


def test_loss_history_is_the_last_run_after_the_offset(tmp_path):
    path = tmp_path / "metrics.json"
    old_run = [{"iteration": 4, "total_loss": 50.0}, {"iteration": 9, "total_loss": 40.0}]
    new_run = [
        {"iteration": 4, "total_loss": 30.0, "lr": 1e-4},
        {"iteration": 9, "total_loss": 20.0},
        {"iteration": 9, "avsbench_ov_test/sem_seg/mIoU": 0.3},  # the final evaluation's record
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in old_run + new_run))
    assert quickstart.read_loss_history(str(path)) == [(4, 30.0), (9, 20.0)]
    offset = len("".join(json.dumps(r) + "\n" for r in old_run))
    assert quickstart.read_loss_history(str(path), offset) == [(4, 30.0), (9, 20.0)]
    assert quickstart.read_loss_history(str(tmp_path / "absent.json")) == []
    path.write_text('{"iteration": 1, "total_loss": 3.0}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        quickstart.read_loss_history(str(path))


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    data_root = tmp_path / "datasets"
    make_synthetic_avsbench(str(data_root), seed=2, num_train_videos=8, num_val_videos=0, num_test_videos=3, size=(64, 64))
    output_dir = tmp_path / "output"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "tools" / "quickstart.py"),
            "--config-file", str(REPO_ROOT / "configs" / "quickstart" / "OV_AVSS_tiny_synthetic.yaml"),
            "DATASETS.ROOT", str(data_root), "OUTPUT_DIR", str(output_dir),
            "SOLVER.MAX_ITER", "30", "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "5", "SOLVER.STEPS", "()",
            "SOLVER.CHECKPOINT_PERIOD", "1000", "TEST.EVAL_PERIOD", "0", "LOG_PERIOD", "5",
            "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MIN_SIZE_TEST", "64", "TEST.VISUALIZE_NUM_CLIPS", "2", "SEED", "0",
        ],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "pipeline check on synthetic data, not a benchmark" in completed.stdout

    report = json.loads((output_dir / "quickstart_metrics.json").read_text())
    assert list(report["rows"]) == ROW_NAMES
    for row in report["rows"].values():
        assert set(row) == set(COLUMNS)
        assert all(0.0 <= value <= 1.0 for value in row.values())
    assert report["per_class"] and all(0.0 <= v["iou"] <= 1.0 for v in report["per_class"].values())
    assert set(report["targets"]) == TARGET_NAMES
    assert all(isinstance(t["met"], bool) for t in report["targets"].values())
    assert report["iterations"] == 30 and report["seed"] == 0
    loss = report["training_loss"]
    assert loss["first"]["iteration"] < loss["last"]["iteration"]
    assert loss["last"]["total_loss"] < loss["first"]["total_loss"]

    paths = report["paths"]
    assert os.path.isfile(paths["chart"])
    assert os.listdir(paths["predictions"])
    assert len(os.listdir(paths["overlays"])) == 2
    for folder in ("inference", "inference_audio_zero", "inference_audio_shuffle"):
        assert (output_dir / folder / "avsbench_ov_test" / "metrics.json").is_file()
    # Predictions and overlays belong to the normal evaluation only.
    assert not (output_dir / "inference_audio_zero" / "avsbench_ov_test" / "overlays").exists()


@pytest.mark.slow
def test_quickstart_meets_its_targets(tmp_path):
    """The main job exactly as ``make quickstart`` runs it (default config, data generated by the
    job itself), into a temporary folder: every target met (README, "What the quickstart
    measured"). One thread: the README's runs cover 1 and 2 threads."""
    output_dir = tmp_path / "output"
    completed = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "tools" / "quickstart.py"),
            "--config-file", str(REPO_ROOT / "configs" / "quickstart" / "OV_AVSS_tiny_synthetic.yaml"),
            "DATASETS.ROOT", str(tmp_path / "datasets"), "OUTPUT_DIR", str(output_dir),
        ],
        capture_output=True, text=True, timeout=3600, cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((output_dir / "quickstart_metrics.json").read_text())
    assert report["synthetic_data"]["generated"] is True
    assert report["targets"]["base_mIoU"]["threshold"] == 0.55
    assert report["all_targets_met"], report["targets"]
    assert completed.stdout.rstrip().splitlines()[-1].endswith("-> all targets met")


def test_misspelt_override_is_one_error_line_before_any_work(tmp_path, capsys):
    config = str(REPO_ROOT / "configs" / "quickstart" / "OV_AVSS_tiny_synthetic.yaml")
    argv = ["--config-file", config, "OUTPUT_DIR", str(tmp_path / "out"), "SOLVER.MAX_ITR", "5"]
    assert quickstart.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "SOLVER.MAX_ITR" in err[0] and "SOLVER.MAX_ITER" in err[0]
    assert not (tmp_path / "out").exists()
