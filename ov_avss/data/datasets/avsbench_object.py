"""AVSBench-object readers: S4 (single source) and MS3 (multiple sources), binary masks.

Layout of the public AVSBench release (see ``datasets/README.md``)::

    AVSBench-object/Single-source/s4_meta_data.csv         name, start, category, split
    AVSBench-object/Single-source/s4_data/visual_frames/<split>/<category>/<name>/<name>_<k>.png
    AVSBench-object/Single-source/s4_data/gt_masks/<split>/<category>/<name>/<name>_<k>.png
    AVSBench-object/Single-source/s4_data/audio_wav/<split>/<category>/<name>.wav
    AVSBench-object/Multi-sources/ms3_meta_data.csv        video_id, split
    AVSBench-object/Multi-sources/ms3_data/visual_frames/<name>/<name>.mp4_<k>.png
    AVSBench-object/Multi-sources/ms3_data/gt_masks/<split>/<name>/<name>_<k>.png
    AVSBench-object/Multi-sources/ms3_data/audio_wav/<split>/<name>.wav

``k`` runs 1..5. S4 training videos have a mask for frame 1 only.
"""
from __future__ import annotations

import os
from functools import partial

from ..catalog import DatasetMetadata, DatasetSpec, register_dataset
from ..categories import BACKGROUND
from ..label_space import BINARY_PNG, LabelSpace
from .common import check_entries_exist, frame_times, pick_column, read_csv_rows

OBJECT_DIR = "AVSBench-object"
SOUNDING_OBJECT = "sounding object"
NUM_FRAMES = 5
# Frame k (1..5) is second k - 1 of the 5 s video's audio.
FRAMES_PER_SECOND = 1.0
SPLITS = ("train", "val", "test")
# The first column holds the video id; releases call it "name" (S4) or "video_id" (MS3).
_ID_COLUMNS = ("name", "video_id", "vid", "uid")
# Grey masks: 0 = background, 1 (or 255) = a sounding object.
LABEL_SPACE = LabelSpace((BACKGROUND, SOUNDING_OBJECT), BINARY_PNG)


def _frame_numbers() -> range:
    return range(1, NUM_FRAMES + 1)


def _s4_paths(base: str, split: str, row: dict[str, str], name: str) -> tuple[str, list[str], list[str], str]:
    category = row["category"]
    frames_dir = os.path.join(base, "s4_data", "visual_frames", split, category, name)
    masks_dir = os.path.join(base, "s4_data", "gt_masks", split, category, name)
    frames = [os.path.join(frames_dir, f"{name}_{k}.png") for k in _frame_numbers()]
    masks = [os.path.join(masks_dir, f"{name}_{k}.png") for k in _frame_numbers()]
    audio = os.path.join(base, "s4_data", "audio_wav", split, category, f"{name}.wav")
    return frames_dir, frames, masks, audio


def _ms3_paths(base: str, split: str, row: dict[str, str], name: str) -> tuple[str, list[str], list[str], str]:
    frames_dir = os.path.join(base, "ms3_data", "visual_frames", name)
    masks_dir = os.path.join(base, "ms3_data", "gt_masks", split, name)
    frames = [os.path.join(frames_dir, f"{name}.mp4_{k}.png") for k in _frame_numbers()]
    masks = [os.path.join(masks_dir, f"{name}_{k}.png") for k in _frame_numbers()]
    audio = os.path.join(base, "ms3_data", "audio_wav", split, f"{name}.wav")
    return frames_dir, frames, masks, audio


_SUBSETS = {
    "s4": ("Single-source", "s4_meta_data.csv", ("split", "category"), _s4_paths),
    "ms3": ("Multi-sources", "ms3_meta_data.csv", ("split",), _ms3_paths),
}


def load_avsbench_object(datasets_root: str, subset: str, split: str, dataset_name: str) -> list[dict]:
    """Index one split of S4 or MS3 into per-video records (docs/architecture.md).

    Every record's ``category_names`` is ``["sounding object"]``; S4 records also keep the
    release's category under ``source_category``.
    """
    folder, csv_name, required, build_paths = _SUBSETS[subset]
    base = os.path.join(datasets_root, OBJECT_DIR, folder)
    metadata_path = os.path.join(base, csv_name)
    columns, rows = read_csv_rows(metadata_path, required)
    id_column = pick_column(metadata_path, columns, _ID_COLUMNS)

    records, frame_dirs = [], []
    for row_number, row in enumerate(rows, start=2):
        if row["split"] not in SPLITS:
            raise ValueError(f"{metadata_path} line {row_number}: split '{row['split']}' is not one of {SPLITS}")
        if row["split"] != split:
            continue
        name = row[id_column]
        if not name:
            raise ValueError(f"{metadata_path} line {row_number}: empty '{id_column}'")
        frames_dir, frames, masks, audio = build_paths(base, split, row, name)
        # S4 training supervises the first frame only.
        annotated = 1 if (subset == "s4" and split == "train") else NUM_FRAMES
        record = {
            "uid": name,
            "subset": subset,
            "split": split,
            "frame_paths": frames,
            "mask_paths": [m if t < annotated else None for t, m in enumerate(masks)],
            "frame_times": frame_times(NUM_FRAMES, FRAMES_PER_SECOND),
            "audio_path": audio,
            "audio_embedding_paths": {},
            "num_frames": NUM_FRAMES,
            "category_names": [SOUNDING_OBJECT],
            "dataset_name": dataset_name,
        }
        if subset == "s4":
            record["source_category"] = row["category"]
        records.append(record)
        frame_dirs.append(frames_dir)
    if not records:
        raise ValueError(f"{metadata_path}: no videos of split '{split}' for dataset '{dataset_name}'")
    check_entries_exist(frame_dirs, f"frame folders of {dataset_name}")
    return records


def _register_all() -> None:
    for subset in _SUBSETS:
        for split in SPLITS:
            name = f"avsbench_{subset}_{split}"
            metadata = DatasetMetadata(
                name=name, vocabulary=(SOUNDING_OBJECT,), label_space=LABEL_SPACE, evaluator_type="binary_avs",
                protocols=("avsbench_binary",), audio_padding="repeat_last",
                is_train=split == "train", extra={"split": split, "subset": subset},
            )
            load = partial(load_avsbench_object, subset=subset, split=split, dataset_name=name)
            register_dataset(DatasetSpec(metadata=metadata, load=load))


_register_all()
