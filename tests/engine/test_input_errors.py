"""Wrong inputs found after the command-line check (training data, checkpoints) end in one
``error:`` line and exit status 2, and training leaves no half-made ``OUTPUT_DIR``."""
from __future__ import annotations

import os

import pytest
import torch

from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.synthetic import make_synthetic_avsbench
from ov_avss.engine import Trainer, default_main, parse_and_check_args

from toy_task import REPO_ROOT, ToyTrainer, toy_opts

TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")


def _run_to_error(capsys, argv, trainer_cls=Trainer) -> list[str]:
    """Run ``argv`` as ``train_net.py`` does; return stderr's lines (the last is the error)."""
    with pytest.raises(SystemExit) as info:
        default_main(parse_and_check_args(argv=argv), trainer_cls)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1, lines
    return lines


def test_training_without_the_dataset_root_creates_nothing(capsys, tmp_path):
    output_dir = tmp_path / "run" / "out"
    argv = ["--config-file", TINY_CONFIG, "DATASETS.ROOT", str(tmp_path / "no_data"), "OUTPUT_DIR", str(output_dir)]
    line = _run_to_error(capsys, argv)[-1]
    assert str(tmp_path / "no_data") in line
    assert not (tmp_path / "run").exists()


def test_training_on_damaged_data_lists_the_problems_and_creates_nothing(capsys, tmp_path):
    root = tmp_path / "data"
    make_synthetic_avsbench(str(root), seed=3, num_train_videos=3, num_val_videos=0, num_test_videos=1, size=(32, 48))
    from ov_avss.config import get_cfg

    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(root)
    record = get_dataset_records("avsbench_ov_train_base", cfg)[0]
    os.remove(record["frame_paths"][0])
    output_dir = tmp_path / "out"
    lines = _run_to_error(capsys, ["--config-file", TINY_CONFIG, "DATASETS.ROOT", str(root), "OUTPUT_DIR", str(output_dir)])
    assert f"video {record['uid']}: {record['frame_paths'][0]} is missing" in lines[0]
    assert lines[-1].startswith("error: 1 problems in ")
    assert not output_dir.exists()


def _toy_eval_argv(tmp_path, weights) -> list[str]:
    config = tmp_path / "toy.yaml"
    config.write_text("SEED: 7\n")
    return ["--config-file", str(config), "--eval-only", *toy_opts(str(tmp_path / "eval"), {"MODEL.WEIGHTS": str(weights)})]


def test_eval_only_with_a_checkpoint_of_another_model_names_file_config_and_tensors(capsys, tmp_path):
    other = {
        "backbone.weight": torch.zeros(4, 3, 3, 3),
        "backbone.bias": torch.zeros(4),
        "predictor.weight": torch.zeros(7, 4, 1, 1),  # another head
    }
    weights = tmp_path / "other_model.pth"
    torch.save({"model": other, "iteration": 60}, weights)
    line = _run_to_error(capsys, _toy_eval_argv(tmp_path, weights), ToyTrainer)[-1]
    assert str(weights) in line and str(tmp_path / "toy.yaml") in line
    assert "2 of 9 model tensors match" in line
    assert "predictor.weight (checkpoint [7, 4, 1, 1], model [1, 4, 1, 1])" in line
    assert "norm.weight (missing)" in line


def test_eval_only_with_a_truncated_checkpoint_names_it(capsys, tmp_path):
    weights = tmp_path / "model_final.pth"
    torch.save({"model": {"backbone.weight": torch.zeros(4, 3, 3, 3)}}, weights)
    weights.write_bytes(weights.read_bytes()[:100])
    line = _run_to_error(capsys, _toy_eval_argv(tmp_path, weights), ToyTrainer)[-1]
    assert f"{weights} (100 bytes): it is truncated" in line
    assert not (tmp_path / "eval").exists()  # found before anything was set up
