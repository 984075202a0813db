"""The six TPAVI configs build without weight files and tools/model_summary.py reports exactly the
release's used trainable parameters (its registered ones minus the dead branches); VGGish frozen."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ov_avss.config import get_cfg

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT / "tests" / "tools"))
from tool_loader import load_tool  # noqa: E402

CONFIG_DIR = REPO_ROOT / "configs" / "avsbench" / "closed_set"
VGGISH_PARAMETERS = 72_141_184
# Trainable parameters the release's Pred_endecoder uses (gets a gradient from), per model.
RELEASE_USED_TRAINABLE = {
    "TPAVI_S4_R50.yaml": 68_157_697,
    "TPAVI_MS3_R50.yaml": 68_157_697,
    "TPAVI_AVSS_R50.yaml": 68_158_983,
    "TPAVI_S4_PVTv2.yaml": 100_140_417,
    "TPAVI_MS3_PVTv2.yaml": 100_140_417,
    "TPAVI_AVSS_PVTv2.yaml": 100_141_703,
}
COMPONENTS = ["backbone", "audio_encoder", "reducers", "tpavi_blocks", "fusion", "head"]


# PVT-v2-b5 models take long to build on a CPU: the S4 one in the default run, the others slow.
@pytest.mark.parametrize(
    "config",
    [pytest.param(c, marks=[pytest.mark.slow] if "PVTv2" in c and "S4" not in c else []) for c in sorted(RELEASE_USED_TRAINABLE)],
)
def test_model_summary_reports_the_release_counts(config, capsys):
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(CONFIG_DIR / config)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[:-2]] == COMPONENTS
    assert lines[-2:] == [f"trainable_params: {RELEASE_USED_TRAINABLE[config]}", f"frozen_params: {VGGISH_PARAMETERS}"]


@pytest.mark.parametrize("config", sorted(RELEASE_USED_TRAINABLE))
def test_recipe(config):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG_DIR / config))
    setting = config.split("_")[1]
    assert cfg.MODEL.META_ARCHITECTURE == "TPAVI" and cfg.SEED == 123
    assert (cfg.SOLVER.OPTIMIZER, cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY, cfg.SOLVER.IMS_PER_BATCH) == ("ADAM", 1e-4, 0.0, 4)
    assert cfg.SOLVER.STEPS == () and cfg.SOLVER.WARMUP_ITERS == 0 and not cfg.SOLVER.CLIP_GRADIENTS.ENABLED
    assert cfg.SOLVER.BACKBONE_MULTIPLIER == 1.0
    # Epochs x ceil(train videos / 4): S4 15 x 3452, MS3 30 x 296, AVSS 60 x 8498.
    epochs, videos = {"S4": (15, 3452), "MS3": (30, 296), "AVSS": (60, 8498)}[setting]
    assert cfg.SOLVER.MAX_ITER == epochs * -(-videos // 4)
    assert cfg.MODEL.TPAVI.AVM_LOSS == {"S4": "", "MS3": "soft_mask_batch_sum", "AVSS": "hard_mask_frame_mean"}[setting]
    assert cfg.MODEL.TPAVI.AUDIO_PROJECTION_BIAS == (setting != "AVSS")
    assert cfg.MODEL.TPAVI.CLIP_FRAMES == (10 if setting == "AVSS" else 5)
