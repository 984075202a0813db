"""Audio input shared by the data layer, the demo and the audio encoders: wav reading, decoding,
resampling, the VGGish log-mel front end, the front-end registry, and the one function that
gives the audio examples for given video frame times (docs/architecture.md, "Audio front end").

Importing this package registers the VGGish front end for ``MODEL.AUDIO.NAME`` ``"VGGish"``.
"""
from .frame_examples import AUDIO_PADDING_MODES, AudioTrackExamples, audio_examples_for_frames, example_indices
from .front_end import AudioFrontEnd, audio_front_end, register_audio_front_end
from .vggish_front_end import VGGISH_FRONT_END

__all__ = [
    "AUDIO_PADDING_MODES",
    "AudioFrontEnd",
    "AudioTrackExamples",
    "VGGISH_FRONT_END",
    "audio_examples_for_frames",
    "audio_front_end",
    "example_indices",
    "register_audio_front_end",
]
