"""The AVISM configs build without weight files and tools/model_summary.py reports trainable
parameter counts within 0.5% of the reference's (R50: 66,072,246; Swin-L: 237,649,578)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT / "tests" / "tools"))
from tool_loader import load_tool  # noqa: E402

# Trainable parameters of the reference's models (the AVIS paper's release).
REFERENCE_TRAINABLE = {"R50": 66_072_246, "SwinL": 237_649_578}
COMPONENTS = ["backbone", "pixel_decoder", "frame_decoder", "video_decoder", "frame_criterion", "video_criterion"]


def _summary(config: str, capsys) -> tuple[list[str], int, int]:
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(REPO_ROOT / "configs" / "avis" / config)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("trainable_params: ") and lines[-1].startswith("frozen_params: ")
    return lines[:-2], int(lines[-2].split()[1]), int(lines[-1].split()[1])


@pytest.mark.parametrize(
    "config, family",
    [
        ("AVISM_R50_IN.yaml", "R50"),
        ("AVISM_R50_COCO.yaml", "R50"),
        pytest.param("AVISM_SwinL_IN.yaml", "SwinL", marks=pytest.mark.slow),
        pytest.param("AVISM_SwinL_COCO.yaml", "SwinL", marks=pytest.mark.slow),
    ],
)
def test_trainable_parameters_within_half_a_percent_of_the_reference(config, family, capsys):
    components, trainable, frozen = _summary(config, capsys)
    assert [line.split()[0] for line in components] == COMPONENTS
    reference = REFERENCE_TRAINABLE[family]
    assert abs(trainable - reference) <= 0.005 * reference, (trainable, reference)
    assert frozen == 0  # the reference trains everything (FrozenBN holds buffers, not parameters)


def test_tiny_config_builds(capsys):
    components, trainable, _ = _summary("AVISM_tiny_synthetic.yaml", capsys)
    assert [line.split()[0] for line in components] == COMPONENTS
    assert 0 < trainable < 20_000_000


def test_frozen_detector_leaves_only_the_video_module_trainable(capsys):
    tool = load_tool("model_summary")
    tool.main(["--config-file", str(REPO_ROOT / "configs/avis/AVISM_tiny_synthetic.yaml"), "MODEL.AVISM.FREEZE_DETECTOR", "True"])
    lines = capsys.readouterr().out.strip().splitlines()
    states = {line.split()[0]: line for line in lines[:-2]}
    for name in ("backbone", "pixel_decoder", "frame_decoder"):
        assert "(trainable 0," in states[name]
    assert "frozen 0)" in states["video_decoder"]
