"""A small synthetic AVISeg and the tiny AVISM config pointing at it (audio from the wavs
through a random frozen VGGish: the synthetic set has no FEATAudios)."""
from __future__ import annotations

import pytest

from helpers import synthetic_aviseg_cfg


@pytest.fixture(scope="module")
def synthetic_cfg(tmp_path_factory):
    return synthetic_aviseg_cfg(
        tmp_path_factory.mktemp("aviseg"), seed=5, num_videos={"train": 2, "val": 2, "test": 1},
        overrides=["MODEL.AVISM.AUDIO_ENCODER_ON", True, "MODEL.AUDIO.RANDOM_INIT", True],
    )
