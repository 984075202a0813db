"""Optimizer parameter groups and gradient clipping."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ov_avss.config import get_cfg
from ov_avss.solver import build_gradient_clipper, build_optimizer


class GroupedModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.backbone[0].requires_grad_(True)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)
        self.norm = nn.LayerNorm(4)
        self.query_feat = nn.Embedding(5, 4)
        self.level_embed = nn.Parameter(torch.zeros(3, 4))
        self.head = nn.Linear(4, 2)
        self.shared = self.head  # the same parameters twice must appear once


def groups_by_param(optimizer) -> dict[int, dict]:
    return {id(p): group for group in optimizer.param_groups for p in group["params"]}


def test_param_groups_multiplier_decay_and_frozen():
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.WEIGHT_DECAY_NORM = 0.0
    cfg.SOLVER.WEIGHT_DECAY_EMBED = 0.0
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    model = GroupedModel()
    optimizer = build_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.AdamW)
    group_of = groups_by_param(optimizer)

    def hyper(param):
        group = group_of[id(param)]
        return pytest.approx(group["lr"]), group["weight_decay"]

    assert hyper(model.backbone[0].weight) == (0.1, 0.05)
    assert hyper(model.backbone[1].weight) == (0.1, 0.0)  # BatchNorm in the backbone
    assert hyper(model.norm.weight) == (1.0, 0.0)
    assert hyper(model.norm.bias) == (1.0, 0.0)
    assert hyper(model.query_feat.weight) == (1.0, 0.0)
    assert hyper(model.level_embed) == (1.0, 0.0)
    assert hyper(model.head.weight) == (1.0, 0.05)
    assert id(model.frozen.weight) not in group_of and id(model.frozen.bias) not in group_of
    num_trainable = sum(1 for p in model.parameters() if p.requires_grad)  # parameters() dedups
    assert sum(len(g["params"]) for g in optimizer.param_groups) == num_trainable
    # Equal hyper-parameters share one group.
    assert len(optimizer.param_groups) == len({(g["lr"], g["weight_decay"]) for g in optimizer.param_groups})


def test_sgd_and_unknown_optimizer():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = "SGD"
    cfg.SOLVER.MOMENTUM = 0.8
    optimizer = build_optimizer(cfg, nn.Linear(2, 2))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.8
    cfg.SOLVER.OPTIMIZER = "ADAM"
    cfg.SOLVER.WEIGHT_DECAY = 0.0
    optimizer = build_optimizer(cfg, nn.Linear(2, 2))
    assert type(optimizer) is torch.optim.Adam and optimizer.param_groups[0]["weight_decay"] == 0.0
    cfg.SOLVER.OPTIMIZER = "LAMB"
    with pytest.raises(ValueError, match="LAMB"):
        build_optimizer(cfg, nn.Linear(2, 2))


def params_with_grads(*grads):
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for param, grad in zip(params, grads):
        param.grad = grad.clone()
    return params


@pytest.mark.parametrize(
    "clip_type, expected",
    [
        # Norms 5 and 12: one total norm of 13 scales both by 1/13.
        ("full_model", [torch.tensor([3.0, 4.0]) / 13, torch.tensor([12.0]) / 13]),
        # Each parameter clipped to norm 1 on its own.
        ("norm", [torch.tensor([0.6, 0.8]), torch.tensor([1.0])]),
        ("value", [torch.tensor([1.0, 1.0]), torch.tensor([1.0])]),
    ],
)
def test_gradient_clipping(clip_type, expected):
    cfg = get_cfg()
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = clip_type
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
    params = params_with_grads(torch.tensor([3.0, 4.0]), torch.tensor([12.0]))
    build_gradient_clipper(cfg)(params)
    for param, want in zip(params, expected):
        torch.testing.assert_close(param.grad, want, rtol=1e-5, atol=1e-5)


def test_clipping_disabled_and_unknown_type():
    cfg = get_cfg()
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = False
    assert build_gradient_clipper(cfg) is None
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "agc"
    with pytest.raises(ValueError, match="agc"):
        build_gradient_clipper(cfg)
