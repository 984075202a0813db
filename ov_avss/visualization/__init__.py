"""Drawing predictions over frames, shared by the evaluation overlays and the demo."""
from .frame_segments import FrameSegment, visible_frame_segments
from .track_colors import MAX_TRACK_ID, track_color, track_palette
from .visualizer import MASK_OPACITY, draw_segments

__all__ = [
    "FrameSegment",
    "MASK_OPACITY",
    "MAX_TRACK_ID",
    "draw_segments",
    "track_color",
    "track_palette",
    "visible_frame_segments",
]
