"""The compiled kernel's CPU functions (the same per-sample math as the CUDA kernels) against
the PyTorch path, through the op with ``impl="kernel"``; and (slow) compiling the CUDA build
with nvcc, which needs no GPU."""
from __future__ import annotations

import pytest
import torch

from ov_avss.ops import get_cpu_extension, load_extension_jit
from ov_avss.ops.build_config import cuda_toolkit_version, toolkit_mismatch_reason

from .kernel_checks import check_gradcheck_float64, check_half_precision, check_matches_pytorch_float32


@pytest.fixture(scope="module")
def extension():
    """The CPU build (compiled with the C++ compiler on first use, then cached)."""
    extension, reason = get_cpu_extension()
    if extension is None:
        pytest.skip(f"the CPU build of the kernel is unavailable: {reason}")
    return extension


def test_extension_exposes_forward_and_backward(extension):
    assert callable(extension.ms_deform_attn_forward)
    assert callable(extension.ms_deform_attn_backward)


@pytest.mark.parametrize("seed", range(6))
def test_cpu_build_matches_pytorch_float32(extension, seed):
    check_matches_pytorch_float32(torch.device("cpu"), seed)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cpu_build_half_types(extension, dtype):
    check_half_precision(torch.device("cpu"), dtype, seed=11)


def test_cpu_build_gradcheck_float64(extension):
    check_gradcheck_float64(torch.device("cpu"))


def test_mismatched_location_dtype_is_rejected(extension):
    value = torch.zeros(1, 4, 1, 2)
    shapes = torch.tensor([[2, 2]])
    starts = torch.tensor([0])
    with pytest.raises(RuntimeError, match="sampling_locations and attention_weights must be"):
        extension.ms_deform_attn_forward(
            value, shapes, starts, torch.zeros(1, 1, 1, 1, 1, 2, dtype=torch.float64), torch.zeros(1, 1, 1, 1, 1)
        )


@pytest.mark.slow
def test_cuda_build_compiles_with_nvcc():
    from torch.utils.cpp_extension import CUDA_HOME

    toolkit_version = cuda_toolkit_version(CUDA_HOME)
    if toolkit_version is None:
        pytest.skip(f"no CUDA toolkit with nvcc (CUDA_HOME={CUDA_HOME!r}): the extension cannot be compiled")
    mismatch = toolkit_mismatch_reason(toolkit_version, torch.version.cuda)
    if mismatch is not None:
        pytest.skip(f"toolkit and torch are incompatible: {mismatch}")
    with pytest.MonkeyPatch.context() as patch:
        # One architecture keeps the compile short.
        patch.setenv("TORCH_CUDA_ARCH_LIST", "8.0")
        module = load_extension_jit()
    assert module.with_cuda
    assert callable(module.ms_deform_attn_forward) and callable(module.ms_deform_attn_backward)
