"""Multi-scale deformable attention: the op (``torch.ops.ov_avss.ms_deform_attn``: compiled
kernel or PyTorch path) and the layer."""
from .extension import get_cpu_extension, get_extension, load_cpu_extension_jit, load_extension_jit
from .ms_deform_attn import MSDeformAttn
from .ms_deform_attn_function import CPU_DEFAULT_BACKEND, MSDA_IMPLEMENTATIONS, ms_deform_attn, resolve_backend
from .ms_deform_attn_pytorch import ms_deform_attn_pytorch, ms_deform_attn_pytorch_backward

__all__ = [
    "CPU_DEFAULT_BACKEND",
    "MSDA_IMPLEMENTATIONS",
    "MSDeformAttn",
    "get_cpu_extension",
    "get_extension",
    "load_cpu_extension_jit",
    "load_extension_jit",
    "ms_deform_attn",
    "ms_deform_attn_pytorch",
    "ms_deform_attn_pytorch_backward",
    "resolve_backend",
]
