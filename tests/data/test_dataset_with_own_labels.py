"""A dataset with its own small label space, registered here as a new reader would register itself,
goes through the window mapper and the evaluator (with export) with no edit anywhere else: its own
names, label order, palette, vocabularies in another order, label noise and unannotated frames."""
from __future__ import annotations

import json
import os
import wave
from functools import partial

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ov_avss.config import get_cfg
from ov_avss.data.catalog import DATASET_REGISTRY, DatasetMetadata, DatasetSpec, get_dataset_records, register_dataset
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.image_io import read_palette_mask
from ov_avss.data.datasets.common import frame_times
from ov_avss.data.label_space import PALETTE_PNG, LabelSpace
from ov_avss.evaluation import build_evaluator

# --- the "reader file" of the new dataset ---------------------------------------------------
KITCHEN_DIR = "Kitchen"
# The test dataset's frames are one per second of its audio.
FRAMES_PER_SECOND = 1.0
NAMES = ("background", "kettle", "drum", "gong")
BACKGROUND, KETTLE, DRUM, GONG = range(4)
KITCHEN_PALETTE = np.zeros((256, 3), dtype=np.uint8)
KITCHEN_PALETTE[:4] = [(0, 0, 0), (230, 40, 40), (40, 230, 40), (40, 40, 230)]
KITCHEN_LABELS = LabelSpace(NAMES, PALETTE_PNG, label_noise=True, palette=KITCHEN_PALETTE)


def load_kitchen(datasets_root: str, split: str, dataset_name: str) -> list[dict]:
    """Records of ``Kitchen/<split>.json``: ``[{"uid", "num_frames", "sounding", "annotated"}]``."""
    base = os.path.join(datasets_root, KITCHEN_DIR)
    with open(os.path.join(base, f"{split}.json"), encoding="utf-8") as f:
        videos = json.load(f)
    return [
        {
            "uid": video["uid"],
            "frame_paths": [os.path.join(base, video["uid"], f"{t}.jpg") for t in range(video["num_frames"])],
            "mask_paths": [
                os.path.join(base, video["uid"], f"{t}.png") if t in video["annotated"] else None
                for t in range(video["num_frames"])
            ],
            "frame_times": frame_times(video["num_frames"], FRAMES_PER_SECOND),
            "audio_path": os.path.join(base, video["uid"], "audio.wav"),
            "audio_embedding_paths": {},
            "num_frames": video["num_frames"],
            "category_names": video["sounding"],
            "dataset_name": dataset_name,
        }
        for video in videos
    ]


def _register() -> None:
    splits = (("train", ("kettle", "drum"), True), ("test", ("gong", "kettle", "drum"), False))
    for split, vocabulary, is_train in splits:
        name = f"kitchen_{split}"
        if name in DATASET_REGISTRY:
            continue
        metadata = DatasetMetadata(
            name=name, vocabulary=vocabulary, label_space=KITCHEN_LABELS, is_train=is_train,
            base_names=("kettle", "drum"), novel_names=("gong",),
        )
        register_dataset(DatasetSpec(metadata, partial(load_kitchen, split=split, dataset_name=name)))


_register()
# --------------------------------------------------------------------------------------------

# Sizes that divide 224, where the torch and PIL nearest resizes of the evaluator agree.
HEIGHT, WIDTH, NUM_FRAMES = 32, 56, 3


def _label_map(t: int) -> np.ndarray:
    """Frame t: kettle top-left, drum top-right, gong at the bottom (moving with t)."""
    labels = np.zeros((HEIGHT, WIDTH), dtype=np.int64)
    labels[:12, :16] = KETTLE
    labels[:12, 32:] = DRUM
    labels[20:, 4 * t : 4 * t + 20] = GONG
    return labels


