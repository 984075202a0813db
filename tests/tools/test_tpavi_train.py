"""The documented TPAVI learn-and-listen runs (docs/tpavi.md, "Learn and listen on synthetic
data"): the tiny TPAVI trained through train_net.py on the synthetic AVSBench copies, binary
(MS3 form, avsbench_binary) and semantic (AVSS form, avsbench_avss), then evaluated again with the
audio zeroed and shuffled. Slow: about 25 (binary) and 30 (semantic) minutes on a 2-core CPU.

What it defends: the model segments the sounding objects well above chance, and it does so by
listening: without the sound, or with another clip's sound, mIoU falls clearly (visible silent
objects are common in the synthetic clips, so the pictures alone cannot say what sounds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs" / "tiny"
# Below the documented run's numbers (docs/tpavi.md), with room for other CPUs.
RUNS = {
    "binary": dict(
        config="TPAVI_tiny_synthetic.yaml", metrics="binary_metrics.json",
        data=["--num-train-clips", "60", "--num-val-clips", "4", "--num-test-clips", "24", "--size", "96", "96",
              "--with-object", "--object-clips-per-split", "48"],
        floor=None, drop=None,
    ),
    "semantic": dict(
        config="TPAVI_tiny_synthetic_avss.yaml", metrics="avss_metrics.json",
        data=["--num-train-clips", "60", "--num-val-clips", "4", "--num-test-clips", "24", "--size", "96", "96",
              "--categories", "car,dog,guitar,helicopter,piano,trumpet"],
        floor=None, drop=None,
    ),
}


def _run(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    subprocess.run([sys.executable, *args], check=True, cwd=REPO_ROOT, env=env)


def _miou(output_dir: Path, run: dict) -> float:
    (metrics_file,) = output_dir.rglob(run["metrics"])
    metrics = json.loads(metrics_file.read_text())
    return float(metrics["mIoU"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_tiny_tpavi_learns_and_listens(name, tmp_path):
    run = RUNS[name]
    if run["floor"] is None:
        pytest.fail(f"no documented measurement of the {name} run to defend yet (docs/tpavi.md)")
    data = tmp_path / "data"
    _run(str(REPO_ROOT / "tools" / "make_synthetic_avsbench.py"), "--out", str(data), "--seed", "0", *run["data"])
    config = str(CONFIGS / run["config"])
    common = ["DATASETS.ROOT", str(data)]
    _run(str(REPO_ROOT / "train_net.py"), "--config-file", config, *common, "OUTPUT_DIR", str(tmp_path / "train"))
    weights = str(tmp_path / "train" / "model_final.pth")
    scores = {"audio": _miou(tmp_path / "train", run)}
    for ablation in ("zero", "shuffle"):
        out = tmp_path / ablation
        _run(str(REPO_ROOT / "train_net.py"), "--config-file", config, "--eval-only", *common, "MODEL.WEIGHTS", weights,
             "TEST.AUDIO_ABLATION", ablation, "OUTPUT_DIR", str(out))
        scores[ablation] = _miou(out, run)
    assert scores["audio"] > run["floor"], scores
    assert scores["zero"] < scores["audio"] - run["drop"], scores
    assert scores["shuffle"] < scores["audio"] - run["drop"], scores
