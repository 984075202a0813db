"""tools/convert_checkpoint.py on checkpoints with the original release's names (tiny sizes)."""
from __future__ import annotations

import os

import pytest
import torch

from helpers import REPO_ROOT, TINY_OV_AVSS_CONFIG, load_module, original_release_layout
from tool_loader import load_tool

TINY_CONFIG = str(TINY_OV_AVSS_CONFIG)
RELEASE_OVERRIDES = [
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", "1024",
    "MODEL.SEM_SEG_HEAD.AV_FUSION_EMBED_DIM", "1024",
    "MODEL.MASK_FORMER.MAX_NUM_FRAMES", "5",
]


convert_tool = load_tool("convert_checkpoint")
layout = original_release_layout()


@pytest.fixture(scope="module")
def original_checkpoint(tmp_path_factory):
    from ov_avss.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(TINY_CONFIG)
    cfg.merge_from_list(RELEASE_OVERRIDES)
    state_dict = layout.original_state_dict(cfg, layout.tiny_clip_config_path())
    path = tmp_path_factory.mktemp("release") / "model_ov_avss_tiny.pth"
    torch.save({"model": state_dict, "iteration": 96227}, path)
    return str(path), state_dict


def _convert(input_path: str, output_path: str) -> int:
    return convert_tool.main(
        ["--config-file", TINY_CONFIG, "--input", input_path, "--output", output_path, *RELEASE_OVERRIDES]
    )


def test_corrupted_checkpoint_lists_unmapped_keys_and_shape_mismatches(original_checkpoint, tmp_path, capsys):
    _, state_dict = original_checkpoint
    corrupted = dict(state_dict)
    corrupted["sem_seg_head.predictor.some_new_head.weight"] = torch.zeros(3, 4)
    corrupted["sem_seg_head.predictor.query_feat.weight"] = torch.zeros(7, 64)  # 20 queries expected
    corrupted["audio_encoder.audio_backbone.embeddings.4.weight"] = torch.zeros(64, 4096)  # 128 expected
    del corrupted["sem_seg_head.predictor.decoder_norm.bias"]
    input_path, output_path = str(tmp_path / "corrupted.pth"), str(tmp_path / "ours.pth")
    torch.save({"model": corrupted}, input_path)

    assert _convert(input_path, output_path) == 1
    report = capsys.readouterr().out
    assert "  sem_seg_head.predictor.some_new_head.weight [3, 4]" in report
    assert (
        "  transformer_decoder.query_feat.weight (from sem_seg_head.predictor.query_feat.weight): "
        "checkpoint [7, 64], model [20, 64]" in report
    )
    assert (
        "  audio_encoder.embeddings.4.weight (from audio_encoder.audio_backbone.embeddings.4.weight): "
        "checkpoint [64, 4096], model [128, 4096]" in report
    )
    assert "  transformer_decoder.decoder_norm.bias [64]" in report  # missing
    assert "  criterion.empty_weight (" in report  # dropped, with the reason
    assert not os.path.exists(output_path)


def test_unreadable_inputs_exit_2(tmp_path, capsys):
    assert _convert(str(tmp_path / "missing.pth"), str(tmp_path / "ours.pth")) == 2
    assert "Checkpoint / weight file not found" in capsys.readouterr().err
    bare = tmp_path / "bare.pth"
    torch.save([1, 2, 3], bare)
    assert _convert(str(bare), str(tmp_path / "ours.pth")) == 2
    assert "expected a checkpoint dict or a state dict, got list" in capsys.readouterr().err


def test_release_checkpoint_converts_and_loads(original_checkpoint, tmp_path, capsys):
    input_path, _ = original_checkpoint
    output_path = str(tmp_path / "ours.pth")
    assert _convert(input_path, output_path) == 0
    assert "unmapped: 0" in capsys.readouterr().out
    assert "model" in torch.load(output_path, weights_only=True)


def _meta_case(name: str):
    """The published config's model and the release's state dict as meta tensors (see
    tests/checkpoint/test_original_checkpoint.py)."""
    checkpoint_tests = load_module(REPO_ROOT / "tests" / "checkpoint" / "test_original_checkpoint.py")
    return checkpoint_tests._meta_model_and_release_shapes(*checkpoint_tests.PUBLISHED[name])


@pytest.mark.parametrize("name", ["R50", "SwinB"])
def test_published_release_layouts_convert_with_nothing_missing(name):
    model, original = _meta_case(name)
    converted, report = convert_tool.convert_state_dict(original, model)
    assert report.ok and (report.unmapped, report.missing, report.shape_mismatches) == ([], [], [])
    assert set(converted) == set(model.state_dict())
    dropped = dict(report.dropped)
    assert "mask-prompt embedding" in dropped["clip_adapter.clip_model.visual.mask_embedding"]
    assert "criterion.empty_weight" in dropped


@pytest.mark.slow
def test_r50_release_checkpoint_converts_through_the_command_line(tmp_path, capsys):
    from ov_avss.config import get_cfg

    cfg = get_cfg()
    config = str(REPO_ROOT / "configs" / "avsbench" / "OV_AVSS_R50.yaml")
    cfg.merge_from_file(config)
    state_dict = layout.original_state_dict(cfg, layout.open_clip_config_path("ViT-B-16"))
    input_path, output_path = str(tmp_path / "model_ov_avss_r50.pth"), str(tmp_path / "ours.pth")
    torch.save({"model": state_dict, "iteration": 96227}, input_path)
    del state_dict
    assert convert_tool.main(["--config-file", config, "--input", input_path, "--output", output_path]) == 0
    out = capsys.readouterr().out
    assert "unmapped: 0" in out and "missing: 0" in out and "shape mismatches: 0" in out
    assert "clip_adapter.clip_model.visual.mask_embedding (" in out


def test_checkpoint_of_another_architecture_is_refused_with_the_loaders_error(tmp_path, capsys):
    from helpers import TINY_AVISM_CONFIG, load_config
    from ov_avss.modeling.meta_arch.build import build_model_without_pretrained_files

    avism = build_model_without_pretrained_files(load_config(TINY_AVISM_CONFIG))
    input_path, output_path = str(tmp_path / "avism_final.pth"), str(tmp_path / "ours.pth")
    torch.save({"model": avism.state_dict(), "iteration": 59}, input_path)
    assert _convert(input_path, output_path) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    error = [line for line in lines if line.startswith("error: ")]
    assert len(error) == 1 and lines[-1] == error[0]
    assert error[0].startswith(f"error: checkpoint {input_path} does not fit the model built from {TINY_CONFIG}: ")
    assert "model tensors match" in error[0] and "(missing)" in error[0] and error[0].endswith("nothing written")
    assert not os.path.exists(output_path)
