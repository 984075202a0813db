"""The op section: ``ms_deform_attn`` forward and forward+backward per shape and dtype, our
kernel (``impl="kernel"``: the CUDA kernel on GPU, its CPU build on CPU) against the PyTorch
path (``impl="pytorch"``) through the same registered op, and ``deformops`` where importable;
every token is a query."""
from __future__ import annotations

import argparse
import importlib
import time
from typing import Any, Callable

import torch

from .measure import error_entry, measure

# Pixel-decoder levels res3, res4, res5 (strides 8, 16, 32) of the published configs' inputs.
OP_SHAPE_PRESETS = {
    "r50_360x640": "45x80,23x40,12x20",
    "swinb_480x854": "60x107,30x54,15x27",
}
DEFAULT_OP_SHAPES = {"cpu": ["r50_360x640"], "cuda": list(OP_SHAPE_PRESETS)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULT_OP_DTYPES = {"cpu": ["float32"], "cuda": list(DTYPES)}


def parse_levels(text: str) -> list[tuple[int, int]]:
    """``"45x80,23x40"`` or a preset name of :data:`OP_SHAPE_PRESETS` -> ``[(45, 80), (23, 40)]``."""
    text = OP_SHAPE_PRESETS.get(text, text)
    levels = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise argparse.ArgumentTypeError(
                f"level sizes must look like 45x80,23x40 or be one of {sorted(OP_SHAPE_PRESETS)}; got {item!r} in {text!r}"
            )
        levels.append((int(parts[0]), int(parts[1])))
    return levels


def parse_dtypes(text: str) -> list[str]:
    names = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(names) - set(DTYPES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"dtypes must be a comma list of {sorted(DTYPES)}, got {text!r}")
    return names


def _deformops_msda() -> tuple[Callable[..., torch.Tensor] | None, str]:
    """The ``deformops`` package's multi-scale deformable attention as a function of
    ``(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)``, or
    ``None`` and why not. Only compared, never required."""
    try:
        import deformops
    except ImportError as error:
        return None, f"not importable: {error}"
    version = getattr(deformops, "__version__", "unknown version")
    # Function names of the Deformable-DETR signature that deformops releases have used.
    for module_name, attribute in (("deformops", "multi_scale_deformable_attention"),
                                   ("deformops.functional", "multi_scale_deformable_attention"),
                                   ("deformops.functional", "ms_deform_attn"),
                                   ("deformops", "ms_deform_attn")):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, attribute, None)
        if callable(function):
            return function, f"deformops {version}: {module_name}.{attribute}"
    return None, f"deformops {version} is importable but exposes none of the known MSDA functions"


def _op_inputs(levels: list[tuple[int, int]], args: argparse.Namespace, device: torch.device, dtype: torch.dtype):
    spatial_shapes = torch.tensor(levels, dtype=torch.int64, device=device)
    sizes = spatial_shapes.prod(1)
    level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
    num_tokens = int(sizes.sum())
    generator = torch.Generator(device="cpu").manual_seed(0)
    shape = (args.op_batch, num_tokens, args.op_heads)
    value = torch.randn(*shape, args.op_head_dim, generator=generator)
    sampling_locations = torch.rand(*shape, len(levels), args.op_points, 2, generator=generator)
    attention_weights = (
        torch.rand(*shape, len(levels) * args.op_points, generator=generator)
        .softmax(-1)
        .view(*shape, len(levels), args.op_points)
    )
    grad_output = torch.randn(args.op_batch, num_tokens, args.op_heads * args.op_head_dim, generator=generator)
    tensors = [t.to(device=device, dtype=dtype) for t in (value, sampling_locations, attention_weights, grad_output)]
    return spatial_shapes, level_start_index, num_tokens, tensors


def _benchmark_op_run(levels, dtype_name: str, args, device: torch.device, deadline: float) -> dict[str, Any]:
    from ov_avss.ops import ms_deform_attn

    spatial_shapes, level_start_index, num_tokens, (value, locations, weights, grad_output) = _op_inputs(
        levels, args, device, DTYPES[dtype_name]
    )
    result: dict[str, Any] = {
        "dtype": dtype_name,
        "shapes": {
            "batch": args.op_batch,
            "levels": levels,
            "heads": args.op_heads,
            "channels_per_head": args.op_head_dim,
            "points": args.op_points,
            "queries": num_tokens,
        },
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    implementations: dict[str, Callable[..., torch.Tensor]] = {
        impl: (lambda *inputs, impl=impl: ms_deform_attn(*inputs, impl=impl)) for impl in ("pytorch", "kernel")
    }
    if device.type == "cuda":
        deformops_function, deformops_source = _deformops_msda()
        result["deformops_source"] = deformops_source
        if deformops_function is None:
            result["deformops"] = {"error": deformops_source}
        else:
            implementations["deformops"] = deformops_function

    outputs: dict[str, torch.Tensor] = {}
    for name, function in implementations.items():
        if time.monotonic() > deadline:
            result[name] = {"error": "skipped: --time-budget-s spent"}
            continue
        try:
            def forward() -> torch.Tensor:
                with torch.no_grad():
                    return function(value, spatial_shapes, level_start_index, locations, weights)

            def forward_backward() -> None:
                inputs = [t.detach().requires_grad_(True) for t in (value, locations, weights)]
                output = function(inputs[0], spatial_shapes, level_start_index, inputs[1], inputs[2])
                output.backward(grad_output)

            outputs[name] = forward().float()
            result[name] = {
                "forward": measure(forward, device, args.warmup, args.repeats),
                "forward_backward": measure(forward_backward, device, args.warmup, args.repeats),
            }
        except Exception as error:  # reported in the JSON; the other implementations still run
            result[name] = error_entry(f"op/{name}/{dtype_name}", error)
    for name in ("kernel", "deformops"):
        if "forward" in result.get(name, {}) and "forward" in result.get("pytorch", {}):
            result[f"speedup_{name}_over_pytorch"] = {
                phase: result["pytorch"][phase]["median_ms"] / result[name][phase]["median_ms"]
                for phase in ("forward", "forward_backward")
            }
            result[f"max_abs_forward_difference_{name}_pytorch"] = float(
                (outputs[name] - outputs["pytorch"]).abs().max()
            )
    return result


def benchmark_op(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """ms_deform_attn forward and forward+backward per shape preset and dtype."""
    runs = []
    for shape_name in args.op_levels:
        for dtype_name in args.op_dtypes:
            run = {"shape_name": shape_name}
            try:
                run.update(_benchmark_op_run(parse_levels(shape_name), dtype_name, args, device, args.deadline))
            except Exception as error:  # reported in the JSON; the next run still goes
                run.update({"dtype": dtype_name, **error_entry(f"op/{shape_name}/{dtype_name}", error)})
            runs.append(run)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"runs": runs}
