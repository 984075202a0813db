"""Drawing predictions over frames, shared by the evaluation overlays and the demo."""
from .frame_segments import FrameSegment, visible_frame_segments
from .visualizer import MASK_OPACITY, draw_segments

__all__ = ["FrameSegment", "MASK_OPACITY", "draw_segments", "visible_frame_segments"]
