"""tools/model_summary.py: parameter counts of the tiny config equal the hand derivation in
docs/model.md (read from its table, the one place they are written); the published R50 and
Swin-B configs build without any weight file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]


def _documented_counts() -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """(trainable, frozen) per component from the docs/model.md table (rows of one component
    summed), and the documented totals."""
    text = (REPO_ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    section = text.split("## Parameter counts of `configs/tiny/OV_AVSS_tiny.yaml`", 1)[1]
    per_component: dict[str, tuple[int, int]] = {}
    for match in re.finditer(r"^\| `(\w+)`:.*\| ([\d,]+) \| ([\d,]+) \|$", section, re.MULTILINE):
        trainable, frozen = (int(group.replace(",", "")) for group in match.group(2, 3))
        old = per_component.get(match.group(1), (0, 0))
        per_component[match.group(1)] = (old[0] + trainable, old[1] + frozen)
    totals = re.search(r"`trainable_params: (\d+)`.*?`frozen_params: (\d+)`", section, re.DOTALL)
    assert per_component and totals, "docs/model.md lost its parameter-count table"
    return per_component, (int(totals.group(1)), int(totals.group(2)))


def test_tiny_counts_match_the_documented_derivation(capsys):
    tool = load_tool("model_summary")
    assert tool.main(["--config-file", str(REPO_ROOT / "configs/tiny/OV_AVSS_tiny.yaml")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    documented, (trainable, frozen) = _documented_counts()
    assert (sum(t for t, _ in documented.values()), sum(f for _, f in documented.values())) == (trainable, frozen)
    assert lines[-2:] == [f"trainable_params: {trainable}", f"frozen_params: {frozen}"]
    for line in lines[:-2]:
        name = line.split()[0]
        exp_trainable, exp_frozen = documented.get(name, (0, 0))  # criterion: no parameters
        assert f"(trainable {exp_trainable}, frozen {exp_frozen})" in line, line


def test_overrides_are_applied(capsys):
    tool = load_tool("model_summary")
    tool.main(
        ["--config-file", str(REPO_ROOT / "configs/tiny/OV_AVSS_tiny.yaml"), "MODEL.CLIP_ADAPTER.CLIP_ENSEMBLE", "False"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    classifier_line = next(line for line in lines if line.startswith("classifier"))
    assert "(trainable 0," in classifier_line


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


def test_unknown_key_is_one_error_line(capsys):
    summary = load_tool("model_summary")
    config = str(REPO_ROOT / "configs" / "tiny" / "OV_AVSS_tiny.yaml")
    assert summary.main(["--config-file", config, "MODEL.FOO", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Unknown config key 'MODEL.FOO'")
