"""AVSBench-semantic readers: the AVSBench-OV zero-shot splits and the closed-set splits.

Layout (see ``datasets/README.md``)::

    AVSBench-semantic/metadata.csv            vid, uid, s_min, s_sec, a_obj, split, label
    AVSBench-semantic/label2idx.json          71 entries, background first
    AVSBench-semantic/<label>/<uid>/frames/<t>.jpg
    AVSBench-semantic/<label>/<uid>/labels_rgb/<t>.png
    AVSBench-semantic/<label>/<uid>/audio.wav
"""
from __future__ import annotations

import json
import logging
import os
from functools import partial
from typing import Sequence

from ..catalog import DatasetMetadata, DatasetSpec, register_dataset
from ..label_space import PALETTE_PNG, LabelSpace
from ..categories import (
    BACKGROUND,
    BASE_CATEGORIES,
    CATEGORIES,
    CATEGORY_TO_INDEX,
    LABEL_NAMES,
    NOVEL_CATEGORIES,
)
from ...utils.file_io import read_utf8_text
from .common import check_entries_exist, frame_times, read_csv_rows

logger = logging.getLogger(__name__)

SEMANTIC_DIR = "AVSBench-semantic"
METADATA_FILE = "metadata.csv"
LABEL_FILE = "label2idx.json"
REQUIRED_COLUMNS = ("uid", "a_obj", "split", "label")
# Frames are extracted at 1 fps from the start of the video's audio.
FRAMES_PER_SECOND = 1.0
# Frames of a video of each subset (5 s and 10 s videos).
SUBSET_NUM_FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}
SPLITS = ("train", "val", "test")
CATEGORY_SEPARATOR = "_"
# label2idx.json may number background (and so every name) from 0 or, as released, from 1.
LABEL_FILE_FIRST_INDICES = (0, 1)
_logged_numberings: set[int] = set()
# Palette index k of the RGB masks is LABEL_NAMES[k]; masks also label visible categories that
# do not sound in the video (label noise).
LABEL_SPACE = LabelSpace(LABEL_NAMES, PALETTE_PNG, label_noise=True)


def semantic_root(datasets_root: str) -> str:
    return os.path.join(datasets_root, SEMANTIC_DIR)


