"""Running the models on arbitrary videos: inputs, prediction and outputs.

``build_demo(cfg, request)`` picks the demo of ``MODEL.META_ARCHITECTURE`` (``DEMO_REGISTRY``):
``SegmentDemo`` for ``OV_AVSS`` (any vocabulary), ``TrackDemo`` for ``AVISM`` (instance tracks),
``ClosedSetSegmentDemo`` for ``TPAVI`` (its trained classes).
"""
from .build import DEMO_REGISTRY, DemoRequest, build_demo
from .errors import DemoInputError
from .frame_source import DemoInput, open_demo_input
from .pipeline import DemoOutputs, SegmentDemo, run_video_demo
from .predictor import VideoPredictor
from .tpavi_demo import ClosedSetSegmentDemo
from .track_pipeline import Track, TrackDemo, TrackDemoOutputs, run_track_demo, track_id_map
from .vocabulary import parse_vocabulary, read_vocabulary_file

__all__ = [
    "ClosedSetSegmentDemo",
    "DEMO_REGISTRY",
    "DemoInput",
    "DemoInputError",
    "DemoOutputs",
    "DemoRequest",
    "SegmentDemo",
    "Track",
    "TrackDemo",
    "TrackDemoOutputs",
    "VideoPredictor",
    "build_demo",
    "open_demo_input",
    "parse_vocabulary",
    "read_vocabulary_file",
    "run_track_demo",
    "run_video_demo",
    "track_id_map",
]
