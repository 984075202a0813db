"""Pixel decoders; importing this package registers them in ``PIXEL_DECODER_REGISTRY``."""
from .av_bi_attention import AudioVisualBiAttention
from .build import PIXEL_DECODER_REGISTRY, build_pixel_decoder
from .deformable_encoder_layer import DeformableEncoderLayer, encoder_reference_points
from .msdeformattn_av import MSDeformAttnPixelDecoderAV
from .position_encoding import PositionEmbeddingSine

__all__ = [
    "PIXEL_DECODER_REGISTRY",
    "AudioVisualBiAttention",
    "DeformableEncoderLayer",
    "MSDeformAttnPixelDecoderAV",
    "PositionEmbeddingSine",
    "build_pixel_decoder",
    "encoder_reference_points",
]
