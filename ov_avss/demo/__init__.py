"""Running OV-AVSS on arbitrary videos with any vocabulary: inputs, prediction and outputs."""
from .errors import DemoInputError
from .frame_source import DemoInput, open_demo_input
from .pipeline import DemoOutputs, run_video_demo
from .predictor import VideoPredictor
from .vocabulary import parse_vocabulary, read_vocabulary_file

__all__ = [
    "DemoInput",
    "DemoInputError",
    "DemoOutputs",
    "VideoPredictor",
    "open_demo_input",
    "parse_vocabulary",
    "read_vocabulary_file",
    "run_video_demo",
]
