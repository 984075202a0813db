"""OV_AVSS in training mode: batched losses and where gradients flow."""
from __future__ import annotations

import pytest
import torch

from helpers import TINY_OV_AVSS_CONFIG, load_config
from ov_avss.data.catalog import with_seen_categories
from ov_avss.modeling import build_model

EXPECTED_BASE_LOSSES = ("loss_ce", "loss_mask", "loss_dice")


@pytest.fixture(scope="module", params=[False, True], ids=["release", "learned_head"])
def trained_step(request, make_window):
    """The tiny model after one backward pass on a batch of 2 windows of different sizes, as the
    release and with the learned-head extension."""
    torch.manual_seed(0)
    cfg = load_config(TINY_OV_AVSS_CONFIG)
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED = request.param
    model = build_model(with_seen_categories(cfg))
    model.train()
    windows = [
        make_window(num_objects=2, height=64, width=64, seed=0),
        make_window(num_objects=1, height=56, width=72, seed=1, frame_valid=(True, False, False)),
    ]
    losses = model(windows)
    sum(losses.values()).backward()
    return cfg, model, losses


def test_batched_losses_have_contract_names(trained_step):
    cfg, _, losses = trained_step
    num_aux = cfg.MODEL.MASK_FORMER.DEC_LAYERS - 1
    expected = set(EXPECTED_BASE_LOSSES)
    expected |= {f"{name}_{i}" for name in EXPECTED_BASE_LOSSES for i in range(num_aux)}
    if cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED:
        expected.add("loss_ensemble_ce")
    assert set(losses) == expected
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
        assert value.item() > 0, name


def test_gradients_reach_every_trainable_parameter(trained_step):
    _, model, _ = trained_step
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    # The decoder and the ensemble head get non-zero gradients from the first step. (Parts of
    # the deformable pixel decoder start with zero-initialised sampling offsets and attention
    # weights, so some of its gradients are exactly zero at step one by design.)
    own_prefixes = ("transformer_decoder.", "classifier.ensemble_head.")
    zero = [
        name for name, p in model.named_parameters()
        if name.startswith(own_prefixes) and not p.grad.abs().sum() > 0
    ]
    assert zero == []


def test_frozen_parts_receive_no_gradient(trained_step):
    _, model, _ = trained_step
    frozen_prefixes = ("audio_encoder.", "classifier.region_classifier.clip_model.", "backbone.stem.", "backbone.res2.")
    frozen = [(name, p) for name, p in model.named_parameters() if name.startswith(frozen_prefixes)]
    assert frozen, "expected frozen parameters in the tiny model"
    for name, parameter in frozen:
        assert not parameter.requires_grad, name
        assert parameter.grad is None, name
    # Everything else trains.
    assert all(p.requires_grad for name, p in model.named_parameters() if not name.startswith(frozen_prefixes))


def test_windows_with_different_frame_counts_are_rejected(tiny_cfg, make_window):
    model = build_model(tiny_cfg)
    model.train()
    with pytest.raises(ValueError, match="same number of frames"):
        model([make_window(num_frames=3), make_window(num_frames=2)])
