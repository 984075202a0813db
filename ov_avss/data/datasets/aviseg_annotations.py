"""AVISeg's annotation files (YouTube-VIS style JSON): parsing and validation.

The JSON holds ``videos`` (``id``, ``file_names`` as ``<video>/<frame>.jpg``, ``height``,
``width``, ``length``), ``categories`` (``id``, ``name``) and ``annotations``: one track per
sounding instance with ``video_id``, ``category_id`` and ``segmentations``, one entry per frame
(compressed or uncompressed RLE, polygons, or null where the instance is absent or silent).
The field names here are the file's; the reader (``aviseg.py``) turns them into records.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ...structures.rle import segmentation_to_rle
from ...utils.file_io import read_utf8_text

__all__ = ["AVISVideo", "load_aviseg_json", "read_json"]


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
