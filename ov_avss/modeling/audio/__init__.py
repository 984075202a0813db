"""Audio encoders; importing this package registers them in ``AUDIO_ENCODER_REGISTRY``."""
from .build import AUDIO_ENCODER_REGISTRY, build_audio_encoder
from .vggish import VGGISH_WEIGHTS_SOURCE, VGGish

__all__ = ["AUDIO_ENCODER_REGISTRY", "VGGISH_WEIGHTS_SOURCE", "VGGish", "build_audio_encoder"]
