"""Checkpointer: atomic writes, round trips, detectron2 .pkl loading and key reports."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from ov_avss.checkpoint import CheckpointReadError, Checkpointer


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


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_checkpoint_error_names_the_file(tmp_path):
    model, optimizer, checkpointer = make_checkpointer(tmp_path)
    checkpointer.save("model_0000000", iteration=0)
    _truncate(tmp_path / "model_0000000.pth")
    with pytest.raises(CheckpointReadError, match=r"model_0000000.pth \(\d+ bytes\): it is truncated"):
        make_checkpointer(tmp_path)[2].load(str(tmp_path / "model_0000000.pth"))


def test_resume_falls_back_to_the_previous_readable_checkpoint(tmp_path, caplog):
    model, optimizer, checkpointer = make_checkpointer(tmp_path)
    checkpointer.save("model_0000001", iteration=1)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    take_step(model, optimizer)
    checkpointer.save("model_0000003", iteration=3)
    _truncate(tmp_path / "model_0000003.pth")

    restored_model, _, restored = make_checkpointer(tmp_path)
    with caplog.at_level(logging.WARNING, logger="fvcore.common.checkpoint"):
        extra = restored.resume_or_load("", resume=True)
    assert extra["iteration"] == 1
    for name, value in expected.items():
        assert torch.equal(restored_model.state_dict()[name], value), name
    assert "Resuming from" in caplog.text and "model_0000001.pth" in caplog.text
    assert "model_0000003.pth" in caplog.text and "truncated" in caplog.text


def test_resume_with_no_readable_checkpoint_raises(tmp_path):
    _, _, checkpointer = make_checkpointer(tmp_path)
    checkpointer.save("model_0000000", iteration=0)
    _truncate(tmp_path / "model_0000000.pth")
    with pytest.raises(CheckpointReadError, match="no earlier readable"):
        make_checkpointer(tmp_path)[2].resume_or_load("", resume=True)


def _model_with_frozen_vggish(seed: int) -> nn.Module:
    from ov_avss.config import get_cfg
    from ov_avss.modeling.audio.build import build_audio_encoder

    cfg = get_cfg()
    cfg.MODEL.AUDIO.RANDOM_INIT = True
    cfg.MODEL.AUDIO.FREEZE = True
    torch.manual_seed(seed)
    model = TinyModel()
    model.audio_encoder = build_audio_encoder(cfg)
    return model


def test_frozen_self_loaded_weights_are_written_once_not_per_checkpoint(tmp_path, caplog):
    model = _model_with_frozen_vggish(seed=0)
    checkpointer = Checkpointer(model, str(tmp_path))
    checkpointer.save("model_0000000", iteration=0)
    checkpointer.save("model_0000001", iteration=1)
    frozen_files = sorted(tmp_path.glob("frozen_*.pth"))
    assert len(frozen_files) == 1
    checkpoint = torch.load(tmp_path / "model_0000001.pth", weights_only=True)
    assert not any(key.startswith("audio_encoder.") for key in checkpoint["model"])
    assert "backbone.weight" in checkpoint["model"]
    assert checkpoint["frozen_modules"]["prefixes"] == ["audio_encoder"]
    assert (tmp_path / "model_0000001.pth").stat().st_size < frozen_files[0].stat().st_size / 100

    # Same weights rebuilt: nothing is read from the side file and no key is reported missing.
    same = _model_with_frozen_vggish(seed=0)
    with caplog.at_level(logging.INFO):
        Checkpointer(same).load(str(tmp_path / "model_0000001.pth"))
    assert "not found in the checkpoint" not in caplog.text  # fvcore's missing-keys report
    assert "match the checkpoint" in caplog.text

    # Other random weights (another seed): the side file restores the trained ones.
    other = _model_with_frozen_vggish(seed=1)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        Checkpointer(other).load(str(tmp_path / "model_0000001.pth"))
    assert "loading them from" in caplog.text and "not found in the checkpoint" not in caplog.text
    for name, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[name], value), name

    frozen_files[0].unlink()
    with pytest.raises(FileNotFoundError, match=r"frozen audio_encoder weights .* is missing"):
        Checkpointer(_model_with_frozen_vggish(seed=2)).load(str(tmp_path / "model_0000001.pth"))


class _FrozenEncoder(nn.Module):
    """A test-only encoder that builds its own weights (as a new frozen audio or text encoder would)."""

    self_loaded_weights = True

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.requires_grad_(False)


def test_any_module_declaring_self_loaded_weights_is_kept_out_of_checkpoints(tmp_path):
    """Found by the declaration and its frozen parameters, not by class name; a frozen module that
    does not declare it (e.g. a frozen detector part, loaded from MODEL.WEIGHTS), and a declaring
    one being trained, stay in every checkpoint."""
    model = TinyModel()
    model.encoder = nn.Sequential(_FrozenEncoder())  # nested: found under its full prefix
    model.frozen_part = nn.Linear(4, 4).requires_grad_(False)
    model.trained_encoder = _FrozenEncoder().requires_grad_(True)
    Checkpointer(model, str(tmp_path)).save("model_0000000", iteration=0)
    checkpoint = torch.load(tmp_path / "model_0000000.pth", weights_only=True)
    assert checkpoint["frozen_modules"]["prefixes"] == ["encoder.0"]
    assert not any(key.startswith("encoder.") for key in checkpoint["model"])
    assert {"frozen_part.weight", "trained_encoder.proj.weight"} <= set(checkpoint["model"])
    frozen = torch.load(tmp_path / checkpoint["frozen_modules"]["file"], weights_only=True)
    assert set(frozen) == {"encoder.0.proj.weight", "encoder.0.proj.bias"}


def test_damaged_frozen_file_is_named_and_not_mistaken_for_a_bad_checkpoint(tmp_path):
    from ov_avss.checkpoint import FrozenWeightsError

    model = _model_with_frozen_vggish(seed=0)
    checkpointer = Checkpointer(model, str(tmp_path))
    checkpointer.save("model_0000000", iteration=0)
    checkpointer.save("model_0000001", iteration=1)
    frozen_file = next(tmp_path.glob("frozen_*.pth"))
    _truncate(frozen_file)

    # Built from the same seed: the frozen weights are rebuilt, the damaged file is not needed.
    same = _model_with_frozen_vggish(seed=0)
    assert Checkpointer(same, str(tmp_path)).resume_or_load("", resume=True)["iteration"] == 1
    for name, value in model.state_dict().items():
        assert torch.equal(same.state_dict()[name], value), name

    # Other frozen weights: a clear error naming the frozen file, not a resume from an earlier
    # checkpoint (which needs the same file) and never a silently random encoder.
    with pytest.raises(FrozenWeightsError, match=rf"{frozen_file.name} \(\d+ bytes\): it is truncated.*model_0000001.pth needs it"):
        Checkpointer(_model_with_frozen_vggish(seed=3), str(tmp_path)).resume_or_load("", resume=True)
    frozen_file.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{frozen_file.name} is missing"):
        Checkpointer(_model_with_frozen_vggish(seed=3), str(tmp_path)).resume_or_load("", resume=True)
