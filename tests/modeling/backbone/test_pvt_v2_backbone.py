"""PVTv2Backbone: timm's PVT-v2 with res2..res5 outputs; loads an original-release ImageNet file
(names patch_embed{i}, block{i}.{j}, norm{i}, mlp.dwconv.dwconv, head) through timm's mapping."""
from __future__ import annotations

import re

import pytest
import torch

from ov_avss.modeling.backbone import PVTv2Backbone


def _original_names(timm_state: dict) -> dict:
    """timm names -> the original PVT-v2 release's (inverse of timm's checkpoint_filter_fn)."""
    out = {}
    for key, value in timm_state.items():
        key = key.replace("mlp.dwconv.", "mlp.dwconv.dwconv.")
        key = re.sub(r"^stages\.(\d)\.downsample", lambda m: f"patch_embed{int(m.group(1)) + 1}", key)
        key = re.sub(r"^patch_embed\.", "patch_embed1.", key)
        key = re.sub(r"^stages\.(\d)\.blocks\.(\d+)", lambda m: f"block{int(m.group(1)) + 1}.{m.group(2)}", key)
        key = re.sub(r"^stages\.(\d)\.norm", lambda m: f"norm{int(m.group(1)) + 1}", key)
        out[key] = value
    return out


def test_outputs_and_b5_parameter_count():
    backbone = PVTv2Backbone(variant="pvt_v2_b0", drop_path_rate=0.0, weights="", out_features=["res2", "res3", "res4", "res5"])
    out = backbone(torch.randn(1, 3, 64, 96))
    assert {name: tuple(t.shape) for name, t in out.items()} == {
        "res2": (1, 32, 16, 24), "res3": (1, 64, 8, 12), "res4": (1, 160, 4, 6), "res5": (1, 256, 2, 3),
    }
    assert {n: s.stride for n, s in backbone.output_shape().items()} == {"res2": 4, "res3": 8, "res4": 16, "res5": 32}


@pytest.mark.slow  # the count is also checked by tests/modeling/tpavi/test_tpavi_configs.py
def test_b5_has_the_release_encoder_parameter_count():
    backbone = PVTv2Backbone(variant="pvt_v2_b5", drop_path_rate=0.1, weights="", out_features=["res2", "res3", "res4", "res5"])
    assert sum(p.numel() for p in backbone.parameters()) == 81_443_008
    # The release's linear drop-path schedule: 0 .. 0.1 over the 52 blocks.
    rates = [block.drop_path1.drop_prob if hasattr(block.drop_path1, "drop_prob") else 0.0
             for stage in backbone.pvt.stages for block in stage.blocks]
    assert len(rates) == 52 and rates[0] == 0.0 and abs(rates[-1] - 0.1) < 1e-7


def test_loads_an_original_release_file(tmp_path):
    torch.manual_seed(0)
    source = PVTv2Backbone(variant="pvt_v2_b0", drop_path_rate=0.0, weights="", out_features=["res2", "res3", "res4", "res5"])
    state = _original_names(source.pvt.state_dict())
    state["head.weight"], state["head.bias"] = torch.zeros(1000, 256), torch.zeros(1000)
    path = tmp_path / "pvt_v2_b0.pth"
    torch.save(state, path)
    loaded = PVTv2Backbone(variant="pvt_v2_b0", drop_path_rate=0.0, weights=str(path), out_features=["res2", "res3", "res4", "res5"])
    for key, value in source.pvt.state_dict().items():
        assert torch.equal(loaded.pvt.state_dict()[key], value), key
    del state["norm4.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match="norm.weight"):
        PVTv2Backbone(variant="pvt_v2_b0", drop_path_rate=0.0, weights=str(path), out_features=["res5"])
    with pytest.raises(FileNotFoundError, match="MODEL.PVT_V2.WEIGHTS"):
        PVTv2Backbone(variant="pvt_v2_b0", drop_path_rate=0.0, weights=str(tmp_path / "none.pth"), out_features=["res5"])
