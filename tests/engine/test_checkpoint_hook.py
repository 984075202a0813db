"""model_final.pth is the last periodic checkpoint itself (a hard link), not a second copy."""
from __future__ import annotations

import os

import torch

from test_trainer import make_trainer


def test_final_checkpoint_links_the_last_periodic_one(tmp_path):
    make_trainer(tmp_path, {"DATASETS.TEST": "()"}).train()  # 6 iterations, a checkpoint every 2
    final, periodic = tmp_path / "model_final.pth", tmp_path / "model_0000005.pth"
    assert os.path.samefile(final, periodic)
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    assert torch.load(final, weights_only=True)["iteration"] == 5
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_final_checkpoint_off_the_period_is_saved(tmp_path):
    make_trainer(tmp_path, {"DATASETS.TEST": "()", "SOLVER.MAX_ITER": 5}).train()
    final = tmp_path / "model_final.pth"
    assert not os.path.samefile(final, tmp_path / "model_0000003.pth")
    assert torch.load(final, weights_only=True)["iteration"] == 4
