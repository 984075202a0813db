"""A trained checkpoint of another architecture is refused; a pretrained initialisation is not."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from ov_avss.checkpoint import CheckpointMismatchError, Checkpointer, is_pretrained_initialisation


class Segmenter(nn.Module):
    """Backbone (first layer frozen) + head."""

    def __init__(self, head_outputs: int = 2) -> None:
        super().__init__()
        self.stem = nn.Linear(3, 4).requires_grad_(False)
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, head_outputs)


class Tracker(nn.Module):
    """Shares the backbone of ``Segmenter`` but has a head of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(3, 4)
        self.backbone = nn.Linear(4, 4)
        self.track_head = nn.Linear(4, 8)


def test_trained_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "tracker_final.pth"
    torch.save({"model": Tracker().state_dict(), "iteration": 59}, path)
    model = Segmenter()
    head_before = model.head.weight.detach().clone()
    checkpointer = Checkpointer(model, save_to_disk=False)
    with pytest.raises(CheckpointMismatchError) as caught:
        checkpointer.load(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert "4 of 6 model tensors" in message  # stem and backbone weights and biases
    assert "head.bias (missing)" in message and "head.weight (missing)" in message
    assert torch.equal(model.head.weight, head_before)  # nothing was loaded

    caught.value.config_file = "configs/segmenter.yaml"
    assert "model built from configs/segmenter.yaml" in str(caught.value)


def test_shape_mismatch_in_a_trained_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model_final.pth"
    torch.save({"model": Segmenter(head_outputs=5).state_dict()}, path)
    with pytest.raises(CheckpointMismatchError, match=r"head.weight \(checkpoint \[5, 4\], model \[2, 4\]\)"):
        Checkpointer(Segmenter(), save_to_disk=False).load(str(path))


def test_frozen_tensor_missing_from_a_trained_checkpoint_is_accepted(tmp_path):
    source = Segmenter()
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("stem.")}
    path = tmp_path / "model_final.pth"
    torch.save({"model": state}, path)
    model = Segmenter()
    Checkpointer(model, save_to_disk=False).load(str(path))
    assert torch.equal(model.head.weight, source.head.weight)


def test_pretrained_initialisation_pickle_may_leave_layers_at_their_initial_values(tmp_path):
    reference = Tracker().state_dict()
    weights = {key: value.numpy() for key, value in reference.items()}
    path = tmp_path / "model_final_3c8ec9.pkl"
    path.write_bytes(pickle.dumps({"model": weights, "__author__": "Mask2Former"}, protocol=2))
    model = Segmenter()
    Checkpointer(model, save_to_disk=False).load(str(path))
    assert torch.equal(model.backbone.weight, reference["backbone.weight"])


def test_pretrained_initialisation_pickle_with_another_shape_is_skipped(tmp_path):
    weights = {"head.weight": np.zeros((5, 4), dtype=np.float32)}
    path = tmp_path / "R-50.pkl"
    path.write_bytes(pickle.dumps(weights, protocol=2))
    model = Segmenter()
    before = model.head.weight.detach().clone()
    Checkpointer(model, save_to_disk=False).load(str(path))
    assert torch.equal(model.head.weight, before)


def test_model_zoo_file_names_are_initialisations_other_pth_files_trained():
    assert is_pretrained_initialisation("pre_models/resnet50-19c8e357.pth")
    assert is_pretrained_initialisation("R-50.pkl")
    for trained in ("output/model_final.pth", "model_0000999.pth", "S4_best.pth", "model_ov_avss_r50.pth"):
        assert not is_pretrained_initialisation(trained), trained
