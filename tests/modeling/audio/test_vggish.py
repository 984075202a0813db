"""VGGish: loading the torchvggish weight layout, freezing, errors, output shape."""
import logging
import math

import pytest
import torch
from torch import nn

from ov_avss.audio.log_mel import waveform_to_examples
from ov_avss.config import get_cfg
from ov_avss.modeling.audio import VGGish, build_audio_encoder

torch.set_num_threads(1)

# The public vggish-10086976.pth layout: parameter name -> shape.
VGGISH_LAYOUT = {
    "features.0.weight": (64, 1, 3, 3),
    "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3),
    "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3),
    "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3),
    "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3),
    "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3),
    "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288),
    "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096),
    "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096),
    "embeddings.4.bias": (128,),
}


@pytest.fixture(scope="module")
def fabricated_state_dict():
    generator = torch.Generator().manual_seed(0)
    return {
        name: torch.randn(shape, generator=generator) * 0.02 for name, shape in VGGISH_LAYOUT.items()
    }


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, fabricated_state_dict):
    path = tmp_path_factory.mktemp("vggish") / "vggish-10086976.pth"
    torch.save(fabricated_state_dict, path)
    return path


def _audio_cfg(weights="", random_init=False, freeze=True):
    cfg = get_cfg()
    cfg.MODEL.AUDIO.WEIGHTS = str(weights)
    cfg.MODEL.AUDIO.RANDOM_INIT = random_init
    cfg.MODEL.AUDIO.FREEZE = freeze
    return cfg


@pytest.fixture(scope="module")
def loaded_encoder(weights_file):
    return build_audio_encoder(_audio_cfg(weights_file))


def test_loads_public_layout_and_embeds(loaded_encoder, fabricated_state_dict):
    encoder = loaded_encoder
    assert isinstance(encoder, VGGish)
    for name, value in fabricated_state_dict.items():
        assert torch.equal(encoder.state_dict()[name], value), name
    log_mel = torch.randn(3, 1, 96, 64)
    embeddings = encoder(log_mel)
    assert embeddings.shape == (3, 128)
    assert (embeddings >= 0).all()

    # The first FC layer sees the feature map flattened in (H, W, C) order (TensorFlow's NHWC).
    with torch.no_grad():
        flattened = encoder.features(log_mel).permute(0, 2, 3, 1).reshape(3, -1)
        hidden = flattened @ fabricated_state_dict["embeddings.0.weight"].T
        hidden = torch.relu(hidden + fabricated_state_dict["embeddings.0.bias"])
        hidden = torch.relu(hidden @ fabricated_state_dict["embeddings.2.weight"].T + fabricated_state_dict["embeddings.2.bias"])
        expected = torch.relu(hidden @ fabricated_state_dict["embeddings.4.weight"].T + fabricated_state_dict["embeddings.4.bias"])
    assert torch.allclose(embeddings, expected, atol=1e-5)


def test_frozen_encoder_stays_in_eval_and_has_no_gradients(loaded_encoder):
    encoder = loaded_encoder
    parent = nn.Sequential(encoder)
    parent.train()
    assert parent.training and not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    log_mel = torch.randn(2, 1, 96, 64, requires_grad=True)
    embeddings = encoder(log_mel)
    assert not embeddings.requires_grad


def test_unfrozen_encoder_trains(weights_file):
    encoder = build_audio_encoder(_audio_cfg(weights_file, freeze=False))
    encoder.train()
    assert encoder.training
    encoder(torch.randn(2, 1, 96, 64)).sum().backward()
    assert encoder.features[0].weight.grad is not None


def test_missing_file_names_key_path_and_source(tmp_path):
    missing = tmp_path / "nowhere" / "vggish-10086976.pth"
    with pytest.raises(FileNotFoundError) as error:
        build_audio_encoder(_audio_cfg(missing))
    message = str(error.value)
    assert "MODEL.AUDIO.WEIGHTS" in message
    assert str(missing) in message
    assert "harritaylor/torchvggish" in message


def test_wrong_keys_are_rejected(tmp_path):
    path = tmp_path / "renamed.pth"
    torch.save({"vggish.features.0.weight": torch.zeros(64, 1, 3, 3)}, path)
    with pytest.raises(ValueError) as error:
        build_audio_encoder(_audio_cfg(path))
    message = str(error.value)
    assert "MODEL.AUDIO.WEIGHTS" in message and str(path) in message
    assert "'features.0.weight'" in message and "'vggish.features.0.weight'" in message


