"""Checkpointer: atomic writes, round trips, detectron2 .pkl loading and key reports."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from ov_avss.checkpoint import Checkpointer


class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)


class NotATensor:
    """An arbitrary class: ``weights_only`` loading must refuse to construct it."""


def make_checkpointer(save_dir):
    model = TinyModel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, optimizer, Checkpointer(model, str(save_dir), optimizer=optimizer)


def take_step(model, optimizer) -> None:
    model.head(model.backbone(torch.ones(2, 3))).sum().backward()
    optimizer.step()


def test_save_and_resume_round_trip(tmp_path):
    model, optimizer, checkpointer = make_checkpointer(tmp_path)
    take_step(model, optimizer)
    checkpointer.save("model_0000004", iteration=4)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000004.pth"

    restored_model, restored_optimizer, restored = make_checkpointer(tmp_path)
    extra = restored.resume_or_load("", resume=True)
    assert extra["iteration"] == 4
    assert len(extra["rng_states"]) == 1 and {"python", "numpy", "torch"} <= extra["rng_states"][0].keys()
    for name, value in model.state_dict().items():
        assert torch.equal(restored_model.state_dict()[name], value)
    torch.testing.assert_close(
        restored_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )


def test_write_killed_midway_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, optimizer, checkpointer = make_checkpointer(tmp_path)
    checkpointer.save("model_0000000", iteration=0)
    saved_weights = {k: v.clone() for k, v in model.state_dict().items()}
    take_step(model, optimizer)

    real_save = torch.save

    def save_half_then_die(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial checkpoint bytes")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_die)
    with pytest.raises(OSError, match="No space left"):
        checkpointer.save("model_0000001", iteration=1)
    monkeypatch.setattr(torch, "save", real_save)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000000.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    reloaded_model, _, reloaded = make_checkpointer(tmp_path)
    assert reloaded.resume_or_load("", resume=True)["iteration"] == 0
    for name, value in saved_weights.items():
        assert torch.equal(reloaded_model.state_dict()[name], value)


def test_loads_detectron2_pickle_and_reports_keys(tmp_path, caplog):
    model, _, checkpointer = make_checkpointer(tmp_path)
    reference = TinyModel().state_dict()
    weights = {
        "backbone.weight": reference["backbone.weight"].numpy(),
        "backbone.bias": reference["backbone.bias"].numpy(),
        "head.weight": np.zeros((5, 4), dtype=np.float32),  # wrong shape: skipped
        "pixel_decoder.adapter_1.weight": np.zeros((2, 2), dtype=np.float32),  # unknown
    }
    path = tmp_path / "model_final_3c8ec9.pkl"
    path.write_bytes(pickle.dumps({"model": weights, "__author__": "Mask2Former"}, protocol=2))
    head_before = model.head.weight.detach().clone()

    with caplog.at_level(logging.INFO):
        checkpointer.load(str(path))

    assert torch.equal(model.backbone.weight, reference["backbone.weight"])
    assert torch.equal(model.head.weight, head_before)
    log = caplog.text
    assert "head.weight" in log and "(5, 4)" in log and "(2, 4)" in log
    assert "pixel_decoder.adapter_1.weight" in log  # unexpected, grouped by prefix
    assert "head.{bias, weight}" in log  # missing (the mismatched weight too), grouped


def test_pth_is_loaded_weights_only(tmp_path):
    path = tmp_path / "suspicious.pth"
    torch.save({"model": TinyModel().state_dict(), "extra": NotATensor()}, path)
    _, _, checkpointer = make_checkpointer(tmp_path / "out")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        checkpointer.load(str(path))


def test_bare_state_dict_and_missing_file(tmp_path):
    source = TinyModel()
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    model, _, checkpointer = make_checkpointer(tmp_path / "out")
    checkpointer.load(str(path))
    assert torch.equal(model.head.weight, source.head.weight)
    with pytest.raises(FileNotFoundError, match="does_not_exist.pth"):
        checkpointer.load(str(tmp_path / "does_not_exist.pth"))
