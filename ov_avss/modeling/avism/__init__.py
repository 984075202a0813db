"""AVISM parts: frame-level decoder, video-level module, track and similarity losses, release checkpoint names."""
from .checkpoint_names import install_reference_name_map
from .criterion import TrackSetCriterion
from .frame_decoder import AVISMFrameDecoder
from .similarity_loss import query_similarity_loss
from .video_decoder import AVISMVideoDecoder, window_attention_mask

__all__ = [
    "AVISMFrameDecoder",
    "AVISMVideoDecoder",
    "TrackSetCriterion",
    "install_reference_name_map",
    "query_similarity_loss",
    "window_attention_mask",
]
