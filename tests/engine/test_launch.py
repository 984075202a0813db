"""Multi-process runs through the launcher (gloo on CPU) and SIGTERM on a real process.

Each test starts fresh interpreters that import torch. The 2-process tests (DDP training, DDP
with gradient accumulation, and pre-emption of a ``--num-gpus 2`` run) are in the default
selection (DDP training and pre-emption about 20 s and 16 s on two shared CPU cores; with the
cores at load average 10, DDP training 61 s and DDP with accumulation 65 s); the single-process
SIGTERM test is ``slow``.
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


def wait_for_logged_iterations(process: subprocess.Popen, output_dir, count: int) -> None:
    """Until ``metrics.json`` holds ``count`` lines (the process must stay alive meanwhile)."""
    metrics_file = output_dir / "metrics.json"
    deadline = time.monotonic() + 240
    while not (metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= count):
        assert process.poll() is None, process.stderr.read()[-4000:]
        assert time.monotonic() < deadline, "training did not start in time"
        time.sleep(0.2)


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

    # One window per rank on two ranks sees the same samples as two windows in one process, and
    # the toy losses are per-sample means, so the runs must agree.
    make_trainer(tmp_path / "single").train()
    assert logged_losses(ddp_dir) == pytest.approx(logged_losses(tmp_path / "single"), rel=1e-5)


def test_two_process_gradient_accumulation_syncs_once_per_step_and_equals_one_large_batch(tmp_path):
    # 2 ranks x 2 micro-batches x 1 window: iteration i sees windows 4i..4i+3, as one process with
    # batches of 4 windows does.
    ddp_dir = tmp_path / "ddp_accum"
    overrides = {"SOLVER.IMS_PER_BATCH": 2, "SOLVER.GRAD_ACCUM_STEPS": 2, "SOLVER.MAX_ITER": 3, "DATASETS.TEST": "()"}
    completed = subprocess.run(
        toy_command(ddp_dir, "--num-gpus", "2", overrides=overrides),
        env=child_env(), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    for rank in range(2):
        # The toy model's gradients fit one DDP bucket: one all-reduce per optimizer step, none
        # on the first micro-batch (two per step without no_sync).
        syncs = json.loads((ddp_dir / f"gradient_syncs_rank{rank}.json").read_text())
        assert syncs == [1, 1, 1], (rank, syncs)
    rank0 = torch.load(ddp_dir / "weights_rank0.pth", weights_only=True)
    rank1 = torch.load(ddp_dir / "weights_rank1.pth", weights_only=True)
    large = make_trainer(tmp_path / "large", {**overrides, "SOLVER.IMS_PER_BATCH": 4, "SOLVER.GRAD_ACCUM_STEPS": 1})
    large.train()
    for name, value in large.model.state_dict().items():
        assert torch.equal(rank0[name], rank1[name]), name
        torch.testing.assert_close(rank0[name], value, rtol=1e-5, atol=1e-6)
    assert logged_losses(ddp_dir) == pytest.approx(logged_losses(tmp_path / "large"), rel=1e-5)


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
    wait_for_logged_iterations(process, tmp_path, 3)
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


# Slow: a real 2-process run (10-60 s). An earlier version aborted a worker in about 1 of 20 runs
# ("terminate called without an active exception", SIGABRT); the late-signal race in the teardown
# found for it is fixed and 50 consecutive runs passed (docs/training.md, "Resume").
@pytest.mark.slow
def test_preempted_num_gpus_run_saves_once_and_exits_143(tmp_path):
    # A scheduler's SIGTERM to the process group, then SIGINT to it as well (what the spawn
    # parent's death signal would add): one checkpoint, exit status 143.
    overrides = {"SOLVER.MAX_ITER": 1_000_000, "SOLVER.CHECKPOINT_PERIOD": 1_000_000, "DATASETS.TEST": "()"}
    env = {key: value for key, value in child_env().items() if key != "OMP_NUM_THREADS"}
    process = subprocess.Popen(
        toy_command(tmp_path, "--num-gpus", "2", overrides=overrides),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as under a scheduler
    )
    try:
        wait_for_logged_iterations(process, tmp_path, 3)
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 143, stderr[-4000:]
    checkpoints = sorted(p.name for p in tmp_path.glob("model_*.pth"))
    assert len(checkpoints) == 1 and (tmp_path / "last_checkpoint").read_text() == checkpoints[0]
    assert torch.load(tmp_path / checkpoints[0], weights_only=True)["iteration"] >= 2
    log = (tmp_path / "log.txt").read_text()
    assert log.count("Saving checkpoint to") == 1
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert "Rank 0 of 2; Python" in log and f"; {threads} torch threads" in log
