"""Install ov_avss.

The CUDA kernel of multi-scale deformable attention (``ov_avss._C``) is built, like detectron2's
extensions, when a CUDA toolkit is present and either a GPU is visible or ``FORCE_CUDA=1`` is
set; otherwise the package installs without it and the op runs its PyTorch path. See
docs/ops.md. Build with ``pip install --no-build-isolation -e .`` so the installed torch is used.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def read_requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def load_build_config() -> ModuleType:
    """Load ov_avss/ops/build_config.py without importing the ov_avss package."""
    path = ROOT / "ov_avss" / "ops" / "build_config.py"
    spec = importlib.util.spec_from_file_location("ov_avss_build_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def extension_modules() -> tuple[list, dict]:
    """The CUDAExtension and its build command, or nothing when the kernel is not built."""
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CUDAExtension
    except ImportError as error:
        print(f"ov_avss: not building the CUDA kernel: torch is not importable at build time ({error}); "
              "use pip install --no-build-isolation")
        return [], {}
    config = load_build_config()
    build, reason = config.should_build_cuda_extension(CUDA_HOME, torch.cuda.is_available())
    if not build:
        print(f"ov_avss: not building the CUDA kernel: {reason}")
        return [], {}
    mismatch = config.toolkit_mismatch_reason(config.cuda_toolkit_version(CUDA_HOME), torch.version.cuda)
    if mismatch is not None:
        if os.environ.get("FORCE_CUDA", "0") == "1":
            raise RuntimeError(f"FORCE_CUDA=1 but the CUDA kernel cannot be built: {mismatch}")
        print(f"ov_avss: not building the CUDA kernel: {mismatch}")
        return [], {}
    if "TORCH_CUDA_ARCH_LIST" not in os.environ and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = config.DEFAULT_CUDA_ARCH_LIST
    print(f"ov_avss: building the CUDA kernel ({reason}; TORCH_CUDA_ARCH_LIST="
          f"{os.environ.get('TORCH_CUDA_ARCH_LIST', 'the visible GPUs')})")
    extension = CUDAExtension(
        name=config.EXTENSION_NAME,
        sources=[os.path.relpath(source, ROOT) for source in config.extension_sources()],
        include_dirs=[str(config.source_dir())],
        library_dirs=config.cuda_library_dirs(CUDA_HOME),
        extra_compile_args=config.extra_compile_args(),
    )
    return [extension], {"build_ext": BuildExtension}


ext_modules, cmdclass = extension_modules()

setup(
    name="ov_avss",
    version="0.1.0",
    description="Open-vocabulary audio-visual semantic segmentation",
    packages=find_packages(include=["ov_avss", "ov_avss.*"]),
    package_data={"ov_avss": ["data/avsbench_ov_split.json", "**/*.json", "**/*.cu", "**/*.cpp", "**/*.h"]},
    python_requires=">=3.10",
    install_requires=read_requirements(),
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
