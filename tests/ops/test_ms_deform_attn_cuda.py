"""The CUDA kernel against the PyTorch path (needs a GPU and the built or JIT-built kernel)."""
from __future__ import annotations

import pytest
import torch

from ov_avss.ops import MSDeformAttn, get_extension
from ov_avss.ops.build_config import cuda_toolkit_version, toolkit_mismatch_reason

from .kernel_checks import check_gradcheck_float64, check_half_precision, check_matches_pytorch_float32

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def extension():
    extension, reason = get_extension(allow_jit=False)
    if extension is not None:
        return extension
    from torch.utils.cpp_extension import CUDA_HOME

    toolkit_version = cuda_toolkit_version(CUDA_HOME)
    if toolkit_version is None:
        pytest.skip(f"the kernel is not built ({reason}) and there is no nvcc to JIT-build it")
    mismatch = toolkit_mismatch_reason(toolkit_version, torch.version.cuda)
    if mismatch is not None:
        pytest.skip(f"the kernel is not built and cannot be JIT-built: {mismatch}")
    extension, reason = get_extension(allow_jit=True)
    assert extension is not None, reason
    return extension


@pytest.mark.parametrize("seed", range(12))
def test_cuda_matches_pytorch_float32(extension, seed):
    check_matches_pytorch_float32(CUDA, seed)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("seed", range(3))
def test_cuda_half_types(extension, dtype, seed):
    check_half_precision(CUDA, dtype, seed)


def test_cuda_gradcheck_float64(extension):
    check_gradcheck_float64(CUDA)


def test_module_cuda_and_pytorch_agree_under_autocast(extension):
    torch.manual_seed(0)
    layers = {impl: MSDeformAttn(64, 2, 4, 4, impl=impl).to(CUDA) for impl in ("kernel", "pytorch")}
    layers["pytorch"].load_state_dict(layers["kernel"].state_dict())
    spatial_shapes = torch.tensor([[9, 14], [5, 7]], device=CUDA)
    sizes = spatial_shapes.prod(1)
    level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
    tokens = torch.randn(2, int(sizes.sum()), 64, device=CUDA)
    reference_points = torch.rand(2, tokens.shape[1], 2, 2, device=CUDA)
    with torch.autocast("cuda", dtype=torch.float16):
        outputs = {
            impl: layer(tokens, reference_points, tokens, spatial_shapes, level_start_index)
            for impl, layer in layers.items()
        }
    assert outputs["kernel"].dtype == torch.float16
    torch.testing.assert_close(outputs["kernel"].float(), outputs["pytorch"].float(), rtol=1e-2, atol=1e-2)
    outputs["kernel"].float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layers["kernel"].parameters())
