"""tools/model_summary.py: parameter counts of the tiny config equal the hand derivation in
docs/model.md; the published R50 and Swin-B configs build without any weight file."""
from __future__ import annotations

from pathlib import Path

import pytest

from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _mha(dim: int) -> int:
    """nn.MultiheadAttention: packed q/k/v projection plus output projection."""
    return _linear(dim, 3 * dim) + _linear(dim, dim)


def _tiny_counts() -> dict[str, tuple[int, int]]:
    """(trainable, frozen) per component of configs/tiny/OV_AVSS_tiny.yaml, by hand."""
    d, queries, ffn, layers, frames, audio = 64, 20, 128, 3, 10, 128
    attention_layer = _mha(d) + 2 * d  # + LayerNorm
    ffn_layer = _linear(d, ffn) + _linear(ffn, d) + 2 * d
    decoder = (
        layers * (3 * attention_layer + ffn_layer)  # masked cross, self, audio cross, FFN
        + 2 * attention_layer  # audio self-attention, queries -> audio
        + 2 * d  # decoder_norm
        + 2 * queries * d  # query_feat, query_embed
        + 3 * d + frames * d  # level_embed, audio_pos_embed
        + _linear(d, 2) + 3 * _linear(d, d)  # class head, 3-layer mask MLP
        + _linear(audio, d) + _linear(d, d)  # audio_proj: 2-layer MLP from the VGGish width
    )
    # ResNet-18 without fc, FrozenBN (no parameters); stem + res2 frozen (FREEZE_AT 2).
    conv = lambda c_in, c_out, k: c_in * c_out * k * k  # noqa: E731
    stem = conv(3, 64, 7)
    res2 = 4 * conv(64, 64, 3)
    res3 = conv(64, 128, 3) + 3 * conv(128, 128, 3) + conv(64, 128, 1)
    res4 = conv(128, 256, 3) + 3 * conv(256, 256, 3) + conv(128, 256, 1)
    res5 = conv(256, 512, 3) + 3 * conv(512, 512, 3) + conv(256, 512, 1)
    # Pixel decoder: 64-d, AV fusion embed 64, 1 deformable layer (4 heads, 3 levels, 4 points).
    gn = 2 * d
    pixel_decoder = (
        3 * d  # level_embed
        + sum(_linear(c, d) + gn for c in (512, 256, 128))  # input projections + GN
        # AV fusion (embed 64) between d-wide visual and VGGish-wide audio tokens: gammas,
        # LayerNorms, visual query/value, audio key/value, visual/audio output projections.
        + (d + audio) + 2 * (d + audio)
        + 2 * _linear(d, 64) + 2 * _linear(audio, 64) + _linear(64, d) + _linear(64, audio)
        + _linear(d, 4 * 3 * 4 * 2) + _linear(d, 4 * 3 * 4) + 2 * _linear(d, d) + 2 * d
        + _linear(d, 128) + _linear(128, d) + 2 * d  # deformable encoder layer
        + conv(d, d, 1) + gn + conv(d, d, 3) + gn  # FPN lateral + output conv at res2
        + _linear(d, d)  # mask features 1x1 conv
    )
    vggish_convs = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    vggish = sum(conv(i, o, 3) + o for i, o in vggish_convs)
    vggish += _linear(512 * 4 * 6, 4096) + _linear(4096, 4096) + _linear(4096, 128)
    # ov-avss-tiny-clip: vision 32 px, patch 8, width 64, 2 layers; text width 32, 1 layer.
    block = lambda w: 2 * w + _mha(w) + 2 * w + _linear(w, 4 * w) + _linear(4 * w, w)  # noqa: E731
    vision = conv(3, 64, 8) + 64 + (16 + 1) * 64 + 2 * 64 + 2 * block(64) + 2 * 64 + 64 * 32
    text = 49408 * 32 + 77 * 32 + block(32) + 2 * 32 + 32 * 32 + 1  # + logit_scale
    return {
        "backbone": (res3 + res4 + res5, stem + res2),
        "audio_encoder": (0, vggish),
        "pixel_decoder": (pixel_decoder, 0),
        "transformer_decoder": (decoder, 0),
        "criterion": (0, 0),
        "classifier": (0, vision + text),  # the release's: CLIP only, no learned head
    }


def test_tiny_counts_match_the_hand_derivation(capsys):
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(REPO_ROOT / "configs/tiny/OV_AVSS_tiny.yaml")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = _tiny_counts()
    trainable = sum(t for t, _ in expected.values())
    frozen = sum(f for _, f in expected.values())
    assert lines[-2:] == [f"trainable_params: {trainable}", f"frozen_params: {frozen}"]
    components = lines[:-2]
    assert [line.split()[0] for line in components] == list(expected)
    for line in components:
        name = line.split()[0]
        exp_trainable, exp_frozen = expected[name]
        assert f"(trainable {exp_trainable}, frozen {exp_frozen})" in line, line


def test_overrides_are_applied(capsys):
    tool = load_tool("model_summary")
    tool.main(
        [
            "--config-file", str(REPO_ROOT / "configs/tiny/OV_AVSS_tiny.yaml"),
            "MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED", "True",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    classifier_line = next(line for line in lines if line.startswith("classifier"))
    head = 64 * 32 + 32 + 1  # projection of the 64-d queries to CLIP's 32-d text space, logit scale
    assert f"(trainable {head}," in classifier_line


def test_r50_config_builds_without_weight_files(capsys):
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(REPO_ROOT / "configs/avsbench/OV_AVSS_R50.yaml")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("trainable_params: ") and int(lines[-2].split()[1]) > 40_000_000
    assert lines[-1].startswith("frozen_params: ")


@pytest.mark.slow
def test_swin_b_config_builds_without_weight_files(capsys):
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(REPO_ROOT / "configs/avsbench/swin/OV_AVSS_SwinB.yaml")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert int(lines[-2].split()[1]) > 100_000_000
