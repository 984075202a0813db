"""AVISeg video records -> AVISM ``VideoInput``s: 5-frame training windows with window-consistent
augmentation and instance targets, or whole videos for testing."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..audio import RecordAudio
from ..structures import VideoInput, make_video_input
from ..structures.rle import decode_rle
from .catalog import get_dataset_metadata
from .window_sampling import sample_window
from .image_io import read_frame
from .transforms import crop_config, fixed_size, random_crop_box, resize_for_test, resize_frames, resized_shape

__all__ = ["AVISVideoMapper"]


class AVISVideoMapper:
    """Callable ``(record, rng=None, audio_donor=None) -> VideoInput`` (the input of ``META_ARCHITECTURE: AVISM``).

    Training: ``sample_window`` picks ``INPUT.SAMPLING_FRAME_NUM`` frames; with
    ``INPUT.CROP.ENABLED`` one random crop (``CROP.TYPE`` / ``SIZE``, in the original pixels),
    then one short side from ``INPUT.MIN_SIZE_TRAIN`` (``choice_by_clip``, long side within
    ``MAX_SIZE_TRAIN``) and one horizontal flip (``flip_by_clip``), each for the whole window;
    ``targets``: the contiguous labels and bool masks ``[N, T, H, W]`` (empty where a track is
    absent or silent). Testing: every frame resized to ``MIN_SIZE_TEST``, with ``height`` /
    ``width`` the original size. ``audio`` is what ``RecordAudio`` gives for the encoder
    ``MODEL.AUDIO.NAME`` (the record's precomputed embeddings, or the front end's examples), per
    frame, with the ``TEST.AUDIO_ABLATION`` in testing. ``vocabulary`` is the record's dataset's;
    ``sounding_categories`` the categories of the video's tracks (AVISeg annotates sounding
    instances only).
    """

    def __init__(self, cfg, dataset_name: str, is_train: bool) -> None:
        """``dataset_name``: the registered dataset whose records it maps (vocabulary, label
        space, audio padding)."""
        self.metadata = get_dataset_metadata(dataset_name)
        self.is_train = is_train
        self.num_frames = int(cfg.INPUT.SAMPLING_FRAME_NUM)
        self.min_size_train = tuple(int(s) for s in cfg.INPUT.MIN_SIZE_TRAIN)
        self.max_size_train = int(cfg.INPUT.MAX_SIZE_TRAIN)
        self.min_size_test = int(cfg.INPUT.MIN_SIZE_TEST)
        self.max_size_test = int(cfg.INPUT.MAX_SIZE_TEST)
        # As the video mapper and the demo predictor, so a demo and --eval-only resize alike.
        self.fixed_size_test = fixed_size(cfg, "FIXED_SIZE_TEST")
        self.flip = cfg.INPUT.RANDOM_FLIP
        self.crop_enabled, self.crop_type, self.crop_size = crop_config(cfg)
        self.audio = RecordAudio.from_config(cfg, self.metadata.audio_padding, is_train)
        checks = (
            ("INPUT.MIN_SIZE_TRAIN_SAMPLING", cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING, ("choice_by_clip",)),
            ("INPUT.RANDOM_FLIP", self.flip, ("flip_by_clip", "none")),
        )
        for key, value, allowed in checks:
            if is_train and value not in allowed:
                raise ValueError(f"AVISVideoMapper: config {key} = {value!r} is not supported; expected one of {allowed}")
        if is_train and not self.min_size_train:
            raise ValueError("Config INPUT.MIN_SIZE_TRAIN must list at least one size")

    def __call__(
        self, record: dict, rng: np.random.Generator | None = None, audio_donor: dict | None = None
    ) -> VideoInput:
        """``audio_donor``: with ``TEST.AUDIO_ABLATION: shuffle``, the record whose audio replaces
        this video's (``RecordAudio``)."""
        if self.is_train and rng is None:
            raise ValueError("AVISVideoMapper in training mode needs a random generator")
        num_frames = record["num_frames"]
        frame_indices = sample_window(num_frames, self.num_frames, rng) if self.is_train else list(range(num_frames))
        frames = torch.from_numpy(np.stack([read_frame(record["frame_paths"][t]) for t in frame_indices]))
        frames = frames.permute(0, 3, 1, 2).contiguous()  # [T, 3, H, W]
        height, width = frames.shape[-2:]
        if (height, width) != (record["height"], record["width"]):
            raise ValueError(
                f"Video {record['uid']}: frames are {width}x{height}, the annotations say "
                f"{record['width']}x{record['height']}"
            )
        audio = self.audio(record, frame_indices, audio_donor)
        metadata = self.metadata
        fields = {
            "uid": record["uid"],
            "dataset_name": record["dataset_name"],
            "frame_indices": frame_indices,
            "height": int(height),
            "width": int(width),
            "audio": audio,
            "vocabulary": metadata.vocabulary,
            "sounding_categories": sorted({metadata.label_space.names[track["label"]] for track in record["tracks"]}),
            "video_id": record["video_id"],
        }
        if not self.is_train:
            return make_video_input(
                frames=resize_for_test(frames, self.min_size_test, self.max_size_test, self.fixed_size_test),
                annotations_file=record["annotations_file"],
                **fields,
            )

        masks = torch.from_numpy(np.stack([
            np.stack([decode_rle(track["segmentations"][t], height, width) for t in frame_indices])
            for track in record["tracks"]
        ])) if record["tracks"] else torch.zeros((0, len(frame_indices), height, width), dtype=torch.bool)
        crop_h, crop_w = height, width
        if self.crop_enabled:
            # Before the resize, as the reference's augmentation list; one crop for the whole
            # video (the reference's per-frame RandomCrop draws one per frame).
            top, left, crop_h, crop_w = random_crop_box(int(height), int(width), self.crop_type, self.crop_size, rng)
            frames = frames[..., top : top + crop_h, left : left + crop_w]
            masks = masks[..., top : top + crop_h, left : left + crop_w]
        size = resized_shape(int(crop_h), int(crop_w), int(rng.choice(self.min_size_train)), self.max_size_train)
        frames = resize_frames(frames.contiguous(), size)
        masks = F.interpolate(masks.float(), size=size, mode="nearest") > 0.5  # [N, T, h, w]
        if self.flip == "flip_by_clip" and rng.random() < 0.5:
            frames, masks = frames.flip(-1), masks.flip(-1)
        targets = {
            "labels": torch.tensor([track["label"] for track in record["tracks"]], dtype=torch.int64),
            "masks": masks,
        }
        return make_video_input(frames=frames, targets=targets, **fields)
