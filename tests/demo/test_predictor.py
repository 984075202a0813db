"""VideoPredictor: loads a release-layout checkpoint through MODEL.WEIGHTS (and refuses one that
would leave a configured layer untrained), and returns maps at the frames' original size."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from ov_avss.checkpoint import CheckpointMismatchError
from ov_avss.config import get_cfg
from ov_avss.demo.predictor import VideoPredictor

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO_ROOT / "configs" / "tiny" / "OV_AVSS_tiny.yaml"
# The release's sizes of the layers the tiny config shrinks.
RELEASE_OVERRIDES = [
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", 1024,
    "MODEL.SEM_SEG_HEAD.AV_FUSION_EMBED_DIM", 1024,
    "MODEL.MASK_FORMER.MAX_NUM_FRAMES", 5,
]


def _layout():
    path = REPO_ROOT / "tests" / "checkpoint" / "original_release_layout.py"
    spec = importlib.util.spec_from_file_location("original_release_layout", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release_checkpoint(tmp_path_factory):
    layout = _layout()
    cfg = get_cfg()
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.merge_from_list(RELEASE_OVERRIDES)
    path = tmp_path_factory.mktemp("release") / "model_ov_avss_tiny.pth"
    torch.save({"model": layout.original_state_dict(cfg, layout.tiny_clip_config_path())}, path)
    return str(path)


def _cfg(weights: str, *overrides):
    cfg = get_cfg()
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.merge_from_list(RELEASE_OVERRIDES + ["MODEL.WEIGHTS", weights, *overrides])
    return cfg


def test_release_checkpoint_runs_a_window_at_original_size(release_checkpoint):
    predictor = VideoPredictor(_cfg(release_checkpoint))
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (5, 60, 80, 3), generator=generator, dtype=torch.uint8)
    output = predictor(frames, torch.randn(5, 1, 96, 64, generator=generator), ["dog", "emergency-car"])
    assert output["sem_seg"].shape == (5, 60, 80)
    assert set(output["sem_seg"].unique().tolist()) <= {0, 1, 2}


def test_release_checkpoint_with_the_learned_head_on_is_refused(release_checkpoint):
    with pytest.raises(CheckpointMismatchError, match=r"classifier\.ensemble_head\.\S+ \(missing\)"):
        VideoPredictor(_cfg(release_checkpoint, "MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED", True))
