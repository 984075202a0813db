"""Transformer (mask) decoders; importing this package registers them."""
from .audio_video_masked_decoder import AudioVideoMaskedTransformerDecoder
from .build import TRANSFORMER_DECODER_REGISTRY, build_transformer_decoder

__all__ = ["AudioVideoMaskedTransformerDecoder", "TRANSFORMER_DECODER_REGISTRY", "build_transformer_decoder"]
