"""Command-line mistakes end in one ``error: ...`` line and exit status 2 before any model is
built; flags placed after the overrides are accepted."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from ov_avss.config import CfgNode
from ov_avss.engine import parse_and_check_args, setup_cfg

from toy_task import REPO_ROOT
from weight_server import Route, closed_port_url, weight_server

TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")


def _error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        parse_and_check_args(argv=argv)
    assert info.value.code == 2
    stderr = capsys.readouterr().err.strip().splitlines()
    assert len(stderr) == 1 and stderr[0].startswith("error: "), stderr
    return stderr[0]


def test_unknown_key_names_it_and_the_closest(capsys, tmp_path):
    line = _error_line(capsys, ["--config-file", TINY_CONFIG, "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITERS", "5"])
    assert "SOLVER.MAX_ITERS" in line and "SOLVER.MAX_ITER'" in line


def test_ill_typed_value_names_key_and_values(capsys, tmp_path):
    line = _error_line(capsys, ["--config-file", TINY_CONFIG, "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "ten"])
    assert "SOLVER.MAX_ITER" in line and "ten" in line and "override" in line


def test_ill_typed_value_in_a_file_names_the_file(capsys, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("SOLVER:\n  MAX_ITER: ten\n")
    line = _error_line(capsys, ["--config-file", str(config), "OUTPUT_DIR", str(tmp_path)])
    assert str(config) in line and "SOLVER.MAX_ITER" in line


def test_missing_config_file(capsys, tmp_path):
    assert str(tmp_path / "nope.yaml") in _error_line(capsys, ["--config-file", str(tmp_path / "nope.yaml")])


def test_missing_model_weights(capsys, tmp_path):
    line = _error_line(capsys, ["--eval-only", "OUTPUT_DIR", str(tmp_path), "MODEL.WEIGHTS", str(tmp_path / "m.pth")])
    assert "MODEL.WEIGHTS" in line and "m.pth" in line


def test_model_weights_address_is_downloaded_before_any_model_is_built(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    unreachable = closed_port_url("/model_final.pth")
    line = _error_line(capsys, ["--eval-only", "OUTPUT_DIR", str(tmp_path), "MODEL.WEIGHTS", unreachable])
    assert f"Cannot reach {unreachable}" in line
    with weight_server() as server:
        server.routes["/model_final.pth"] = Route(b"<html>Sign in</html>", content_type="text/html")
        line = _error_line(capsys, ["--eval-only", "OUTPUT_DIR", str(tmp_path), "MODEL.WEIGHTS", server.url("/model_final.pth")])
        assert "an HTML page" in line
        server.routes["/model_final.pth"] = Route(pickle.dumps({"model": {}}))
        parse_and_check_args(argv=["--eval-only", "OUTPUT_DIR", str(tmp_path), "MODEL.WEIGHTS", server.url("/model_final.pth")])
    assert (tmp_path / "cache" / "model_final.pth").is_file()


def test_unwritable_output_folder(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = _error_line(capsys, ["OUTPUT_DIR", str(blocker / "out")])
    assert f"OUTPUT_DIR '{blocker / 'out'}' cannot be written" in line


def test_flags_after_the_overrides_are_flags(tmp_path):
    args = parse_and_check_args(
        argv=["OUTPUT_DIR", str(tmp_path), "--resume", "SEED", "3", "--num-gpus", "2", "--eval-only"]
    )
    assert args.resume and args.eval_only and args.num_gpus == 2
    assert args.opts == ["OUTPUT_DIR", str(tmp_path), "SEED", "3"]


def test_train_net_reports_without_traceback(tmp_path):
    completed = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "train_net.py"), "--config-file", TINY_CONFIG,
         "OUTPUT_DIR", str(tmp_path), "SOLVER.BASE_LR", "fast"],
        env={**os.environ, "PYTHONPATH": REPO_ROOT}, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "log.txt").exists()  # nothing was set up or built


def add_demo_config(cfg) -> None:
    """A project's ``add_*_config``: its own section with defaults."""
    cfg.MODEL.DEMO_HEAD = CfgNode()
    cfg.MODEL.DEMO_HEAD.NUM_LAYERS = 2
    cfg.MODEL.DEMO_HEAD.NAME = "plain"


def test_add_config_functions_add_keys_that_files_and_overrides_set(capsys, tmp_path):
    config_file = tmp_path / "project.yaml"
    config_file.write_text(f"_BASE_: {TINY_CONFIG}\nMODEL:\n  DEMO_HEAD:\n    NUM_LAYERS: 4\n")
    argv = ["--config-file", str(config_file), "OUTPUT_DIR", str(tmp_path), "MODEL.DEMO_HEAD.NAME", "fancy"]
    args = parse_and_check_args(argv=argv, add_config_fns=[add_demo_config])
    cfg = setup_cfg(args, [add_demo_config])
    assert (cfg.MODEL.DEMO_HEAD.NUM_LAYERS, cfg.MODEL.DEMO_HEAD.NAME) == (4, "fancy")
    assert cfg.is_frozen()
    # Without the project's function the same command line names the unknown key.
    line = _error_line(capsys, argv)
    assert "MODEL.DEMO_HEAD" in line and str(config_file) in line



def test_config_file_that_is_not_utf8_is_named(capsys, tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("# r\u00e9glages\nSOLVER:\n  MAX_ITER: 5\n".encode("latin-1"))
    line = _error_line(capsys, ["--config-file", str(config), "OUTPUT_DIR", str(tmp_path)])
    assert f"Config file {config} is not UTF-8 text: byte 0xe9" in line
