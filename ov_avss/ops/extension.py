"""Finding the compiled multi-scale deformable attention kernel: the ahead-of-time build
(``ov_avss._C``, made by ``setup.py``) or a JIT build (``torch.utils.cpp_extension.load``)
cached in a folder keyed by the torch, CUDA and Python versions.

CUDA JIT builds are attempted only when asked for: by calling :func:`load_extension_jit` or by
setting ``OV_AVSS_MSDA_JIT=1`` (then the first CUDA call of the op builds it when no
ahead-of-time build is importable). The CPU kernel alone (:func:`get_cpu_extension`) needs only
a C++ compiler: CPU-only installs have no ahead-of-time build of it, so its first use compiles
it (about a minute, logged) into the same cache, and later runs reuse the binary.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

import torch

from .build_config import (
    DEFAULT_CUDA_ARCH_LIST,
    EXTENSION_NAME,
    cuda_library_dirs,
    cuda_toolkit_version,
    extension_sources,
    extra_compile_args,
    toolkit_mismatch_reason,
)

__all__ = [
    "JIT_ENV_VAR",
    "CACHE_ENV_VAR",
    "get_cpu_extension",
    "get_extension",
    "jit_build_directory",
    "load_cpu_extension_jit",
    "load_extension_jit",
]

logger = logging.getLogger(__name__)

JIT_ENV_VAR = "OV_AVSS_MSDA_JIT"
CACHE_ENV_VAR = "OV_AVSS_EXTENSION_CACHE"
_JIT_MODULE_NAME = "ov_avss_ms_deform_attn"
_CPU_JIT_MODULE_NAME = "ov_avss_ms_deform_attn_cpu"

# Outcome of the first load attempt: (module, None) or (None, reason); later calls reuse it
# so a failed build is neither retried nor re-logged on every forward pass.
_prebuilt_result: tuple[ModuleType | None, str | None] | None = None
_jit_result: tuple[ModuleType | None, str | None] | None = None
_cpu_jit_result: tuple[ModuleType | None, str | None] | None = None


def _import_prebuilt() -> tuple[ModuleType | None, str | None]:
    try:
        return importlib.import_module(EXTENSION_NAME), None
    except ModuleNotFoundError as error:
        if error.name != EXTENSION_NAME:
            raise
        return None, (
            f"{EXTENSION_NAME} is not built (install with a CUDA toolkit and a visible GPU or FORCE_CUDA=1, "
            f"or set {JIT_ENV_VAR}=1 to compile it on first use)"
        )
    except ImportError as error:
        # Typically an undefined symbol: the .so was compiled against another torch.
        return None, f"{EXTENSION_NAME} exists but failed to import ({error}); rebuild it for torch {torch.__version__}"


def jit_build_directory(cpu_only: bool = False) -> Path:
    """Build folder of the JIT extension, one per torch / CUDA / Python combination.

    ``$OV_AVSS_EXTENSION_CACHE`` (default ``~/.cache/ov_avss/extensions``) holds one sub-folder
    per combination (and one more for the CPU-only build), so switching environments never
    loads an incompatible binary.
    """
    root = Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "ov_avss" / "extensions"))
    key = (
        f"torch{torch.__version__}-cuda{torch.version.cuda}-"
        f"py{sys.version_info.major}{sys.version_info.minor}"
    ).replace("+", "_")
    return root / (f"{key}-cpu_only" if cpu_only else key)


def load_extension_jit(verbose: bool = False) -> ModuleType:
    """Compile (or reuse the cached build of) the extension with ``torch.utils.cpp_extension.load``.

    Raises:
        RuntimeError: when there is no CUDA toolkit, its major version differs from torch's
            CUDA, or compilation fails.
    """
    global _jit_result
    from torch.utils.cpp_extension import CUDA_HOME, load

    toolkit_version = cuda_toolkit_version(CUDA_HOME)
    if toolkit_version is None:
        raise RuntimeError(
            "JIT build of the deformable attention kernel needs a CUDA toolkit with nvcc "
            f"(CUDA_HOME={CUDA_HOME!r})"
        )
    mismatch = toolkit_mismatch_reason(toolkit_version, torch.version.cuda)
    if mismatch is not None:
        raise RuntimeError(f"cannot build the deformable attention kernel: {mismatch}")
    if "TORCH_CUDA_ARCH_LIST" not in os.environ and not torch.cuda.is_available():
        logger.info("No GPU visible and TORCH_CUDA_ARCH_LIST unset: compiling for %s", DEFAULT_CUDA_ARCH_LIST)
        os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_CUDA_ARCH_LIST
    build_directory = jit_build_directory()
    build_directory.mkdir(parents=True, exist_ok=True)
    flags = extra_compile_args(with_cuda=True)
    module = load(
        name=_JIT_MODULE_NAME,
        sources=extension_sources(),
        extra_cflags=flags["cxx"],
        extra_cuda_cflags=flags["nvcc"],
        extra_ldflags=[f"-L{folder}" for folder in cuda_library_dirs(CUDA_HOME)],
        build_directory=str(build_directory),
        verbose=verbose,
    )
    _jit_result = (module, None)
    return module


def get_extension(allow_jit: bool | None = None) -> tuple[ModuleType | None, str | None]:
    """The compiled extension, or None and the reason it is unavailable.

    Args:
        allow_jit: compile it when no ahead-of-time build imports; None reads
            ``OV_AVSS_MSDA_JIT`` (``"1"`` allows it).
    """
    global _prebuilt_result, _jit_result
    if _jit_result is not None and _jit_result[0] is not None:
        return _jit_result
    if _prebuilt_result is None:
        _prebuilt_result = _import_prebuilt()
    if _prebuilt_result[0] is not None:
        return _prebuilt_result
    if allow_jit is None:
        allow_jit = os.environ.get(JIT_ENV_VAR, "0") == "1"
    if not allow_jit:
        return _prebuilt_result
    if _jit_result is None:
        try:
            load_extension_jit()
        except (RuntimeError, OSError, ImportError) as error:
            _jit_result = (None, f"{_prebuilt_result[1]}; the JIT build failed: {error}")
    return _jit_result


def load_cpu_extension_jit(verbose: bool = False) -> ModuleType:
    """Compile (or reuse the cached build of) the CPU-only extension: ``bindings.cpp`` and
    ``ms_deform_attn_cpu.cpp`` with the C++ compiler, no CUDA toolkit needed.

    Raises:
        RuntimeError / OSError: when compilation fails (no C++ compiler, missing headers).
    """
    global _cpu_jit_result
    from torch.utils.cpp_extension import load

    build_directory = jit_build_directory(cpu_only=True)
    build_directory.mkdir(parents=True, exist_ok=True)
    logger.info("Loading the CPU build of the deformable attention kernel from %s "
                "(compiled there first if absent: minutes on a small machine, once)", build_directory)
    module = load(
        name=_CPU_JIT_MODULE_NAME,
        sources=extension_sources(with_cuda=False),
        extra_cflags=extra_compile_args(with_cuda=False)["cxx"],
        build_directory=str(build_directory),
        verbose=verbose,
    )
    _cpu_jit_result = (module, None)
    return module


def get_cpu_extension() -> tuple[ModuleType | None, str | None]:
    """An extension whose CPU functions can run, or None and the reason.

    A CUDA build already found by :func:`get_extension` (it holds the CPU functions too) is
    reused; otherwise the CPU-only build is compiled once (:func:`load_cpu_extension_jit`). A
    failed build is not retried in this process.
    """
    global _cpu_jit_result
    extension, _ = get_extension(allow_jit=False)
    if extension is not None:
        return extension, None
    if _cpu_jit_result is None:
        try:
            load_cpu_extension_jit()
        except (RuntimeError, OSError, ImportError) as error:
            _cpu_jit_result = (None, f"the CPU build of the kernel failed to compile or load: {error}")
    return _cpu_jit_result
