"""A small synthetic AVISeg and the tiny AVISM config pointing at it (audio from the wavs
through a random frozen VGGish: the synthetic set has no FEATAudios)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ov_avss.config import get_cfg
from ov_avss.data.aviseg_synthetic import make_synthetic_aviseg

TINY = Path(__file__).resolve().parents[3] / "configs" / "avis" / "AVISM_tiny_synthetic.yaml"


@pytest.fixture(scope="module")
def synthetic_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("aviseg")
    make_synthetic_aviseg(str(root), seed=5, num_videos={"train": 2, "val": 2, "test": 1}, size=(48, 64), frames=(6, 8))
    config = get_cfg()
    config.merge_from_file(str(TINY))
    config.merge_from_list(["DATASETS.ROOT", str(root), "MODEL.AVISM.AUDIO_ENCODER_ON", True, "MODEL.AUDIO.RANDOM_INIT", True])
    return config
