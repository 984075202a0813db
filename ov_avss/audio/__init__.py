"""Audio input shared by the data layer, the demo and the audio encoders: wav reading, decoding,
resampling, the VGGish log-mel front end, the front-end registry, the function that gives the
audio examples for given video frame times, and ``RecordAudio``, the model's audio input for a
dataset record's frames with the dataset's padding and the audio ablations
(docs/architecture.md, "Audio input").

Importing this package registers the VGGish front end for ``MODEL.AUDIO.NAME`` ``"VGGish"``.
"""
from .frame_examples import (
    AUDIO_PADDING_MODES, AudioTrackExamples, TrackExamplesOnDemand, audio_examples_for_frames, check_audio_padding,
    example_indices,
)
from .front_end import AUDIO_FRONT_END_REGISTRY, AudioFrontEnd, audio_front_end
from .record_audio import AUDIO_ABLATIONS, RecordAudio, audio_donors, load_audio_embeddings
from .vggish_front_end import VGGISH_FRONT_END

__all__ = [
    "AUDIO_ABLATIONS",
    "AUDIO_FRONT_END_REGISTRY",
    "AUDIO_PADDING_MODES",
    "AudioFrontEnd",
    "AudioTrackExamples",
    "RecordAudio",
    "TrackExamplesOnDemand",
    "VGGISH_FRONT_END",
    "audio_donors",
    "audio_examples_for_frames",
    "audio_front_end",
    "check_audio_padding",
    "example_indices",
    "load_audio_embeddings",
]
