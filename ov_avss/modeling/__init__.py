"""Model components. Importing this package registers every backbone, audio encoder, pixel
decoder, transformer decoder and meta-architecture (TPAVI's in ``tpavi``) under its config name."""
from . import audio, backbone, classifier, criterion, pixel_decoder, tpavi, transformer_decoder
from .meta_arch import META_ARCH_REGISTRY, OV_AVSS, build_model, build_model_without_pretrained_files

__all__ = [
    "META_ARCH_REGISTRY",
    "OV_AVSS",
    "audio",
    "backbone",
    "build_model",
    "build_model_without_pretrained_files",
    "classifier",
    "criterion",
    "pixel_decoder",
    "tpavi",
    "transformer_decoder",
]
