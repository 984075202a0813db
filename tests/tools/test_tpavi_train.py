"""The documented TPAVI runs on synthetic data (docs/tpavi.md, "Learn and listen on synthetic
data"): the tiny TPAVI trained from scratch through train_net.py on the synthetic AVSBench copies,
binary (MS3 form, avsbench_binary) and semantic (AVSS form, avsbench_avss), then evaluated again
with the audio zeroed and shuffled. Slow: about 30 minutes each on a 2-core CPU shared with other
jobs.

What it defends is what was measured: the model learns to segment well beyond an empty
prediction (binary: mIoU 0.525 against 0.258 for predicting nothing; semantic: IoU 0.40 / 0.19 /
0.12 on three of the six categories). It does NOT defend listening: in the documented runs the
zeroed and shuffled audio changed mIoU by less than 0.002 (docs/tpavi.md), so no drop is asserted;
the ablations are run to check that they evaluate."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs" / "tiny"
DATA = ["--num-train-clips", "60", "--num-val-clips", "4", "--num-test-clips", "24", "--size", "96", "96"]
RUNS = {
    "binary": dict(config="TPAVI_tiny_synthetic.yaml", metrics="binary_metrics.json",
                   data=DATA + ["--with-object", "--object-clips-per-split", "48"]),
    "semantic": dict(config="TPAVI_tiny_synthetic_avss.yaml", metrics="avss_metrics.json",
                     data=DATA + ["--categories", "car,dog,guitar,helicopter,piano,trumpet"]),
}
# Below the documented run's numbers, with room for other CPUs: binary mIoU (measured 0.525; an
# empty prediction scores 0.258), semantic sum of the six categories' IoU (measured 0.716).
BINARY_FLOOR = 0.42
SEMANTIC_CATEGORY_IOU_SUM_FLOOR = 0.35


def _run(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    subprocess.run([sys.executable, *args], check=True, cwd=REPO_ROOT, env=env)


def _metrics(output_dir: Path, run: dict) -> dict:
    (metrics_file,) = output_dir.rglob(run["metrics"])
    return json.loads(metrics_file.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_tiny_tpavi_learns_on_synthetic_data(name, tmp_path):
    run = RUNS[name]
    data = tmp_path / "data"
    _run(str(REPO_ROOT / "tools" / "make_synthetic_avsbench.py"), "--out", str(data), "--seed", "0", *run["data"])
    config = str(CONFIGS / run["config"])
    common = ["DATASETS.ROOT", str(data)]
    _run(str(REPO_ROOT / "train_net.py"), "--config-file", config, *common, "OUTPUT_DIR", str(tmp_path / "train"))
    trained = _metrics(tmp_path / "train", run)
    if name == "binary":
        assert trained["mIoU"] > BINARY_FLOOR, trained
    else:
        categories = sum(v["iou"] for k, v in trained["per_class"].items() if k != "background")
        assert categories > SEMANTIC_CATEGORY_IOU_SUM_FLOOR, trained["per_class"]
    weights = str(tmp_path / "train" / "model_final.pth")
    for ablation in ("zero", "shuffle"):
        out = tmp_path / ablation
        _run(str(REPO_ROOT / "train_net.py"), "--config-file", config, "--eval-only", *common, "MODEL.WEIGHTS", weights,
             "TEST.AUDIO_ABLATION", ablation, "OUTPUT_DIR", str(out))
        assert math.isfinite(_metrics(out, run)["mIoU"])
