"""AVISeg reader (audio-visual instance segmentation, CVPR 2025).

Layout of the release::

    AVISeg/{train,val,test}.json                 YouTube-VIS style annotations
    AVISeg/<split>/JPEGImages/<video>/<frame>.jpg  frames at 1 fps
    AVISeg/<split>/WAVAudios/<video>.wav         the video's audio (mono or stereo)
    AVISeg/<split>/FEATAudios/<video>.npy        optional: one 128-d VGGish embedding per frame

The annotation files are parsed by ``aviseg_annotations.py``; category ``id`` k is
``AVISEG_CATEGORIES[k - 1]`` (the release's order).
"""
from __future__ import annotations

import os
from functools import partial

from ..catalog import DatasetMetadata, DatasetSpec, register_dataset
from ..label_space import RLE_TRACKS, LabelSpace
from .aviseg_annotations import load_aviseg_json
from .common import check_entries_exist, frame_times

AVISEG_DIR = "AVISeg"
SPLITS = ("train", "val", "test")
# The release's frames are extracted at 1 fps from the start of the video's audio.
FRAMES_PER_SECOND = 1.0
# FEATAudios hold the embeddings of this audio encoder (MODEL.AUDIO.NAME), one per second.
FEATAUDIOS_ENCODER = "VGGish"

# The 26 AVISeg categories; the release's category id k names AVISEG_CATEGORIES[k - 1].
AVISEG_CATEGORIES: tuple[str, ...] = (
    "person", "violin", "guitar", "cello", "flute", "piano", "ukulele", "accordion", "guzheng",
    "clarinet", "cat", "car", "saxophone", "dog", "lawn_mover", "tuba", "banjo", "pipa",
    "bassoon", "airplane", "tree_harvester", "trumpet", "lion", "bass", "erhu", "horse",
)
# Instance tracks: a track's contiguous ``label`` k (= category_id - 1) is AVISEG_CATEGORIES[k].
LABEL_SPACE = LabelSpace(AVISEG_CATEGORIES, RLE_TRACKS)


def load_aviseg(datasets_root: str, split: str, dataset_name: str) -> list[dict]:
    """Index one AVISeg split into per-video records.

    Each record (docs/architecture.md, "Records"): the common keys (``uid`` the video name,
    ``audio_embedding_paths`` ``{"VGGish": the FEATAudios .npy}`` when that file exists), then
    ``video_id``, ``height``, ``width``, ``annotations_file`` and ``tracks`` (per-frame RLE with
    the contiguous ``label`` = category_id - 1).
    """
    base = os.path.join(datasets_root, AVISEG_DIR)
    json_path = os.path.join(base, f"{split}.json")
    videos, categories = load_aviseg_json(json_path)
    for cat_id, name in categories.items():
        if not 1 <= cat_id <= len(AVISEG_CATEGORIES) or AVISEG_CATEGORIES[cat_id - 1] != name:
            raise ValueError(
                f"{json_path}: category {cat_id} '{name}' does not match the AVISeg label space "
                f"(id k names AVISEG_CATEGORIES[k - 1])"
            )
    split_dir = os.path.join(base, split)
    records = []
    for video in videos:
        frames = [os.path.join(split_dir, "JPEGImages", f) for f in video.file_names]
        feature_path = os.path.join(split_dir, "FEATAudios", f"{video.name}.npy")
        records.append({
            "uid": video.name,
            "dataset_name": dataset_name,
            "frame_paths": frames,
            "frame_times": frame_times(video.length, FRAMES_PER_SECOND),
            "num_frames": video.length,
            "audio_path": os.path.join(split_dir, "WAVAudios", f"{video.name}.wav"),
            "audio_embedding_paths": {FEATAUDIOS_ENCODER: feature_path} if os.path.isfile(feature_path) else {},
            "video_id": video.video_id,
            "height": video.height,
            "width": video.width,
            "annotations_file": json_path,
            "tracks": [dict(t, label=t["category_id"] - 1) for t in video.tracks],
        })
    check_entries_exist((f for r in records for f in r["frame_paths"]), "AVISeg frame")
    # Videos with FEATAudios need their wav only for an audio encoder other than VGGish.
    check_entries_exist((r["audio_path"] for r in records if not r["audio_embedding_paths"]), "AVISeg audio")
    return records


def _register() -> None:
    for split in SPLITS:
        name = f"aviseg_{split}"
        metadata = DatasetMetadata(
            name=name, vocabulary=AVISEG_CATEGORIES, label_space=LABEL_SPACE, evaluator_type="avis",
            is_train=split == "train",
            mapper="video",
        )
        register_dataset(DatasetSpec(metadata=metadata, load=partial(load_aviseg, split=split, dataset_name=name)))


_register()
