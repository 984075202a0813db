"""The video input: what a mapper (or the demo) gives the model and the evaluators, one per window
or video (docs/architecture.md, "Video input")."""
# No ``from __future__ import annotations``: TypedDict tells required from NotRequired keys by the
# evaluated annotations.
from typing import Any, NotRequired, Sequence, TypedDict

import torch


class VideoInput(TypedDict):
    """One window of a record's frames, or one whole video.

    Keys every producer sets:

    - ``uid``: window or video name; ``dataset_name``: registered dataset (``"demo"`` for the demo).
    - ``frame_indices``: which frames of the record the window holds (the exported file names).
    - ``height`` / ``width``: original frame size; predictions are returned at this size.
    - ``frames``: uint8 ``[T, 3, H, W]`` RGB, after the mapper's resize / flip / crop.
    - ``audio``: per-frame audio input (``ov_avss.audio.RecordAudio``), float32: the
      ``MODEL.AUDIO.NAME`` front end's examples ``[T, *example_shape]`` (VGGish log-mel
      ``[T, 1, 96, 64]``) or precomputed embeddings ``[T, D]`` (AVISeg's ``FEATAudios``,
      ``[T, 128]``); entry t goes with frame t.
    - ``vocabulary``: names the model classifies into; label k >= 1 means ``vocabulary[k-1]``.
    - ``frame_valid``: bool ``[T]``, the frames that carry ground truth.
    - ``sounding_categories``: the video's sounding category names (may be empty).

    Keys by mode and dataset:

    - ``targets`` (training): one mask track per target, ``labels`` int64 ``[N]`` and ``masks``
      bool ``[N, T, H, W]`` (all False where the target is absent or has no ground truth). Label
      maps (AVSBench): one target per vocabulary category present, ``labels`` its 0-based
      vocabulary index. AVISeg: one target per sounding instance, ``labels`` its contiguous
      category (the vocabulary index).
    - ``sem_seg_gt`` (testing, label maps): int64 ``[T, H0, W0]`` ground truth at original size
      in the dataset's own labels (``DatasetMetadata.label_space``), ignore label on frames
      without ground truth.
    - ``video_id`` (AVISeg): the annotation file's video id; ``annotations_file`` (AVISeg
      testing): the annotation file ``video_id`` refers to, which the ``avis`` evaluator scores
      against.
    - ``original_frames`` (testing with ``TEST.VISUALIZE_NUM_CLIPS`` > 0, label maps): uint8
      ``[T, 3, H0, W0]``, the frames before the test resize, which the overlays are drawn on.
    """

    uid: str
    dataset_name: str
    frame_indices: list[int]
    height: int
    width: int
    frames: torch.Tensor
    audio: torch.Tensor
    vocabulary: list[str]
    frame_valid: torch.Tensor
    sounding_categories: list[str]
    targets: NotRequired[dict[str, torch.Tensor]]
    sem_seg_gt: NotRequired[torch.Tensor]
    video_id: NotRequired[int]
    annotations_file: NotRequired[str]
    original_frames: NotRequired[torch.Tensor]


_OPTIONAL_KEYS = ("targets", "sem_seg_gt", "video_id", "annotations_file", "original_frames")


def make_video_input(
    *,
    uid: str,
    dataset_name: str,
    frame_indices: Sequence[int],
    height: int,
    width: int,
    frames: torch.Tensor,
    audio: torch.Tensor,
    vocabulary: Sequence[str],
    frame_valid: torch.Tensor | None = None,
    sounding_categories: Sequence[str] = (),
    **optional: Any,
) -> VideoInput:
    """A checked ``VideoInput``; ``frame_valid`` ``None`` means every frame carries ground truth.

    ``optional`` takes the mode keys (``targets``, ``sem_seg_gt``, ``video_id``,
    ``annotations_file``, ``original_frames``).

    Raises:
        ValueError: a shape disagrees with the number of frames T, or an unknown key is given.
    """
    unknown = sorted(set(optional) - set(_OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"Video input {uid}: unknown keys {unknown}; optional keys are {_OPTIONAL_KEYS}")
    num_frames = len(frame_indices)
    if frames.dim() != 4 or frames.shape[0] != num_frames or frames.shape[1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(
            f"Video input {uid}: frames must be uint8 [T = {num_frames}, 3, H, W], got {frames.dtype} {tuple(frames.shape)}"
        )
    if audio.shape[0] != num_frames:
        raise ValueError(f"Video input {uid}: audio has {audio.shape[0]} entries for {num_frames} frames")
    if frame_valid is None:
        frame_valid = torch.ones(num_frames, dtype=torch.bool)
    if tuple(frame_valid.shape) != (num_frames,) or frame_valid.dtype != torch.bool:
        raise ValueError(
            f"Video input {uid}: frame_valid must be bool [{num_frames}], got {frame_valid.dtype} {tuple(frame_valid.shape)}"
        )
    if "sem_seg_gt" in optional and optional["sem_seg_gt"].shape[0] != num_frames:
        raise ValueError(f"Video input {uid}: sem_seg_gt has {optional['sem_seg_gt'].shape[0]} frames, expected {num_frames}")
    original = optional.get("original_frames")
    if original is not None and (original.dtype, tuple(original.shape)) != (torch.uint8, (num_frames, 3, height, width)):
        raise ValueError(
            f"Video input {uid}: original_frames must be uint8 [T, 3, H0, W0] = [{num_frames}, 3, {height}, {width}], got "
            f"{original.dtype} {tuple(original.shape)}"
        )
    window: VideoInput = {
        "uid": uid,
        "dataset_name": dataset_name,
        "frame_indices": [int(t) for t in frame_indices],
        "height": int(height),
        "width": int(width),
        "frames": frames,
        "audio": audio,
        "vocabulary": list(vocabulary),
        "frame_valid": frame_valid,
        "sounding_categories": list(sounding_categories),
    }
    window.update(optional)  # type: ignore[typeddict-item]
    return window
