"""tools/make_synthetic_aviseg.py: writes the AVISeg layout; bad arguments end with one error line."""
from __future__ import annotations

import json

from tool_loader import load_tool

tool = load_tool("make_synthetic_aviseg")


def test_writes_layout(tmp_path):
    args = ["--out", str(tmp_path), "--num-train-videos", "2", "--num-val-videos", "0", "--num-test-videos", "1",
            "--size", "24", "32", "--frames", "3", "4", "--categories", "guitar,dog"]
    assert tool.main(args) == 0
    train = json.loads((tmp_path / "AVISeg" / "train.json").read_text())
    assert [c["name"] for c in train["categories"]] == ["guitar", "dog"]
    assert [c["id"] for c in train["categories"]] == [3, 14]
    assert len(train["videos"]) == 2 and json.loads((tmp_path / "AVISeg" / "val.json").read_text())["videos"] == []
    name = train["videos"][0]["file_names"][0].split("/")[0]
    assert (tmp_path / "AVISeg" / "train" / "WAVAudios" / f"{name}.wav").is_file()


def test_unknown_category_is_an_error(tmp_path, capsys):
    assert tool.main(["--out", str(tmp_path), "--categories", "guitar,tabla"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "tabla" in err[0]
