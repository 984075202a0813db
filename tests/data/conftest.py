"""A small synthetic AVSBench-semantic + AVSBench-object root shared by the data tests."""
from __future__ import annotations

import pytest

from ov_avss.config import get_cfg
from ov_avss.data.synthetic import make_synthetic_avsbench, make_synthetic_avsbench_object


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("datasets")
    make_synthetic_avsbench(str(root), seed=1, num_train_videos=12, num_val_videos=3, num_test_videos=8, size=(64, 80))
    make_synthetic_avsbench_object(str(root), seed=1, videos_per_split=2, size=(64, 80))
    return str(root)


@pytest.fixture
def data_cfg(synthetic_root):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = synthetic_root
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TRAIN = (48, 64)
    cfg.INPUT.MAX_SIZE_TRAIN = 200
    cfg.INPUT.MIN_SIZE_TEST = 96
    cfg.SEED = 7
    return cfg
