"""Data types passed between the data layer, the model, the evaluators and the demo."""
from .clip_input import ClipInput, make_clip_input
from .segments import SEGMENTS, output_segments

__all__ = ["ClipInput", "SEGMENTS", "make_clip_input", "output_segments"]