def test_wrong_shape_is_rejected(tmp_path):
    path = tmp_path / "reshaped.pth"
    torch.save({name: torch.zeros(1) for name in VGGISH_LAYOUT}, path)
    with pytest.raises(ValueError, match=r"embeddings\.4\.weight: file \(1,\) vs model \(128, 4096\)"):
        build_audio_encoder(_audio_cfg(path))


def test_random_init_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="ov_avss.modeling.audio.vggish"):
        encoder = build_audio_encoder(_audio_cfg("does/not/exist.pth", random_init=True))
    assert any("RANDOM_INIT" in record.getMessage() for record in caplog.records)
    assert encoder(torch.randn(1, 1, 96, 64)).shape == (1, 128)


def test_random_init_embeddings_tell_sounds_apart():
    # A frozen random VGGish must still carry the sound (the synthetic quickstart relies on it):
    # tones an octave apart and silence give embeddings that differ by a sizeable fraction of
    # their norm, not only by a bias-driven constant (PyTorch's default init collapses them to
    # within about 5%).
    encoder = build_audio_encoder(_audio_cfg(random_init=True))
    seconds = torch.arange(16000) / 16000
    waves = [0.5 * torch.sin(2 * math.pi * hz * seconds) for hz in (440.0, 880.0, 1760.0)]
    examples = torch.cat([waveform_to_examples(wave, 16000) for wave in waves + [torch.zeros(16000)]])
    with torch.no_grad():
        embeddings = encoder(examples)
    distances = torch.cdist(embeddings, embeddings)
    off_diagonal = distances[~torch.eye(len(examples), dtype=torch.bool)]
    assert (off_diagonal > 0.1 * embeddings.norm(dim=1).mean()).all()


def test_bad_input_shape_is_rejected():
    encoder = build_audio_encoder(_audio_cfg(random_init=True))
    with pytest.raises(ValueError, match=r"\[N, 1, 96, 64\]"):
        encoder(torch.randn(2, 96, 64))


def test_embedding_cache_returns_what_the_network_computes():
    cached = build_audio_encoder(_audio_cfg(random_init=True))
    uncached_cfg = _audio_cfg(random_init=True)
    uncached_cfg.MODEL.AUDIO.EMBEDDING_CACHE_SIZE = 0
    uncached = build_audio_encoder(uncached_cfg)
    uncached.load_state_dict(cached.state_dict())
    first, second = torch.randn(3, 1, 96, 64), torch.randn(2, 1, 96, 64)
    # The batches differ in size, so the kernels may sum in another order: compare to float32
    # rounding of the embedding's scale (1e-4 relative), far below the O(1) difference between
    # embeddings of different examples that a wrong cache row would give.
    with torch.no_grad():
        expected = uncached(torch.cat([first, second, first[:1]]))
        tolerance = {"rtol": 1e-4, "atol": 1e-4 * float(expected.abs().max())}
        torch.testing.assert_close(cached(first), expected[:3], **tolerance)
        # Mixed hits and misses, a repeated example, in the caller's order.
        torch.testing.assert_close(cached(torch.cat([second, first[:1]])), expected[3:], **tolerance)
        assert (expected[0] - expected[1]).abs().max() > 100 * tolerance["atol"]
    assert len(cached._embedding_cache) == 5


def test_embedding_cache_is_bounded_and_cleared_by_new_weights(weights_file):
    cfg = _audio_cfg(random_init=True)
    cfg.MODEL.AUDIO.EMBEDDING_CACHE_SIZE = 2
    encoder = build_audio_encoder(cfg)
    examples = torch.randn(3, 1, 96, 64)
    with torch.no_grad():
        encoder(examples)
        assert len(encoder._embedding_cache) == 2
        stale = encoder(examples[:1])
        encoder.load_weights(str(weights_file))
        assert len(encoder._embedding_cache) == 0
        assert not torch.equal(encoder(examples[:1]), stale)


def test_unfrozen_encoder_does_not_cache():
    encoder = build_audio_encoder(_audio_cfg(random_init=True, freeze=False))
    encoder(torch.randn(2, 1, 96, 64))
    assert len(encoder._embedding_cache) == 0
