"""Running the models on arbitrary videos: inputs, prediction and outputs.

``build_demo(cfg, request)`` picks the demo of ``MODEL.META_ARCHITECTURE`` (``DEMO_REGISTRY``):
``SegmentDemo`` for ``OV_AVSS`` (any vocabulary), ``TrackDemo`` for ``AVISM`` (instance tracks),
``ClosedSetSegmentDemo`` for ``TPAVI`` (its trained classes).
``AudioVisualPredictor`` returns the same predictions as Python objects (``ov_avss.AudioVisualPredictor``).
"""
from .build import DEMO_REGISTRY, DemoRequest, build_demo
from .errors import DemoInputError
from .frame_source import DemoInput, open_demo_input
from .pipeline import DemoOutputs, FrameSegmentation, SegmentDemo, run_video_demo, segment_frames
from .predictor import VideoPredictor
from .python_predictor import AudioVisualPredictor, FrameResult, Segment, SegmentationResult, TrackingResult
from .tpavi_demo import ClosedSetSegmentDemo
from .track_pipeline import Track, TrackDemo, TrackDemoOutputs, predict_tracks, run_track_demo, track_id_map, tracks_of
from .vocabulary import parse_vocabulary, read_vocabulary_file

__all__ = [
    "AudioVisualPredictor",
    "ClosedSetSegmentDemo",
    "DEMO_REGISTRY",
    "DemoInput",
    "DemoInputError",
    "DemoOutputs",
    "DemoRequest",
    "FrameResult",
    "FrameSegmentation",
    "Segment",
    "SegmentationResult",
    "SegmentDemo",
    "Track",
    "TrackDemo",
    "TrackDemoOutputs",
    "TrackingResult",
    "VideoPredictor",
    "build_demo",
    "open_demo_input",
    "parse_vocabulary",
    "predict_tracks",
    "read_vocabulary_file",
    "run_track_demo",
    "run_video_demo",
    "segment_frames",
    "track_id_map",
    "tracks_of",
]