def check_label2idx(path: str) -> int:
    """Check ``label2idx.json``: background then the 70 categories (``LABEL_NAMES``), in that
    order, numbered consecutively from 0 or from 1; return that first index.

    The released file numbers from 1 (``{"background": 1, ..., "woman": 71}``); the released
    loaders use only its order, the palette index of a name being its position. Either numbering
    therefore means palette index k = ``LABEL_NAMES[k]``; which one was found is logged once.
    A file that disagrees would silently relabel every mask, so it is refused.

    Raises:
        FileNotFoundError / ValueError: naming the file and its first disagreeing entry.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Label file not found: {path}")
    try:
        label_to_index = json.loads(read_utf8_text(path, "Label file"))
    except json.JSONDecodeError as e:
        raise ValueError(f"Label file {path} is not valid JSON: {e}") from e
    if not isinstance(label_to_index, dict) or not label_to_index:
        raise ValueError(f"Label file {path} must hold a non-empty JSON object name -> index")
    entries = list(label_to_index.items())
    first_index = entries[0][1]
    problem = None
    if first_index not in LABEL_FILE_FIRST_INDICES or isinstance(first_index, bool):
        problem = f"{entries[0][0]}: {first_index!r} (expected {BACKGROUND} first, numbered 0 or 1)"
    else:
        for position, expected_name in enumerate(LABEL_NAMES):
            if position >= len(entries):
                problem = f"position {position}: absent (expected {expected_name})"
                break
            name, index = entries[position]
            if name != expected_name:
                problem = f"position {position}: {name} (expected {expected_name})"
                break
            if index != first_index + position or isinstance(index, bool):
                problem = f"{name}: {index!r} (expected {first_index + position})"
                break
        else:
            if len(entries) > len(LABEL_NAMES):
                problem = f"position {len(LABEL_NAMES)}: {entries[len(LABEL_NAMES)][0]} (expected no more entries)"
    if problem is not None:
        absent = sorted(set(LABEL_NAMES) - set(label_to_index))
        unknown = sorted(set(label_to_index) - set(LABEL_NAMES))
        raise ValueError(
            f"Label file {path} must list {BACKGROUND} then the 70 AVSBench categories in alphabetical "
            f"order, numbered consecutively from 0 or from 1 (absent {absent[:5]}, unknown {unknown[:5]}); "
            f"first disagreeing entry: {problem}"
        )
    if first_index not in _logged_numberings:
        _logged_numberings.add(first_index)
        logger.info(
            "Label file %s numbers from %d%s; palette index = position in the file",
            path, first_index, " (as released)" if first_index == 1 else "",
        )
    return first_index


def parse_sounding_categories(value: str, metadata_path: str, uid: str) -> list[str]:
    """Split an ``a_obj`` field into category names, checking each one is known."""
    names = [name for name in value.split(CATEGORY_SEPARATOR) if name]
    unknown = [name for name in names if name not in CATEGORY_TO_INDEX]
    if unknown:
        raise ValueError(
            f"{metadata_path}: video '{uid}' lists sounding categories {unknown} that are not in "
            f"{LABEL_FILE} (a_obj = '{value}')"
        )
    return names


def load_avsbench_semantic(
    datasets_root: str, split: str, dataset_name: str, allowed_categories: Sequence[str] | None = None
) -> list[dict]:
    """Index one split of AVSBench-semantic into per-video records (docs/architecture.md).

    Args:
        datasets_root: folder holding ``AVSBench-semantic/``.
        split: ``train``, ``val`` or ``test``.
        dataset_name: the registered name, stored in each record.
        allowed_categories: keep only videos whose sounding categories all lie in this set
            (AVSBench-OV training keeps base-only videos); ``None`` keeps every video.

    The csv is read once and paths are built from the known layout; video folders are checked with
    one ``listdir`` per subset folder, individual files when they are read.
    """
    root = semantic_root(datasets_root)
    metadata_path = os.path.join(root, METADATA_FILE)
    check_label2idx(os.path.join(root, LABEL_FILE))
    _, rows = read_csv_rows(metadata_path, REQUIRED_COLUMNS)
    allowed = None if allowed_categories is None else set(allowed_categories)

    records = []
    for row_number, row in enumerate(rows, start=2):
        if row["split"] not in SPLITS:
            raise ValueError(
                f"{metadata_path} line {row_number}: split '{row['split']}' is not one of {SPLITS}"
            )
        if row["split"] != split:
            continue
        uid, subset = row["uid"], row["label"]
        if subset not in SUBSET_NUM_FRAMES:
            raise ValueError(
                f"{metadata_path} line {row_number}: label (subset) '{subset}' of video '{uid}' is "
                f"not one of {sorted(SUBSET_NUM_FRAMES)}"
            )
        if not uid:
            raise ValueError(f"{metadata_path} line {row_number}: empty uid")
        category_names = parse_sounding_categories(row["a_obj"], metadata_path, uid)
        if allowed is not None and not set(category_names) <= allowed:
            continue
        num_frames = SUBSET_NUM_FRAMES[subset]
        video_dir = os.path.join(root, subset, uid)
        # v1s training videos carry a mask for their first frame only.
        annotated = 1 if (subset == "v1s" and split == "train") else num_frames
        records.append(
            {
                "uid": uid,
                "subset": subset,
                "split": split,
                "frame_paths": [os.path.join(video_dir, "frames", f"{t}.jpg") for t in range(num_frames)],
                "mask_paths": [
                    os.path.join(video_dir, "labels_rgb", f"{t}.png") if t < annotated else None
                    for t in range(num_frames)
                ],
                "frame_times": frame_times(num_frames, FRAMES_PER_SECOND),
                "audio_path": os.path.join(video_dir, "audio.wav"),
                "audio_embedding_paths": {},
                "num_frames": num_frames,
                "category_names": category_names,
                "dataset_name": dataset_name,
            }
        )
    if not records:
        which = "" if allowed is None else " whose sounding categories are all allowed"
        raise ValueError(f"{metadata_path}: no videos of split '{split}'{which} for dataset '{dataset_name}'")
    check_entries_exist(
        (os.path.join(root, r["subset"], r["uid"]) for r in records), f"video folders of {dataset_name}"
    )
    return records


def _register_all() -> None:
    ov_split = {"label_space": LABEL_SPACE, "base_names": BASE_CATEGORIES, "novel_names": NOVEL_CATEGORIES}
    specs = [
        # AVSBench-OV: train on base-only videos with the base vocabulary; test on all 70 names.
        DatasetMetadata(
            name="avsbench_ov_train_base", vocabulary=BASE_CATEGORIES, is_train=True,
            extra={"split": "train"}, **ov_split,
        ),
        DatasetMetadata(name="avsbench_ov_test", vocabulary=CATEGORIES, extra={"split": "test"}, **ov_split),
        DatasetMetadata(name="avsbench_ov_val_all", vocabulary=CATEGORIES, extra={"split": "val"}, **ov_split),
    ]
    specs += [
        # Closed-set AVSS: scored as AVSBench does, with the OV-AVSS definition beside it.
        DatasetMetadata(
            name=f"avsbench_semantic_{split}", vocabulary=CATEGORIES, label_space=LABEL_SPACE,
            is_train=split == "train", protocols=("avsbench_avss", "ov_avss"), extra={"split": split},
        )
        for split in SPLITS
    ]
    for metadata in specs:
        allowed = BASE_CATEGORIES if metadata.name == "avsbench_ov_train_base" else None
        load = partial(
            load_avsbench_semantic, split=metadata.extra["split"], dataset_name=metadata.name,
            allowed_categories=allowed,
        )
        register_dataset(DatasetSpec(metadata=metadata, load=load))


_register_all()
