"""The closed-set S4 / MS3 / AVSS configs: they merge, name registered datasets scored by their
protocol, treat the whole vocabulary as seen, and build (shrunk to the tiny sizes) into a model
that trains and scores one window of its own vocabulary."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_metadata
from ov_avss.evaluation import build_evaluator
from ov_avss.modeling import build_model
from ov_avss.structures import make_video_input

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = CONFIGS / "tiny" / "OV_AVSS_tiny.yaml"
CLOSED_SET = {
    "S4_R50.yaml": ("avsbench_s4_train", "avsbench_s4_test", "avsbench_binary", 5),
    "MS3_R50.yaml": ("avsbench_ms3_train", "avsbench_ms3_test", "avsbench_binary", 5),
    "AVSS_R50.yaml": ("avsbench_semantic_train", "avsbench_semantic_test", "avsbench_avss", 10),
}


def _merged(name: str):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / "avsbench" / "closed_set" / name))
    return cfg


@pytest.mark.parametrize("name", sorted(CLOSED_SET))
def test_config_names_registered_datasets_and_their_protocol(name):
    train, test, protocol, frames = CLOSED_SET[name]
    cfg = _merged(name)
    assert tuple(cfg.DATASETS.TRAIN) == (train,) and tuple(cfg.DATASETS.TEST) == (test,)
    assert get_dataset_metadata(test).protocols[0] == protocol
    assert cfg.INPUT.MIN_SIZE_TRAIN == (224,) and cfg.INPUT.MIN_SIZE_TEST == 224
    assert cfg.INPUT.SAMPLING_FRAME_NUM == frames and cfg.MODEL.MASK_FORMER.MAX_NUM_FRAMES >= frames
    assert cfg.SOLVER.IMS_PER_BATCH == 4 and cfg.SOLVER.MAX_ITER > 0 and tuple(cfg.SOLVER.STEPS) == ()


@pytest.mark.parametrize("name", sorted(CLOSED_SET))
def test_config_builds_trains_and_scores_with_tiny_sizes(name, tmp_path):
    train, test, _, _ = CLOSED_SET[name]
    cfg = _merged(name)
    # The tiny config's model sizes and random initialisation on top of the closed-set config.
    tiny = yaml.safe_load(TINY.read_text())
    tiny.pop("_BASE_")
    tiny["MODEL"]["MASK_FORMER"].pop("MAX_NUM_FRAMES")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({"_BASE_": str(CONFIGS / "avsbench" / "closed_set" / name), **tiny}))
    cfg = get_cfg()
    cfg.merge_from_file(str(tmp_path / "tiny.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg)
    vocabulary = list(get_dataset_metadata(train).vocabulary)
    frames = torch.full((2, 3, 64, 64), 110, dtype=torch.uint8)
    frames[:, 0, 16:40, 16:40] = 230
    masks = torch.zeros(1, 2, 64, 64, dtype=torch.bool)
    masks[:, :, 16:40, 16:40] = True
    fields = dict(
        uid="clip", dataset_name=train, frame_indices=[0, 1], height=64, width=64, frames=frames,
        audio=torch.randn(2, 1, 96, 64), vocabulary=vocabulary, sounding_categories=vocabulary[:1],
    )
    model.train()
    losses = model([make_video_input(**fields, targets={"labels": torch.zeros(1, dtype=torch.int64), "masks": masks})])
    sum(losses.values()).backward()
    model.eval()
    test_window = make_video_input(**fields, sem_seg_gt=masks[0].long())
    with torch.no_grad():
        (output,) = model([test_window])
    evaluator = build_evaluator(cfg, test, str(tmp_path / "eval"))
    evaluator.process([test_window], [output])
    results = evaluator.evaluate()
    metrics = next(iter(results.values()))
    assert metrics["protocol"] == get_dataset_metadata(test).protocols[0]
    assert 0.0 <= metrics["mIoU"] <= 1.0 and 0.0 <= metrics["F_score"] <= 1.0
