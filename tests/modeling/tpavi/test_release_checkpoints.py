"""Release-layout TPAVI checkpoints (fabricated with the release's names and shapes, for all six
models) convert with tools/convert_checkpoint.py with 0 unmapped / 0 missing / 0 mismatches, the
dead branches dropped by name, every tensor landing where the release used it; and load through
MODEL.WEIGHTS with nothing missing but the separately built VGGish and nothing unexpected."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

from ov_avss.checkpoint import CheckpointMismatchError, Checkpointer
from ov_avss.config import get_cfg
from ov_avss.modeling.meta_arch.build import build_model_without_pretrained_files

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT / "tests" / "tools"))
sys.path.insert(0, str(Path(__file__).parent))
from release_layout import release_state_dict  # noqa: E402
from tool_loader import load_tool  # noqa: E402

CONFIG_DIR = REPO_ROOT / "configs" / "avsbench" / "closed_set"
# PVT-v2-b5 models take long to build on a CPU: one in the default run, the others slow.
CONFIGS = [
    pytest.param(f"TPAVI_{s}_{b}.yaml", b, s == "AVSS", marks=[pytest.mark.slow] if b == "PVTv2" and s != "S4" else [])
    for s in ("S4", "MS3", "AVSS") for b in ("R50", "PVTv2")
]
# Release key -> our key, one per kind of part.
SAMPLE_KEYS = {
    "conv2.conv2d_list.3.weight": "reducers.1.branches.3.weight",
    "tpavi_b4.align_channel.weight": "tpavi_blocks.3.audio_projection.weight",
    "tpavi_b1.W_z.0.weight": "tpavi_blocks.0.output_projection.weight",
    "tpavi_b2.W_z.1.running_var": "tpavi_blocks.1.output_norm.running_var",
    "tpavi_b3.norm_layer.bias": "tpavi_blocks.2.norm.bias",
    "path1.resConfUnit1.conv2.bias": "fusion.0.skip_unit.conv2.bias",
    "path4.resConfUnit2.conv1.weight": "fusion.3.output_unit.conv1.weight",
    "output_conv.4.weight": "head.4.weight",
}
BACKBONE_SAMPLES = {
    "R50": {"resnet.layer3_1.5.bn3.running_mean": "backbone.res4.5.bn3.running_mean", "resnet.conv1.weight": "backbone.stem.conv1.weight"},
    "PVTv2": {
        "encoder_backbone.block3.39.mlp.dwconv.dwconv.weight": "backbone.pvt.stages.2.blocks.39.mlp.dwconv.weight",
        "encoder_backbone.patch_embed2.proj.weight": "backbone.pvt.stages.1.downsample.proj.weight",
        "encoder_backbone.norm4.bias": "backbone.pvt.stages.3.norm.bias",
    },
}

convert_tool = load_tool("convert_checkpoint")


def _cfg(config: str, weights: str = ""):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG_DIR / config))
    cfg.MODEL.WEIGHTS = weights
    return cfg


@pytest.mark.parametrize("config, backbone, avss", CONFIGS)
def test_release_layout_converts_with_nothing_missing(config, backbone, avss):
    state = release_state_dict(backbone, avss)
    model = build_model_without_pretrained_files(_cfg(config))
    converted, report = convert_tool.convert_state_dict(state, model)
    assert report.ok, "\n".join(report.lines())
    assert (report.unmapped, report.missing, report.shape_mismatches) == ([], [], [])
    assert report.built_from_own_files == ["audio_encoder"]
    dropped = dict(report.dropped)
    if backbone == "R50":
        assert {k for k in state if k.startswith(("resnet.layer3_2.", "resnet.layer4_2."))} | {
            k for k in state if k.startswith("path4.resConfUnit1.")} == set(dropped)
    else:
        assert set(dropped) == {k for k in state if k.startswith("path4.resConfUnit1.")}
    for theirs, ours in {**SAMPLE_KEYS, **BACKBONE_SAMPLES[backbone]}.items():
        assert torch.equal(converted[ours], state[theirs]), (theirs, ours)
    # Every trainable parameter comes from the file.
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable <= set(converted)


def test_release_file_loads_through_model_weights_and_the_command_line(tmp_path, caplog, capsys):
    state = release_state_dict("R50", avss=False)
    path = tmp_path / "S4_best.pth"
    torch.save(state, path)  # the release saves the bare state dict
    cfg = _cfg("TPAVI_S4_R50.yaml", str(path))
    model = build_model_without_pretrained_files(cfg)
    with caplog.at_level(logging.INFO):
        incompatible = Checkpointer(model)._load_model({"model": dict(state)})
    assert all(key.startswith("audio_encoder.") for key in incompatible.missing_keys)
    assert incompatible.unexpected_keys == []
    assert "resnet.layer3_2" in caplog.text  # dropped by name, with why
    assert torch.equal(model.state_dict()["tpavi_blocks.0.theta.weight"], state["tpavi_b1.theta.weight"])
    # From the file, as MODEL.WEIGHTS is read: a trained .pth must fit (the frozen VGGish, built
    # from its own file, is not required).
    fresh = build_model_without_pretrained_files(cfg)
    Checkpointer(fresh).load(str(path))
    assert torch.equal(fresh.state_dict()["head.4.weight"], state["output_conv.4.weight"])

    output = tmp_path / "converted.pth"
    code = convert_tool.main(["--config-file", str(CONFIG_DIR / "TPAVI_S4_R50.yaml"), "--input", str(path), "--output", str(output)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "unmapped: 0" in printed and "missing: 0" in printed and "audio_encoder" in printed
    written = torch.load(output, weights_only=True)["model"]
    assert not any(key.startswith("audio_encoder.") for key in written)
    assert torch.equal(written["head.0.weight"], state["output_conv.0.weight"])


def test_torchvision_imagenet_file_initialises_the_backbone():
    """The R50 configs start from torchvision's resnet50 file: all backbone tensors set, its
    classifier dropped by name."""
    from torchvision.models import resnet50

    imagenet = resnet50().state_dict()
    model = build_model_without_pretrained_files(_cfg("TPAVI_MS3_R50.yaml"))
    converted, report = convert_tool.convert_state_dict(imagenet, model)
    assert set(dict(report.dropped)) == {"fc.weight", "fc.bias"} and report.unmapped == []
    backbone_keys = {k for k in model.state_dict() if k.startswith("backbone.")}
    assert backbone_keys == set(converted)


def test_torchvision_imagenet_file_loads_through_model_weights(tmp_path):
    """The R50 configs' MODEL.WEIGHTS, torchvision's resnet50-19c8e357.pth, is a pretrained
    initialisation (a torch.hub model-zoo name): it sets the backbone and leaves the TPAVI parts
    at their initial values instead of being refused as a trained checkpoint that does not fit."""
    from torchvision.models import resnet50

    imagenet = resnet50().state_dict()
    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(imagenet, path)
    model = build_model_without_pretrained_files(_cfg("TPAVI_S4_R50.yaml"))
    head_before = model.head[0].weight.detach().clone()
    Checkpointer(model).load(str(path))
    assert torch.equal(model.state_dict()["backbone.res4.5.conv2.weight"], imagenet["layer3.5.conv2.weight"])
    assert torch.equal(model.head[0].weight, head_before)
    # The same file under a trained checkpoint's name is refused: it lacks the TPAVI parts.
    trained_name = tmp_path / "model_final.pth"
    torch.save(imagenet, trained_name)
    with pytest.raises(CheckpointMismatchError, match="reducers.0"):
        Checkpointer(build_model_without_pretrained_files(_cfg("TPAVI_S4_R50.yaml"))).load(str(trained_name))
