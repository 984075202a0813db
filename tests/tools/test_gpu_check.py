"""tools/gpu_check.sh and `make gpu-check` on a machine (or with an environment) without a GPU:
a clear error and exit status 2 before anything is built, run or written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "gpu_check.sh"
ENV = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}


def _run(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *arguments], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT, env=env or ENV)


def test_without_a_gpu_it_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "report"
    completed = _run(str(out))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"error: no CUDA GPU is visible to {sys.executable} (torch.cuda.is_available() is False); nothing was run"
    )
    assert not out.exists()


def test_usage_and_an_interpreter_without_torch_exit_2(tmp_path):
    completed = _run()
    assert completed.returncode == 2 and completed.stderr.strip() == "error: usage: tools/gpu_check.sh OUT_DIR"
    completed = _run("a", "b")
    assert completed.returncode == 2
    missing = tmp_path / "no-python"
    completed = _run(str(tmp_path / "report"), env={**ENV, "PYTHON": str(missing)})
    assert completed.returncode == 2 and "cannot import torch" in completed.stderr
    assert not (tmp_path / "report").exists()


def test_make_target_passes_its_folder_and_interpreter(tmp_path):
    completed = subprocess.run(
        ["make", "-n", "gpu-check", f"GPU_CHECK_OUT={tmp_path / 'r'}", f"GPU_CHECK_PYTHON={sys.executable}"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"PYTHON={sys.executable} tools/gpu_check.sh {tmp_path / 'r'}"


def test_printed_benchmark_command_parses_and_covers_both_model_families(tmp_path):
    """The CPU side of the check's benchmark step: its arguments are valid for tools/benchmark.py
    and name an R50 config of each model family, AMP off/bf16 and compile off/on."""
    completed = _run(str(tmp_path / "r"), env={**ENV, "GPU_CHECK_PRINT": "1"})
    assert completed.returncode == 0, completed.stderr
    build, pytest_line, benchmark_line = completed.stdout.strip().splitlines()
    assert "load_extension_jit" in build and pytest_line.endswith("-m pytest -m gpu -q -rs tests")
    arguments = benchmark_line.split()
    assert arguments[:2] == [sys.executable, "tools/benchmark.py"]
    assert not (tmp_path / "r").exists()

    from tool_loader import load_tool

    from ov_avss.config import get_cfg

    benchmark = load_tool("benchmark")
    args = benchmark.build_parser().parse_args(arguments[2:])
    assert args.device == "cuda" and args.sections == ["op", "model"] and args.profile
    assert args.amp == ["off", "bfloat16"] and args.compile == ["off", "on"]
    families = set()
    for config_file in args.config:
        cfg = get_cfg()
        cfg.merge_from_file(str(REPO_ROOT / config_file))
        assert cfg.MODEL.RESNETS.DEPTH == 50, config_file
        families.add(cfg.MODEL.META_ARCHITECTURE)
    assert families == {"OV_AVSS", "AVISM"}
