"""A negative SEED is resolved once per job (engine.default_setup) and the training sampler
uses the seed that was logged and saved."""
from __future__ import annotations

import argparse
import itertools
import re

import pytest
import yaml

from ov_avss.data.build import build_train_loader
from ov_avss.engine import default_setup


def _uids(cfg, batches: int = 3):
    return [[(window["uid"], tuple(window["frame_indices"])) for window in batch] for batch in itertools.islice(build_train_loader(cfg), batches)]


def test_the_logged_seed_is_the_samplers(data_cfg, tmp_path):
    data_cfg.SEED = -1
    data_cfg.OUTPUT_DIR = str(tmp_path)
    data_cfg.freeze()
    default_setup(data_cfg, argparse.Namespace())

    logged = int(re.search(r"this run uses SEED (\d+)", (tmp_path / "log.txt").read_text()).group(1))
    assert data_cfg.SEED == logged and data_cfg.is_frozen()
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["SEED"] == logged

    explicit = data_cfg.clone()
    explicit.defrost()
    explicit.SEED = logged
    assert _uids(data_cfg) == _uids(explicit)  # the loader draws no seed of its own


def test_an_unresolved_negative_seed_is_an_error(data_cfg):
    data_cfg.SEED = -1
    with pytest.raises(ValueError, match="SEED is -1.*default_setup"):
        build_train_loader(data_cfg)
