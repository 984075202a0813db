"""One model call on a window of frames: resize, build the video input, run, return the output."""
from __future__ import annotations

import logging
from typing import Any, Sequence

import torch

from ov_avss.checkpoint import Checkpointer
from ov_avss.data.catalog import with_seen_categories
# The evaluation's test-time resize, so that a demo window and an --eval-only video holding the
# same frames give the same maps.
from ov_avss.data.transforms import fixed_size, resize_for_test
from ov_avss.modeling.meta_arch.build import build_model
from ov_avss.structures import make_video_input

logger = logging.getLogger(__name__)


class VideoPredictor:
    """Builds the model of ``cfg`` (any ``MODEL.META_ARCHITECTURE``) in eval mode and runs it on
    frames given as the test loader gives them.

    ``MODEL.WEIGHTS``, when set, is loaded through the project's checkpointer (our checkpoints,
    converted OV-AVSS releases, or external files the name map knows); a trained checkpoint that
    does not fit the configured model is an error (``ov_avss.checkpoint.model_fit``).

    With the published OV-AVSS configs this is the release's ``demo_video`` AVSBench mode: frames
    are resized as at test time (``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``, or ``FIXED_SIZE_TEST``), the caller feeds
    windows of ``INPUT.SAMPLING_FRAME_NUM`` frames (a 10-frame AVSBench v2 video: two windows of
    5), and ``sem_seg`` paints the pairs scoring above ``MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD``
    in descending score order, first cover wins. An AVISM model gets the whole video in one call.
    """

    def __init__(self, cfg) -> None:
        # The learned head's seen names come from DATASETS.TRAIN, as in training.
        self.model = build_model(with_seen_categories(cfg))
        self.model.eval()
        if cfg.MODEL.WEIGHTS:
            logger.info("Loading weights from %s", cfg.MODEL.WEIGHTS)
            Checkpointer(self.model, save_to_disk=False).load(cfg.MODEL.WEIGHTS)
        else:
            logger.warning("MODEL.WEIGHTS is empty: the model runs with its initial weights.")
        self.min_size_test = int(cfg.INPUT.MIN_SIZE_TEST)
        self.fixed_size_test = fixed_size(cfg, "FIXED_SIZE_TEST")
        self.max_size_test = int(cfg.INPUT.MAX_SIZE_TEST)

    def resize(self, frames: torch.Tensor) -> torch.Tensor:
        """RGB uint8 ``[T, H, W, 3]`` -> uint8 ``[T, 3, h, w]`` at the test-time size."""
        return resize_for_test(frames.permute(0, 3, 1, 2).contiguous(), self.min_size_test, self.max_size_test, self.fixed_size_test)

    @torch.no_grad()
    def predict(
        self, frames: torch.Tensor, audio: torch.Tensor, vocabulary: Sequence[str], height: int, width: int,
        **optional: Any,
    ) -> dict:
        """Run the model on one video of resized frames.

        Args:
            frames: uint8 ``[T, 3, h, w]`` from ``resize``.
            audio: float32 ``[T, *example_shape]``, the audio example of each frame.
            vocabulary: the names the model classifies into (AVISM: its fixed label space).
            height, width: the frames' original size; outputs come at this size.
            optional: further video input keys (``video_id``).

        Returns:
            The model's output for the video (docs/architecture.md).
        """
        video = make_video_input(
            uid="demo",
            dataset_name="demo",
            frame_indices=range(frames.shape[0]),
            height=height,
            width=width,
            frames=frames,
            audio=audio,
            vocabulary=vocabulary,
            **optional,
        )
        return self.model([video])[0]

    def __call__(self, frames: torch.Tensor, audio: torch.Tensor, vocabulary: Sequence[str]) -> dict:
        """Segment one window.

        Args:
            frames: RGB uint8 ``[T, H, W, 3]``.
            audio: float32 ``[T, 1, 96, 64]``, the VGGish example of each frame.
            vocabulary: category names; output label ``k >= 1`` means ``vocabulary[k - 1]``.

        Returns:
            The model's output for the video: ``sem_seg`` int64 ``[T, H, W]`` and ``segments``
            (see docs/architecture.md), at the frames' original size.
        """
        height, width = frames.shape[1:3]
        return self.predict(self.resize(frames), audio, vocabulary, height, width)
