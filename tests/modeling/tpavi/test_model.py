"""The TPAVI meta-architecture on the tiny config: every trainable parameter gets a gradient from
the prediction (no dead parameters), padding frames are zeroed and do not change the real frames,
eval outputs, input checks."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import load_config
from ov_avss.modeling import build_model

REPO_ROOT = Path(__file__).resolve().parents[3]
TINY = REPO_ROOT / "configs" / "tiny" / "TPAVI_tiny.yaml"


def _window(uid: str, frames: int, size: int = 64, labels=(0,), valid=None) -> dict:
    generator = torch.Generator().manual_seed(len(uid) + frames)
    masks = torch.zeros(len(labels), frames, size, size, dtype=torch.bool)
    for index in range(len(labels)):
        masks[index, :, 8 * index : 8 * index + 24, 10:40] = True
    return {
        "uid": uid,
        "frames": torch.randint(0, 256, (frames, 3, size, size), dtype=torch.uint8, generator=generator),
        "audio": torch.randn(frames, 1, 96, 64, generator=generator),
        "frame_valid": torch.ones(frames, dtype=torch.bool) if valid is None else torch.tensor(valid),
        "targets": {"labels": torch.tensor(labels), "masks": masks},
    }


def _model(overrides=()):
    torch.manual_seed(0)
    return build_model(load_config(TINY, list(overrides)))


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # MS3: BCE + soft AVM
        ["MODEL.TPAVI.AVM_LOSS", ""],  # S4
        ["MODEL.TPAVI.NUM_CLASSES", 4, "MODEL.TPAVI.AVM_LOSS", "hard_mask_frame_mean", "MODEL.TPAVI.CLIP_FRAMES", 10,
         "MODEL.TPAVI.AUDIO_PROJECTION_BIAS", False],  # AVSS
    ],
    ids=["ms3", "s4", "avss"],
)
def test_every_trainable_parameter_gets_a_gradient(overrides):
    model = _model(overrides).train()
    # At the release's initialisation each block's output norm is 0, which blocks the gradient
    # of the attention path for the first step only; start from where one step would leave it.
    for block in model.tpavi_blocks.values():
        torch.nn.init.ones_(block.output_norm.weight)
    semantic = "hard_mask_frame_mean" in overrides
    windows = [_window("a", 5, labels=(0, 2) if semantic else (0,)), _window("bb", 10 if semantic else 5)]
    losses = model(windows)
    assert set(losses) == ({"loss_ce", "loss_avm"} if semantic else {"loss_bce"} | ({"loss_avm"} if "" not in overrides else set()))
    sum(losses.values()).backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    without_gradient = [name for name, p in trainable if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not without_gradient
    assert not any(p.requires_grad for p in model.audio_encoder.parameters())


def test_padding_frames_do_not_change_the_real_frames():
    """A 5-frame window in a 10-frame model (AVSS's v1 videos) gives, in eval, the 5-frame model's
    outputs: the windows are independent and the padding window is zeroed."""
    short = _model()
    padded = _model(["MODEL.TPAVI.CLIP_FRAMES", 10])
    padded.load_state_dict(short.state_dict())
    short.eval(), padded.eval()
    window = _window("c", 5)
    expected, got = short([window])[0], padded([window])[0]
    assert got["sounding_prob"].shape == (5, 64, 64)
    assert (got["sounding_prob"] - expected["sounding_prob"]).abs().max() < 1e-5
    images, embeddings, exists, _, _ = padded._prepare([window])
    logits, maps, audio = padded.run(images, embeddings, exists)
    assert exists.tolist() == [True] * 5 + [False] * 5
    assert logits[5:].abs().max() == 0 and all(m[5:].abs().max() == 0 for m in maps)


def test_eval_outputs_at_the_original_size():
    model = _model(["MODEL.TPAVI.NUM_CLASSES", 3, "MODEL.TPAVI.AVM_LOSS", "hard_mask_frame_mean"]).eval()
    window = _window("d", 5, size=64)
    window["height"], window["width"] = 90, 120
    out = model([window])[0]
    assert out["sem_seg"].shape == (5, 90, 120) and out["sem_seg"].dtype == torch.int64
    assert int(out["sem_seg"].max()) <= 2
    assert out["sounding_prob"].dtype == torch.float32 and 0 <= float(out["sounding_prob"].min())


def test_bad_inputs_are_refused():
    model = _model().eval()
    with pytest.raises(ValueError, match="up to MODEL.TPAVI.CLIP_FRAMES = 5"):
        model([_window("e", 6)])
    window = _window("f", 5)
    window["audio"] = window["audio"][:, :, :10]
    with pytest.raises(ValueError, match="audio must be"):
        model([window])
    with pytest.raises(ValueError, match="AVM_STAGES"):
        _model(["MODEL.TPAVI.STAGES", [2, 3]])
