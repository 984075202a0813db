"""tools/convert_checkpoint.py on checkpoints with the original release's names (tiny sizes)."""
from __future__ import annotations

import os

import pytest
import torch

from helpers import REPO_ROOT, TINY_AVISM_CONFIG, TINY_OV_AVSS_CONFIG, avism_release_layout, load_config, load_module, original_release_layout
from tool_loader import load_tool
from weight_server import Route, closed_port_url, weight_server

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


def test_release_checkpoint_from_an_address_converts_as_the_local_file(
    original_checkpoint, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    input_path, _ = original_checkpoint
    assert _convert(input_path, str(tmp_path / "local.pth")) == 0
    with weight_server() as server:
        server.routes["/release/model_ov_avss_tiny.pth"] = Route(open(input_path, "rb").read())
        url = server.url("/release/model_ov_avss_tiny.pth")
        assert _convert(url, str(tmp_path / "remote.pth")) == 0
    assert "unmapped: 0" in capsys.readouterr().out
    local = torch.load(tmp_path / "local.pth", weights_only=True)
    remote = torch.load(tmp_path / "remote.pth", weights_only=True)
    assert remote["__source__"] == url
    assert local["model"].keys() == remote["model"].keys()
    assert all(torch.equal(local["model"][k], remote["model"][k]) for k in local["model"])

    unreachable = closed_port_url()
    assert _convert(unreachable, str(tmp_path / "never.pth")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: Cannot reach {unreachable}")
    assert not (tmp_path / "never.pth").exists()


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


# ------------------------------------------------------------------------------------- AVISM
# Mask2Former's pixel decoder has a 1024-wide deformable-encoder FFN (the release layout helper's).
AVISM_OVERRIDES = ["MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", "1024"]
# Published AVISM config -> whether its release file is of the COCO-initialised family (vita_module).
AVISM_PUBLISHED = {
    "AVISM_R50_IN.yaml": False,
    "AVISM_R50_COCO.yaml": True,
    "AVISM_SwinL_IN.yaml": False,
    "AVISM_SwinL_COCO.yaml": True,
}
avism_layout = avism_release_layout()


@pytest.mark.parametrize("coco", [False, True], ids=["imagenet_family", "coco_family"])
def test_avism_release_checkpoint_converts_and_loads_as_the_loader_renames(coco, tmp_path, capsys):
    """A file with the AVISM release's names and shapes (tiny sizes): the tool maps it with 0
    unmapped / 0 missing; its output loads through MODEL.WEIGHTS with 0 missing / 0 unexpected
    and equals what loading the release file itself gives (one name map for both)."""
    from ov_avss.checkpoint import Checkpointer
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = load_config(TINY_AVISM_CONFIG, AVISM_OVERRIDES)
    path = str(tmp_path / f"avism_release_{'coco' if coco else 'in'}.pth")
    torch.save({"model": avism_layout.reference_state_dict(cfg, coco), "iteration": 47999}, path)
    output = str(tmp_path / "converted.pth")
    code = convert_tool.main(["--config-file", str(TINY_AVISM_CONFIG), "--input", path, "--output", output, *AVISM_OVERRIDES])
    report = capsys.readouterr().out
    assert code == 0, report
    assert "unmapped: 0" in report and "missing: 0" in report and "shape mismatches: 0" in report
    assert f"{'vita' if coco else 'avism'}_criterion.empty_weight (class weights of the video loss" in report

    converted = build_model_without_pretrained_files(cfg)
    incompatible = Checkpointer(converted, save_to_disk=False)._load_model({"model": torch.load(output)["model"]})
    assert (incompatible.missing_keys, incompatible.unexpected_keys, incompatible.incorrect_shapes) == ([], [], [])
    direct = build_model_without_pretrained_files(cfg)
    Checkpointer(direct, save_to_disk=False).load(path)
    for name, value in direct.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[name], value, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("config", sorted(AVISM_PUBLISHED))
def test_avism_published_sizes_map_with_nothing_unmapped_missing_or_mis_shaped(config):
    """The converter's check (names and shapes) on the AVISM release's full-size R50 / Swin-L
    layouts (meta tensors: no memory)."""
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = load_config(REPO_ROOT / "configs" / "avis" / config)
    with torch.device("meta"):
        model = build_model_without_pretrained_files(cfg, device="meta")
    coco = AVISM_PUBLISHED[config]
    shapes = avism_layout.reference_shapes(cfg, coco)
    state_dict = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    _, report = convert_tool.convert_state_dict(state_dict, model)
    assert (report.unmapped, report.missing, report.shape_mismatches, report.collisions) == ([], [], [], [])
    assert sorted(key for key, _ in report.dropped) == sorted(
        ["criterion.empty_weight", f"{'vita' if coco else 'avism'}_criterion.empty_weight"]
    )


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
