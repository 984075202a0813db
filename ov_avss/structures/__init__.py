"""Data types passed between the data layer, the model, the evaluators and the demo: the clip
input, and the RLE codec of binary masks."""
from .clip_input import ClipInput, make_clip_input
from .rle import decode_rle, encode_mask, rle_area, segmentation_to_rle
from .segments import SEGMENTS, output_segments

__all__ = [
    "ClipInput", "SEGMENTS", "decode_rle", "encode_mask", "make_clip_input", "output_segments", "rle_area",
    "segmentation_to_rle",
]
