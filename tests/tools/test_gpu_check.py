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
