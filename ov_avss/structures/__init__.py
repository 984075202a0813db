"""Data types passed between the data layer, the model, the evaluators and the demo."""
from .clip_input import ClipInput, make_clip_input

__all__ = ["ClipInput", "make_clip_input"]
