"""Multi-scale deformable attention: the op (compiled kernel or PyTorch path) and the layer."""
from .extension import get_extension, load_extension_jit
from .ms_deform_attn import MSDeformAttn
from .ms_deform_attn_function import MSDA_IMPLEMENTATIONS, MSDeformAttnFunction, ms_deform_attn
from .ms_deform_attn_pytorch import ms_deform_attn_pytorch

__all__ = [
    "MSDA_IMPLEMENTATIONS",
    "MSDeformAttn",
    "MSDeformAttnFunction",
    "get_extension",
    "load_extension_jit",
    "ms_deform_attn",
    "ms_deform_attn_pytorch",
]
