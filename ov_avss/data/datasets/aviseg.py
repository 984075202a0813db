"""AVISeg reader (audio-visual instance segmentation, CVPR 2025).

Layout of the release::

    AVISeg/{train,val,test}.json                 YouTube-VIS style annotations
    AVISeg/<split>/JPEGImages/<video>/<frame>.jpg  frames at 1 fps
    AVISeg/<split>/WAVAudios/<video>.wav         the video's audio (mono or stereo)
    AVISeg/<split>/FEATAudios/<video>.npy        optional: one 128-d VGGish embedding per frame

The JSON holds ``videos`` (``id``, ``file_names`` as ``<video>/<frame>.jpg``, ``height``,
``width``, ``length``), ``categories`` (``id``, ``name``) and ``annotations``: one track per
sounding instance with ``video_id``, ``category_id`` and ``segmentations``, one entry per frame
(compressed or uncompressed RLE, polygons, or null where the instance is absent or silent).
Category ``id`` k is ``AVISEG_CATEGORIES[k - 1]`` (the release's order).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils

from ...audio import audio_examples_for_frames
from ..catalog import DatasetMetadata, DatasetSpec, register_dataset
from ..label_space import RLE_TRACKS, LabelSpace
from ...utils.file_io import read_utf8_text
from .common import check_entries_exist

AVISEG_DIR = "AVISeg"
SPLITS = ("train", "val", "test")
FEATURE_DIM = 128

# The 26 AVISeg categories; the release's category id k names AVISEG_CATEGORIES[k - 1].
AVISEG_CATEGORIES: tuple[str, ...] = (
    "person", "violin", "guitar", "cello", "flute", "piano", "ukulele", "accordion", "guzheng",
    "clarinet", "cat", "car", "saxophone", "dog", "lawn_mover", "tuba", "banjo", "pipa",
    "bassoon", "airplane", "tree_harvester", "trumpet", "lion", "bass", "erhu", "horse",
)
# Instance tracks: a track's contiguous ``label`` k (= category_id - 1) is AVISEG_CATEGORIES[k].
LABEL_SPACE = LabelSpace(AVISEG_CATEGORIES, RLE_TRACKS)


def segmentation_to_rle(segmentation: Any, height: int, width: int, where: str) -> dict | None:
    """One frame's segmentation as compressed RLE ``{"size": [H, W], "counts": str}``, or None.

    Accepts compressed RLE (``counts`` a string), uncompressed RLE (``counts`` a list),
    polygons (a list of flat ``[x0, y0, x1, y1, ...]`` lists) and null. ``where`` names the
    entry in error messages.
    """
    if segmentation is None:
        return None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, (list, tuple)) and len(size) == 2) or counts is None:
            raise ValueError(f"{where}: an RLE needs 'size' [H, W] and 'counts', got keys {sorted(segmentation)}")
        if [int(size[0]), int(size[1])] != [height, width]:
            raise ValueError(f"{where}: RLE size {list(size)} differs from the video's [{height}, {width}]")
        if isinstance(counts, list):
            rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": [height, width], "counts": counts}
        else:
            raise ValueError(f"{where}: RLE 'counts' must be a string or a list, got {type(counts).__name__}")
    elif isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        if len(polygons) != len(segmentation):
            raise ValueError(f"{where}: polygons must be flat lists of >= 3 (x, y) points")
        if not polygons:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    else:
        raise ValueError(f"{where}: expected an RLE dict, a polygon list or null, got {type(segmentation).__name__}")
    counts = rle["counts"]
    return {"size": [height, width], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def rle_area(rle: dict | None) -> int:
    """Foreground pixels of a compressed RLE (0 for None); exact at any resolution."""
    return 0 if rle is None else int(mask_utils.area(rle))


def decode_rle(rle: dict | None, height: int, width: int) -> np.ndarray:
    """``[H, W]`` bool mask of a compressed RLE (all False for None)."""
    if rle is None:
        return np.zeros((height, width), dtype=bool)
    return mask_utils.decode(rle).astype(bool)


def encode_mask(mask: np.ndarray) -> dict:
    """Compressed RLE (JSON-ready, ``counts`` a str) of an ``[H, W]`` bool mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle["counts"].decode("ascii")}


@dataclass(frozen=True)
class AVISVideo:
    """One annotated video: frames, size, and its tracks with per-frame RLE (None = absent)."""

    video_id: int
    name: str
    file_names: tuple[str, ...]
    height: int
    width: int
    tracks: tuple[dict, ...]  # each {"id", "category_id", "segmentations": [rle | None] * length}

    @property
    def length(self) -> int:
        return len(self.file_names)


