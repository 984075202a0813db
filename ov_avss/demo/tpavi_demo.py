"""The TPAVI demo: the model's own classes (no vocabulary to choose), as SegmentDemo's outputs."""
from __future__ import annotations

from .build import DEMO_REGISTRY, DemoRequest, test_dataset_metadata, untrained_reasons
from .errors import DemoInputError
from .pipeline import SegmentDemo


@DEMO_REGISTRY.register(name="TPAVI")
class ClosedSetSegmentDemo(SegmentDemo):
    """``META_ARCHITECTURE: TPAVI``: the overlay video, palette PNGs (0 = background, k = the
    k-th name; S4 / MS3: 1 = sounding object) and ``segments.json``, for the classes the model was
    trained on, i.e. the vocabulary of ``DATASETS.TEST[0]``."""

    @classmethod
    def from_config(cls, cfg, request: DemoRequest) -> "ClosedSetSegmentDemo":
        """Raises:
            DemoInputError: a vocabulary or a video id is requested (TPAVI's classes are fixed),
                or the test dataset's vocabulary does not match ``MODEL.TPAVI.NUM_CLASSES``."""
        if request.vocabulary is not None:
            raise DemoInputError(
                "--vocabulary is for OV_AVSS configs; TPAVI segments the classes it was trained on "
                "(the vocabulary of DATASETS.TEST[0])"
            )
        if request.video_id is not None:
            raise DemoInputError("--video-id is for AVIS configs (it goes into results.json); TPAVI writes segments.json")
        metadata = test_dataset_metadata(cfg)
        num_classes = int(cfg.MODEL.TPAVI.NUM_CLASSES)
        expected = 1 if num_classes == 1 else num_classes - 1
        if len(metadata.vocabulary) != expected:
            raise DemoInputError(
                f"DATASETS.TEST[0] '{metadata.name}' names {len(metadata.vocabulary)} categories but "
                f"MODEL.TPAVI.NUM_CLASSES {num_classes} means {expected}; use the config the model was trained with"
            )
        return cls(list(metadata.vocabulary), int(cfg.INPUT.SAMPLING_FRAME_NUM), metadata.audio_padding, untrained_reasons(cfg))
