"""AVISM parts: frame-level decoder, video-level module, track and similarity losses, release checkpoint names."""
from . import checkpoint_names  # noqa: F401  (registers the release's names with the checkpoint name map)
from .criterion import TrackSetCriterion
from .frame_decoder import AVISMFrameDecoder
from .similarity_loss import query_similarity_loss
from .video_decoder import AVISMVideoDecoder, window_attention_mask

__all__ = [
    "AVISMFrameDecoder",
    "AVISMVideoDecoder",
    "TrackSetCriterion",
    "query_similarity_loss",
    "window_attention_mask",
]
