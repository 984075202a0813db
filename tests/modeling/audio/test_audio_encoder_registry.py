"""Every registered audio encoder declares the front end the data layer finds for its name, and
its embedding width; the builder refuses an encoder whose two front ends differ."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from ov_avss.audio import audio_front_end
from ov_avss.config import get_cfg
from ov_avss.modeling.audio import AUDIO_ENCODER_REGISTRY, VGGish, build_audio_encoder


def _cfg(name: str):
    cfg = get_cfg()
    cfg.MODEL.AUDIO.NAME = name
    cfg.MODEL.AUDIO.RANDOM_INIT = True
    return cfg


@pytest.mark.parametrize("name", [name for name, _ in AUDIO_ENCODER_REGISTRY])
def test_encoder_takes_what_its_registered_front_end_computes(name):
    encoder_class = AUDIO_ENCODER_REGISTRY.get(name)
    front_end = audio_front_end(name)
    assert encoder_class.front_end is front_end
    encoder = build_audio_encoder(_cfg(name)).eval()
    examples = front_end.waveform_to_examples(0.1 * torch.randn(2 * front_end.sample_rate), front_end.sample_rate)
    assert examples.shape == (2, *front_end.example_shape)
    assert encoder(examples).shape == (2, encoder_class.embedding_size)


def test_builder_refuses_a_front_end_other_than_the_registered_one(monkeypatch):
    other = dataclasses.replace(VGGish.front_end, name="other log-mel")
    monkeypatch.setattr(VGGish, "front_end", other)
    with pytest.raises(ValueError, match="declares the front end 'other log-mel' but 'VGGish log-mel'"):
        build_audio_encoder(_cfg("VGGish"))


def test_data_layer_finds_the_front_end_without_importing_the_model():
    code = (
        "import sys, ov_avss.data.build, ov_avss.audio; "
        "assert ov_avss.audio.audio_front_end('VGGish').example_shape == (1, 96, 64); "
        "print(sorted(m for m in sys.modules if m.startswith('ov_avss.modeling')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
