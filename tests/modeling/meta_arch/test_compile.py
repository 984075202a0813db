"""MODEL.COMPILE: each meta-architecture's COMPILED_PARTS are compiled in place, so parameter
names (and checkpoints) do not change; (slow) the tiny OV-AVSS's losses with and without it."""
from __future__ import annotations

import pytest
import torch

from helpers import REPO_ROOT, TINY_AVISM_CONFIG, TINY_OV_AVSS_CONFIG, load_config
from ov_avss.modeling import build_model_without_pretrained_files


TINY_TPAVI_CONFIG = REPO_ROOT / "configs" / "tiny" / "TPAVI_tiny.yaml"


@pytest.mark.parametrize("config_path", [TINY_OV_AVSS_CONFIG, TINY_AVISM_CONFIG, TINY_TPAVI_CONFIG])
def test_compile_wraps_the_heavy_parts_in_place(config_path):
    models = {}
    for compile_on in (False, True):
        cfg = load_config(config_path, ["MODEL.COMPILE", compile_on])
        torch.manual_seed(0)
        models[compile_on] = build_model_without_pretrained_files(cfg)
    eager, compiled = models[False], models[True]
    assert list(compiled.state_dict()) == list(eager.state_dict())
    parts = type(compiled).COMPILED_PARTS
    assert "backbone" in parts
    for name in parts:
        for model, compiled_call in ((compiled, True), (eager, False)):
            part = getattr(model, name)
            members = part.values() if isinstance(part, torch.nn.ModuleDict) else part
            for module in members if isinstance(part, (torch.nn.ModuleList, torch.nn.ModuleDict)) else (part,):
                assert (module._compiled_call_impl is not None) == compiled_call, name
    # Nothing outside the parts is compiled: the meta-architecture's own code stays eager.
    assert compiled._compiled_call_impl is None


@pytest.mark.slow
def test_compiled_tiny_ov_avss_gives_the_eager_losses(make_window):
    window = make_window(num_frames=5, height=64, width=64)
    losses = {}
    for compile_on in (False, True):
        torch._dynamo.reset()
        # No dropout: under compile its masks come from inductor's RNG, not the eager stream.
        cfg = load_config(TINY_OV_AVSS_CONFIG, ["MODEL.COMPILE", compile_on, "MODEL.SEM_SEG_HEAD.AV_FUSION_DROPOUT", 0.0])
        torch.manual_seed(0)
        model = build_model_without_pretrained_files(cfg).train()
        torch.manual_seed(1)
        losses[compile_on] = {name: float(value) for name, value in model([window]).items()}
    assert losses[True].keys() == losses[False].keys()
    for name, value in losses[False].items():
        assert losses[True][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
