"""Multi-process runs through the launcher (gloo on CPU) and SIGTERM on a real process.

Each test starts fresh interpreters that import torch. The 2-process DDP training test is in
the default selection (about 20 s on two shared CPU cores); the SIGTERM test is ``slow``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from test_trainer import logged_losses, make_trainer
from toy_task import NUM_TEST_CLIPS, REPO_ROOT, TEST_DATASET, toy_opts

TOY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy_task.py")


def toy_command(output_dir, *flags, overrides=None) -> list[str]:
    return [sys.executable, TOY_SCRIPT, *flags, *toy_opts(str(output_dir), overrides)]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO_ROOT}


def test_two_process_gloo_training_keeps_ranks_identical(tmp_path):
    ddp_dir = tmp_path / "ddp"
    completed = subprocess.run(
        toy_command(ddp_dir, "--num-gpus", "2"), env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    rank0 = torch.load(ddp_dir / "weights_rank0.pth", weights_only=True)
    rank1 = torch.load(ddp_dir / "weights_rank1.pth", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert (ddp_dir / "log.txt.rank1").is_file()
    assert (ddp_dir / "model_final.pth").is_file()
    metrics = json.loads((ddp_dir / "inference" / TEST_DATASET / "metrics.json").read_text())
    assert metrics["toy"]["num_clips"] == NUM_TEST_CLIPS  # both ranks' shards were gathered

    # One clip per rank on two ranks sees the same samples as two clips in one process, and
    # the toy losses are per-sample means, so the runs must agree.
    make_trainer(tmp_path / "single").train()
    assert logged_losses(ddp_dir) == pytest.approx(logged_losses(tmp_path / "single"), rel=1e-5)


@pytest.mark.slow
def test_sigterm_saves_checkpoint_before_exit(tmp_path):
    overrides = {"SOLVER.MAX_ITER": 1_000_000, "SOLVER.CHECKPOINT_PERIOD": 1_000_000, "DATASETS.TEST": "()"}
    process = subprocess.Popen(
        toy_command(tmp_path, overrides=overrides),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics_file = tmp_path / "metrics.json"
    deadline = time.monotonic() + 240
    while not (metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= 3):
        assert process.poll() is None, process.stderr.read()[-4000:]
        assert time.monotonic() < deadline, "training did not start in time"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-4000:]

    checkpoint_name = (tmp_path / "last_checkpoint").read_text()
    checkpoint = torch.load(tmp_path / checkpoint_name, weights_only=True)
    assert checkpoint_name == f"model_{checkpoint['iteration']:07d}.pth"
    assert checkpoint["iteration"] >= 2
    assert {"model", "optimizer", "scheduler", "rng_states"} <= checkpoint.keys()
    logged = logged_losses(tmp_path)
    assert max(logged) == checkpoint["iteration"]  # the last logged iteration is the saved one
