"""Registry of meta-architectures (whole models) and the config-driven builder."""
import logging

import torch

from ov_avss.utils.registry import Registry

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Registry for meta-architectures: the whole model. A registered class is built as
``cls.from_config(cfg)``.
"""

logger = logging.getLogger(__name__)


def resolve_device(device_name: str) -> torch.device:
    """``MODEL.DEVICE`` -> a ``torch.device``; ``"auto"`` means CUDA when one is visible."""
    if device_name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"MODEL.DEVICE is '{device_name}' but no CUDA device is visible; "
            "set MODEL.DEVICE cpu (or auto)"
        )
    return device


def build_model(cfg) -> torch.nn.Module:
    """Build ``cfg.MODEL.META_ARCHITECTURE`` and move it to ``cfg.MODEL.DEVICE``.

    Pretrained weights named in ``MODEL.WEIGHTS`` are *not* loaded here; the checkpointer does
    that. Sub-module weights that are part of construction (VGGish, CLIP) are loaded by their
    modules from their own keys.
    """
    name = cfg.MODEL.META_ARCHITECTURE
    model = META_ARCH_REGISTRY.get(name).from_config(cfg)
    model.to(resolve_device(cfg.MODEL.DEVICE))
    if cfg.MODEL.COMPILE:
        compile_heavy_parts(model)
    return model


def compile_heavy_parts(model: torch.nn.Module) -> None:
    """``torch.compile`` each sub-module named in ``model.COMPILED_PARTS`` (each member of a
    ``ModuleList`` / ``ModuleDict``), in place
    (``nn.Module.compile``), so parameter names, state dicts and checkpoints stay unchanged.
    The meta-architecture's own code (target preparation, losses, post-processing) stays eager."""
    for name in model.COMPILED_PARTS:
        part = getattr(model, name)
        # A container has no forward of its own: its members are what the model calls.
        members = part.values() if isinstance(part, torch.nn.ModuleDict) else part
        for module in members if isinstance(part, (torch.nn.ModuleList, torch.nn.ModuleDict)) else (part,):
            module.compile()
    logger.info("MODEL.COMPILE: torch.compile of %s", ", ".join(model.COMPILED_PARTS))


def build_model_without_pretrained_files(cfg, device: str = "cpu") -> torch.nn.Module:
    """The model of ``cfg`` on ``device`` with random VGGish, CLIP and PVT-v2 weights, reading no file.

    ``MODEL.WEIGHTS`` and ``MODEL.PVT_V2.WEIGHTS`` are cleared and ``MODEL.AUDIO.RANDOM_INIT`` /
    ``MODEL.CLIP_ADAPTER.RANDOM_INIT`` are forced on a copy of ``cfg``, so the published R50 / Swin-B configs build (for parameter
    counts, timing, checkpoint conversion) where their weight files are absent.
    """
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = device
    cfg.MODEL.AUDIO.RANDOM_INIT = True
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = True
    cfg.MODEL.PVT_V2.WEIGHTS = ""
    cfg.freeze()
    return build_model(cfg)
