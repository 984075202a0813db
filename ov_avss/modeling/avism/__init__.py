"""AVISM parts: frame-level decoder, video-level module, release checkpoint names."""
from .checkpoint_names import install_reference_name_map
from .frame_decoder import AVISMFrameDecoder
from .video_decoder import AVISMVideoDecoder, window_attention_mask

__all__ = ["AVISMFrameDecoder", "AVISMVideoDecoder", "install_reference_name_map", "window_attention_mask"]