@pytest.fixture(scope="module")
def kitchen_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("kitchen")
    rng = np.random.default_rng(0)
    # Video a: kettle and gong sound (drum is label noise); video b: only the drum, frame 2 without mask.
    videos = [
        {"uid": "a", "num_frames": NUM_FRAMES, "sounding": ["kettle", "gong"], "annotated": [0, 1, 2]},
        {"uid": "b", "num_frames": NUM_FRAMES, "sounding": ["drum"], "annotated": [0, 1]},
    ]
    for video in videos:
        video_dir = root / KITCHEN_DIR / video["uid"]
        video_dir.mkdir(parents=True)
        for t in range(NUM_FRAMES):
            cv2.imwrite(str(video_dir / f"{t}.jpg"), rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
            # Released as RGB masks in the dataset's own colours.
            cv2.imwrite(str(video_dir / f"{t}.png"), KITCHEN_PALETTE[_label_map(t)][..., ::-1])
        with wave.open(str(video_dir / "audio.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(16000)
            f.writeframes((rng.standard_normal(16000 * NUM_FRAMES) * 3000).astype("<i2").tobytes())
    for split in ("train", "test"):
        (root / KITCHEN_DIR / f"{split}.json").write_text(json.dumps(videos))
    return str(root)


@pytest.fixture
def cfg(kitchen_root):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = kitchen_root
    cfg.INPUT.MIN_SIZE_TRAIN = (HEIGHT,)
    cfg.INPUT.MAX_SIZE_TRAIN = 1000
    cfg.INPUT.RANDOM_FLIP = "none"
    cfg.INPUT.MIN_SIZE_TEST = HEIGHT
    return cfg


def test_training_targets_are_vocabulary_positions_without_label_noise(cfg):
    record = get_dataset_records("kitchen_train", cfg)[0]  # video a
    video = WindowMapper(cfg, "kitchen_train", is_train=True)(record, range(NUM_FRAMES), np.random.default_rng(0))
    # Kettle is in the training vocabulary at position 0; drum is label noise in video a; gong is
    # not in the training vocabulary: background.
    assert video["targets"]["labels"].tolist() == [0]
    expected = torch.from_numpy(np.stack([_label_map(t) == KETTLE for t in range(NUM_FRAMES)]))
    assert torch.equal(video["targets"]["masks"][0], expected)


def test_mapper_and_evaluator_work_in_the_dataset_labels(cfg, tmp_path):
    cfg.TEST.EXPORT_PREDICTIONS = True
    records = get_dataset_records("kitchen_test", cfg)
    mapper = WindowMapper(cfg, "kitchen_test", is_train=False)
    evaluator = build_evaluator(cfg, "kitchen_test", str(tmp_path))
    evaluator.reset()
    # The test vocabulary lists gong, kettle, drum: the model's label k is vocabulary[k - 1].
    to_vocabulary = torch.tensor([0, 2, 3, 1])
    for record in records:
        video = mapper(record, range(NUM_FRAMES))
        ground_truth = video["sem_seg_gt"]
        annotated = [t for t in range(NUM_FRAMES) if record["mask_paths"][t] is not None]
        assert video["vocabulary"] == ["gong", "kettle", "drum"]
        assert video["frame_valid"].tolist() == [t in annotated for t in range(NUM_FRAMES)]
        for t in range(NUM_FRAMES):
            expected = _label_map(t) if t in annotated else np.full((HEIGHT, WIDTH), KITCHEN_LABELS.ignore_label)
            assert np.array_equal(ground_truth[t].numpy(), expected)  # the dataset's own labels
        # A prediction right everywhere except the label noise (not sounding: predicted background).
        sounding = [NAMES.index(n) for n in record["category_names"]]
        predicted = torch.where(torch.isin(ground_truth, torch.tensor([BACKGROUND, *sounding])), ground_truth, 0)
        predicted[ground_truth == KITCHEN_LABELS.ignore_label] = 0
        evaluator.process([video], [{"sem_seg": to_vocabulary[predicted]}])
        for t in range(NUM_FRAMES):
            path = tmp_path / "predictions" / record["uid"] / f"{t}.png"
            # Exported in the dataset's labels and colours.
            assert np.array_equal(np.asarray(Image.open(path)), predicted[t].numpy())
            assert np.array_equal(read_palette_mask(str(path), 4, KITCHEN_PALETTE), predicted[t].numpy())
    metrics = evaluator.evaluate()["sem_seg"]
    assert metrics["protocol"] == "ov_avss"
    assert metrics["mIoU"] == pytest.approx(1.0) and metrics["F_score"] == pytest.approx(1.0)
    assert metrics["mIoU_base"] == pytest.approx(1.0) and metrics["mIoU_novel"] == pytest.approx(1.0)
    with open(tmp_path / "avss_metrics.json") as f:
        assert set(json.load(f)["per_class"]) == set(NAMES)


def test_a_prediction_of_the_label_noise_is_a_false_positive(cfg):
    """The ov_avss protocol turns ground-truth label noise (drum in video a) into background, so a
    prediction that names it is wrong there."""
    record = get_dataset_records("kitchen_test", cfg)[0]
    video = WindowMapper(cfg, "kitchen_test", is_train=False)(record, range(NUM_FRAMES))
    evaluator = build_evaluator(cfg, "kitchen_test", "")
    evaluator.reset()
    evaluator.process([video], [{"sem_seg": torch.tensor([0, 2, 3, 1])[video["sem_seg_gt"]]}])
    per_class = evaluator.report()["per_class"]
    assert per_class["drum"]["iou"] == 0.0
    assert per_class["kettle"]["iou"] == pytest.approx(1.0) and per_class["gong"]["iou"] == pytest.approx(1.0)
    drum_pixels = sum(int((_label_map(t) == DRUM).sum()) for t in range(NUM_FRAMES))
    background_pixels = sum(int((_label_map(t) == BACKGROUND).sum()) for t in range(NUM_FRAMES))
    # Evaluated at 224x224: 56x32 -> 224x224 scales every area by the same factor.
    assert per_class["background"]["iou"] == pytest.approx(background_pixels / (background_pixels + drum_pixels))
