"""``torch.ops.ov_avss.ms_deform_attn`` as a registered custom op: ``torch.library.opcheck``
(schema, fake implementation, autograd registration, AOT dispatch), ``torch.compile`` with
``fullgraph=True``, and the PyTorch path's hand-written backward against autograd."""
from __future__ import annotations

import shutil

import pytest
import torch

from ov_avss.ops import get_cpu_extension, ms_deform_attn, ms_deform_attn_pytorch, ms_deform_attn_pytorch_backward

from .msda_inputs import make_msda_inputs

# (levels, batch, queries, heads, channels per head, points): one level, odd sizes, several
# heads, one query, many points.
SHAPES = [
    ([(3, 4)], 1, 5, 1, 2, 1),
    ([(5, 7), (3, 4)], 2, 9, 2, 8, 3),
    ([(6, 5), (3, 3), (1, 2)], 1, 1, 4, 3, 4),
]


@pytest.fixture(scope="module")
def cpu_kernel():
    """The CPU build of the kernel (compiled with the C++ compiler on first use, then cached)."""
    extension, reason = get_cpu_extension()
    if extension is None:
        pytest.skip(f"the CPU build of the kernel is unavailable: {reason}")
    return extension


def _impl_fixture(request, impl: str) -> str:
    if impl == "kernel":
        request.getfixturevalue("cpu_kernel")
    return impl


@pytest.fixture(params=["kernel", "pytorch"])
def impl(request) -> str:
    return _impl_fixture(request, request.param)


def _op_args(shape, dtype: torch.dtype, requires_grad: bool, impl: str, device: str = "cpu", seed: int = 0):
    levels, batch, queries, heads, head_dim, points = shape
    value, shapes, starts, locations, weights = make_msda_inputs(
        levels, batch, queries, heads, head_dim, points, torch.Generator().manual_seed(seed), torch.float64
    )
    value, locations, weights = (
        t.to(device=device, dtype=dtype).requires_grad_(requires_grad) for t in (value, locations, weights)
    )
    return value, shapes.to(device), starts.to(device), locations, weights, impl


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_opcheck_cpu(impl, shape, dtype, requires_grad):
    args = _op_args(shape, dtype, requires_grad, impl)
    torch.library.opcheck(torch.ops.ov_avss.ms_deform_attn.default, args)


@pytest.mark.parametrize("shape", SHAPES)
def test_pytorch_backward_matches_autograd(shape):
    value, shapes, starts, locations, weights, _ = _op_args(shape, torch.float64, True, "pytorch", seed=1)
    output = ms_deform_attn_pytorch(value, shapes, starts, locations, weights)
    grad_output = torch.randn(output.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = torch.autograd.grad(output, (value, locations, weights), grad_output)
    actual = ms_deform_attn_pytorch_backward(
        grad_output, value.detach(), shapes, starts, locations.detach(), weights.detach()
    )
    for name, got, want in zip(("value", "locations", "weights"), actual, expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m, n=name: f"grad {n}: {m}")


def test_kernel_and_pytorch_agree_through_the_op(cpu_kernel):
    results = {}
    for impl_name in ("kernel", "pytorch"):
        value, shapes, starts, locations, weights, _ = _op_args(SHAPES[1], torch.float64, True, impl_name, seed=3)
        output = ms_deform_attn(value, shapes, starts, locations, weights, impl=impl_name)
        output.backward(torch.ones_like(output))
        results[impl_name] = (output.detach(), value.grad, locations.grad, weights.grad)
    for got, want in zip(results["kernel"], results["pytorch"]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_fake_implementation_checks_shapes():
    value, shapes, starts, locations, weights, impl = _op_args(SHAPES[1], torch.float32, False, "pytorch")
    weights = weights[..., :1]
    with torch._subclasses.fake_tensor.FakeTensorMode() as mode:
        fakes = [mode.from_tensor(t) for t in (value, shapes, starts, locations, weights)]
        with pytest.raises(ValueError, match="attention_weights must have shape"):
            torch.ops.ov_avss.ms_deform_attn(*fakes, impl)


def _compile_needs_cxx() -> None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile's inductor backend on CPU needs a C++ compiler and none is on PATH")


def test_compile_fullgraph_inductor_equals_eager():
    """The whole function is one graph (fullgraph=True raises at any break) and inductor's
    code gives the eager result."""
    _compile_needs_cxx()
    torch._dynamo.reset()
    value, shapes, starts, locations, weights, _ = _op_args(SHAPES[1], torch.float32, False, "auto")

    def attend(value, locations, weights):
        return ms_deform_attn(value, shapes, starts, locations, weights, impl="auto")

    compiled = torch.compile(attend, fullgraph=True, backend="inductor")
    torch.testing.assert_close(compiled(value, locations, weights), attend(value, locations, weights), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl_name", ["auto", "pytorch"])
def test_compile_fullgraph_with_backward_equals_eager(impl_name):
    """Forward and backward through dynamo + AOT autograd (the registered formula, traced on
    fake tensors) without a graph break; ``aot_eager`` keeps it to seconds, the inductor
    variant with backward is in the slow selection."""
    torch._dynamo.reset()

    def attend(value, shapes, starts, locations, weights):
        return ms_deform_attn(value * 2.0, shapes, starts, locations.clamp(0.0, 1.0), weights, impl=impl_name).sum()

    _assert_compiled_backward_equals_eager(attend, "aot_eager", _op_args(SHAPES[2], torch.float32, True, impl_name, seed=5))


def _assert_compiled_backward_equals_eager(attend, backend: str, op_args) -> None:
    """``attend`` compiled with ``fullgraph=True`` on ``backend``: same loss and same gradients
    of every input that requires them as eager, within 1e-5."""
    compiled = torch.compile(attend, fullgraph=True, backend=backend)
    eager_args = op_args[:5]
    compiled_args = [t.detach().requires_grad_(t.requires_grad) for t in eager_args]
    eager_loss, compiled_loss = attend(*eager_args), compiled(*compiled_args)
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-5)
    eager_loss.backward()
    compiled_loss.backward()
    for eager, compiled_tensor in zip(eager_args, compiled_args):
        if eager.requires_grad:
            torch.testing.assert_close(compiled_tensor.grad, eager.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compile_fullgraph_inductor_backward_equals_eager(cpu_kernel):
    _compile_needs_cxx()
    torch._dynamo.reset()

    def attend(value, shapes, starts, locations, weights):
        return ms_deform_attn(value * 2.0, shapes, starts, locations.clamp(0.0, 1.0), weights).relu().sum()

    _assert_compiled_backward_equals_eager(attend, "inductor", _op_args(SHAPES[1], torch.float32, True, "auto", seed=6))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES)
def test_opcheck_cuda(shape, dtype, requires_grad):
    args = _op_args(shape, dtype, requires_grad, "kernel", device="cuda")
    # Half types: the kernel rounds its output once; opcheck compares runs of the same op.
    torch.library.opcheck(torch.ops.ov_avss.ms_deform_attn.default, args)