def _require(entry: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")


def read_json(path: str, what: str) -> Any:
    """The parsed content of a JSON file; FileNotFoundError / ValueError name ``what`` and ``path``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(read_utf8_text(path, what))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def load_aviseg_json(path: str) -> tuple[list[AVISVideo], dict[int, str]]:
    """Parse and validate an AVISeg (YouTube-VIS style) annotation file.

    Returns:
        ``(videos, categories)``: videos in file order with normalised RLE tracks, and the
        file's ``{category_id: name}``.
    """
    data = read_json(path, "AVISeg annotation file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'videos', 'categories', 'annotations'")
    _require(data, ("videos", "categories", "annotations"), path)
    categories = {}
    for i, cat in enumerate(data["categories"]):
        _require(cat, ("id", "name"), f"{path} categories[{i}]")
        categories[int(cat["id"])] = str(cat["name"])

    raw_videos = {}
    for i, video in enumerate(data["videos"]):
        where = f"{path} videos[{i}]"
        _require(video, ("id", "file_names", "height", "width"), where)
        if not video["file_names"]:
            raise ValueError(f"{where}: 'file_names' is empty")
        if "length" in video and int(video["length"]) != len(video["file_names"]):
            raise ValueError(f"{where}: 'length' {video['length']} != {len(video['file_names'])} file names")
        raw_videos[int(video["id"])] = (video, [])

    for i, ann in enumerate(data["annotations"]):
        where = f"{path} annotations[{i}]"
        _require(ann, ("video_id", "category_id", "segmentations"), where)
        video_id = int(ann["video_id"])
        if video_id not in raw_videos:
            raise ValueError(f"{where}: video_id {video_id} is not in 'videos'")
        if int(ann["category_id"]) not in categories:
            raise ValueError(f"{where}: category_id {ann['category_id']} is not in 'categories'")
        video, tracks = raw_videos[video_id]
        h, w, n = int(video["height"]), int(video["width"]), len(video["file_names"])
        if len(ann["segmentations"]) != n:
            raise ValueError(f"{where}: {len(ann['segmentations'])} segmentations for a {n}-frame video")
        rles = [segmentation_to_rle(s, h, w, f"{where} segmentations[{t}]") for t, s in enumerate(ann["segmentations"])]
        tracks.append({"id": int(ann.get("id", i + 1)), "category_id": int(ann["category_id"]), "segmentations": rles})

    videos = []
    for video_id, (video, tracks) in raw_videos.items():
        file_names = tuple(str(f) for f in video["file_names"])
        videos.append(AVISVideo(
            video_id=video_id, name=file_names[0].split("/")[0], file_names=file_names,
            height=int(video["height"]), width=int(video["width"]), tracks=tuple(tracks),
        ))
    return videos, categories


def load_aviseg(datasets_root: str, split: str, dataset_name: str) -> list[dict]:
    """Index one AVISeg split into per-video records.

    Each record: ``dataset_name``, ``video_id``, ``video_name``, ``file_names`` (absolute frame paths),
    ``height``, ``width``, ``length``, ``audio_path`` (the wav), ``audio_feature_path`` (the
    ``.npy`` when present, else None), ``annotations_file`` and ``tracks`` (per-frame RLE with
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
            "dataset_name": dataset_name,
            "video_id": video.video_id,
            "video_name": video.name,
            "file_names": frames,
            "height": video.height,
            "width": video.width,
            "length": video.length,
            "audio_path": os.path.join(split_dir, "WAVAudios", f"{video.name}.wav"),
            "audio_feature_path": feature_path if os.path.isfile(feature_path) else None,
            "annotations_file": json_path,
            "tracks": [dict(t, label=t["category_id"] - 1) for t in video.tracks],
        })
    check_entries_exist((f for r in records for f in r["file_names"]), "AVISeg frame")
    check_entries_exist((r["audio_path"] for r in records if r["audio_feature_path"] is None), "AVISeg audio")
    return records


def load_audio_features(path: str, num_frames: int) -> np.ndarray:
    """A ``FEATAudios`` file: float32 ``[num_frames, 128]`` (one VGGish embedding per frame)."""
    features = np.load(path)
    if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
        raise ValueError(f"{path}: expected [T, {FEATURE_DIM}] audio embeddings, got shape {features.shape}")
    if features.shape[0] < num_frames:
        raise ValueError(f"{path}: {features.shape[0]} embeddings for a {num_frames}-frame video")
    return features[:num_frames].astype(np.float32)


def video_audio(record: dict) -> tuple[str, torch.Tensor]:
    """A video's audio input, one entry per frame.

    Returns ``("embedding", float32 [T, 128])`` from the record's ``FEATAudios`` file when it
    exists, else ``("log_mel", float32 [T, 1, 96, 64])`` computed from its wav (mono or stereo;
    channels are averaged) for the model's VGGish.
    """
    length = record["length"]
    if record["audio_feature_path"] is not None:
        return "embedding", torch.from_numpy(load_audio_features(record["audio_feature_path"], length))
    return "log_mel", audio_examples_for_frames(record["audio_path"], range(length))  # 1 fps


def sample_clip(length: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of a training clip: ``num_frames`` consecutive frames at a random start.

    A video shorter than the clip repeats its last frame, so clips always hold ``num_frames``.
    """
    if length < 1 or num_frames < 1:
        raise ValueError(f"sample_clip needs length >= 1 and num_frames >= 1, got {length}, {num_frames}")
    start = int(rng.integers(0, max(1, length - num_frames + 1)))
    return [min(start + k, length - 1) for k in range(num_frames)]


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
