"""Data types passed between the data layer, the model, the evaluators and the demo: the window
input, and the RLE codec of binary masks."""
from .video_input import VideoInput, make_video_input
from .rle import decode_rle, encode_mask, rle_area, segmentation_to_rle
from .segments import SEGMENTS, output_segments

__all__ = [
    "VideoInput", "SEGMENTS", "decode_rle", "encode_mask", "make_video_input", "output_segments", "rle_area",
    "segmentation_to_rle",
]
