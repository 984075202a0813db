"""How the multi-scale deformable attention extension is compiled.

Shared by ``setup.py`` (ahead-of-time build) and :mod:`ov_avss.ops.extension` (JIT build), so
both compile the same sources with the same flags. Imports only the standard library at module
level: ``setup.py`` loads this file directly, without importing the ``ov_avss`` package.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

__all__ = [
    "EXTENSION_NAME",
    "DEFAULT_CUDA_ARCH_LIST",
    "source_dir",
    "extension_sources",
    "extra_compile_args",
    "cuda_toolkit_version",
    "cuda_library_dirs",
    "toolkit_mismatch_reason",
    "should_build_cuda_extension",
]

# Import name of the ahead-of-time build (the .so lands next to ov_avss/__init__.py).
EXTENSION_NAME = "ov_avss._C"

# Used when FORCE_CUDA=1 builds on a machine without a GPU and TORCH_CUDA_ARCH_LIST is unset:
# Turing, Ampere (A100 = 8.0, consumer 8.6), Ada, Hopper (H100/H200 = 9.0), plus PTX for newer
# GPUs. Volta and older are left out because CUDA 13 no longer compiles for them.
DEFAULT_CUDA_ARCH_LIST = "7.5;8.0;8.6;8.9;9.0+PTX"


def source_dir() -> Path:
    """Folder holding the C++/CUDA sources."""
    return Path(__file__).resolve().parent / "csrc"


def extension_sources(with_cuda: bool = True) -> list[str]:
    """Absolute paths of the translation units, in a fixed order; ``with_cuda=False`` leaves
    out the CUDA kernels (the CPU-only build, compiled with the C++ compiler alone)."""
    folder = source_dir()
    names = ["bindings.cpp", "ms_deform_attn_cpu.cpp"] + (["ms_deform_attn_cuda.cu"] if with_cuda else [])
    return [str(folder / name) for name in names]


def extra_compile_args(with_cuda: bool = True) -> dict[str, list[str]]:
    """Compiler flags for the C++ and CUDA translation units (``WITH_CUDA`` selects the CUDA
    dispatch in bindings.cpp)."""
    # No --use_fast_math: the kernel must match grid_sample to 1e-5 in float32.
    cuda_define = ["-DWITH_CUDA"] if with_cuda else []
    return {"cxx": ["-O3", *cuda_define], "nvcc": ["-O3", *cuda_define]}


def cuda_toolkit_version(cuda_home: str | None) -> tuple[int, int] | None:
    """(major, minor) of the toolkit's nvcc, or None when there is no usable nvcc."""
    if not cuda_home:
        return None
    nvcc = Path(cuda_home) / "bin" / "nvcc"
    if not nvcc.is_file():
        return None
    completed = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"release (\d+)\.(\d+)", completed.stdout)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(
            f"could not read the CUDA toolkit version from '{nvcc} --version' "
            f"(exit {completed.returncode}): {completed.stdout.strip()} {completed.stderr.strip()}"
        )
    return int(match.group(1)), int(match.group(2))


def _toolkit_root(nvcc: Path) -> Path:
    """The folder nvcc really runs from; ``nvcc`` on PATH may be a symlink or a wrapper script."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "probe.cu"
        source.write_text("")
        completed = subprocess.run(
            [str(nvcc), "--dryrun", "-c", str(source), "-o", str(Path(folder) / "probe.o")],
            capture_output=True, text=True, check=False,
        )
    match = re.search(r"^#\$ TOP=(.+)$", completed.stdout + completed.stderr, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError(f"could not find the toolkit folder in '{nvcc} --dryrun' output (exit {completed.returncode})")
    return Path(match.group(1).strip()).resolve()


def cuda_library_dirs(cuda_home: str | None) -> list[str]:
    """Extra library folders for linking ``cudart``.

    torch takes CUDA_HOME from the location of ``nvcc`` on PATH; when that is a symlink or a
    wrapper such as ``/usr/local/bin/nvcc`` running ``/usr/local/cuda-13.0/bin/nvcc``, CUDA_HOME
    becomes ``/usr/local`` and the linker misses ``libcudart``. The real toolkit's library
    folders are added in that case.
    """
    if not cuda_home:
        return []
    nvcc = Path(cuda_home) / "bin" / "nvcc"
    if not nvcc.is_file():
        return []
    real_root = _toolkit_root(nvcc)
    if real_root == Path(cuda_home).resolve():
        return []
    return [str(folder) for folder in (real_root / "lib64", real_root / "lib") if folder.is_dir()]


def toolkit_mismatch_reason(toolkit_version: tuple[int, int], torch_cuda_version: str | None) -> str | None:
    """Why the toolkit cannot build an extension for this torch, or None when it can.

    Extensions must be compiled by a toolkit with the same CUDA major version as the one torch
    was built with (the runtime libraries are not ABI compatible across majors).
    """
    if torch_cuda_version is None:
        return "this torch is a CPU-only build (torch.version.cuda is None); install a CUDA build of torch"
    torch_major = int(torch_cuda_version.split(".")[0])
    if toolkit_version[0] != torch_major:
        return (
            f"the CUDA toolkit is {toolkit_version[0]}.{toolkit_version[1]} but torch was built with CUDA "
            f"{torch_cuda_version}; the major versions must match (install a CUDA {torch_major}.x toolkit "
            f"and point CUDA_HOME at it, or a torch build for CUDA {toolkit_version[0]})"
        )
    return None


def should_build_cuda_extension(cuda_home: str | None, gpu_visible: bool) -> tuple[bool, str]:
    """Whether setup.py builds the extension, and why (or why not).

    Like detectron2: build when a CUDA toolkit is present and either a GPU is visible or
    ``FORCE_CUDA=1`` is set.
    """
    force = os.environ.get("FORCE_CUDA", "0") == "1"
    if cuda_home is None:
        return False, "no CUDA toolkit found (CUDA_HOME unset and no nvcc on PATH)"
    if not (gpu_visible or force):
        return False, "no GPU visible and FORCE_CUDA=1 not set"
    return True, "FORCE_CUDA=1" if force and not gpu_visible else "a GPU is visible"
