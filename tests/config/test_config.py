"""Config merging: _BASE_ chains, overrides, unknown-key errors, the published configs."""
from __future__ import annotations

import os

import pytest

from ov_avss.config import ConfigKeyError, get_cfg

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLISHED_CONFIGS = [
    "configs/avsbench/Base-AVSBench.yaml",
    "configs/avsbench/OV_AVSS_R50.yaml",
    "configs/avsbench/swin/OV_AVSS_SwinB.yaml",
]


def test_base_chain_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 10\nSEED: 3\n")
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("_BASE_: ../base.yaml\nSOLVER:\n  MAX_ITER: 20\n")
    cfg = get_cfg()
    cfg.merge_from_file(str(child))
    assert cfg.SOLVER.BASE_LR == 0.5  # from the base
    assert cfg.SOLVER.MAX_ITER == 20  # the child wins
    assert cfg.SEED == 3
    assert cfg.SOLVER.WEIGHT_DECAY == get_cfg().SOLVER.WEIGHT_DECAY  # untouched default
    cfg.merge_from_list(["SOLVER.MAX_ITER", "30", "SOLVER.STEPS", "(5, 9)"])
    assert cfg.SOLVER.MAX_ITER == 30 and tuple(cfg.SOLVER.STEPS) == (5, 9)


def test_unknown_key_in_file_names_key_file_and_closest(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(ConfigKeyError) as info:
        get_cfg().merge_from_file(str(path))
    message = str(info.value)
    assert "SOLVER.BASE_LRR" in message and str(path) in message and "SOLVER.BASE_LR" in message


def test_unknown_key_in_overrides_and_odd_list():
    with pytest.raises(ConfigKeyError, match="SOLVER.MAX_ITERS.*SOLVER.MAX_ITER"):
        get_cfg().merge_from_list(["SOLVER.MAX_ITERS", "5"])
    with pytest.raises(ValueError, match="KEY VALUE"):
        get_cfg().merge_from_list(["SOLVER.MAX_ITER"])


@pytest.mark.parametrize("relative_path", PUBLISHED_CONFIGS)
def test_published_configs_merge(relative_path):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO_ROOT, relative_path))
    assert cfg.SOLVER.OPTIMIZER == "ADAMW"
    assert cfg.SOLVER.BASE_LR == pytest.approx(1e-4)
    assert cfg.SOLVER.MAX_ITER == 96228 and tuple(cfg.SOLVER.STEPS) == (72171, 88209)
    assert cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE == "full_model"
    assert tuple(cfg.DATASETS.TRAIN) == ("avsbench_ov_train_base",)
