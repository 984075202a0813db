"""Compatibility keys: accepted because the original releases' YAMLs set them; any other value
than the default logs one warning naming the key and saying it has no effect."""
from __future__ import annotations

import contextlib
import glob
import logging
import os
import re

import pytest

from ov_avss.config import cfg_keys, get_cfg
from ov_avss.config.defaults import COMPATIBILITY_DEFAULTS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The original OV-AVSS release's Base-AVSBench.yaml sets these (pseudo-video pretraining).
RELEASE_PSEUDO_BLOCK = """
INPUT:
  PSEUDO:
    AUGMENTATIONS: ['rotation']
    MIN_SIZE_TRAIN: (240, 360, 480)
    MIN_SIZE_TRAIN_SAMPLING: "choice_by_clip"
    CROP:
      ENABLED: False
      TYPE: "absolute_range"
      SIZE: (600, 720)
"""


@contextlib.contextmanager
def _warnings():
    """Warnings of the config module (attached directly: the "ov_avss" logger may not propagate)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    config_logger = logging.getLogger("ov_avss.config.config")
    config_logger.addHandler(handler)
    try:
        yield records
    finally:
        config_logger.removeHandler(handler)


@pytest.mark.parametrize(
    "relative_path", sorted(os.path.relpath(p, REPO_ROOT) for p in glob.glob(f"{REPO_ROOT}/configs/**/*.yaml", recursive=True))
)
def test_the_repository_configs_load_without_warnings(relative_path):
    with _warnings() as records:
        get_cfg().merge_from_file(os.path.join(REPO_ROOT, relative_path))
    assert [record.getMessage() for record in records] == []


def test_the_release_values_are_the_defaults(tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text(RELEASE_PSEUDO_BLOCK)
    with _warnings() as records:
        get_cfg().merge_from_file(str(path))
    assert records == []


def test_another_value_warns_once_naming_the_key(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("MODEL:\n  MASK_FORMER:\n    TEST:\n      OBJECT_MASK_THRESHOLD: 0.5\n      TOP_K: 5\n")
    with _warnings() as records:
        cfg = get_cfg()
        cfg.merge_from_file(str(path))
        get_cfg().merge_from_file(str(path))  # the same message is logged once
    assert cfg.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD == 0.5  # accepted, not rejected
    messages = [record.getMessage() for record in records]
    assert len(messages) == 1
    assert str(path) in messages[0] and "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD" in messages[0]
    assert "no effect" in messages[0]


def test_an_override_warns_too():
    with _warnings() as records:
        get_cfg().merge_from_list(["DATASETS.DATASET_RATIO", "[0.3, 0.7]", "SOLVER.MAX_ITER", "7"])
    messages = [record.getMessage() for record in records]
    assert len(messages) == 1 and "DATASETS.DATASET_RATIO" in messages[0] and "no effect" in messages[0]


def test_every_other_leaf_key_is_named_by_the_code():
    """A key outside COMPATIBILITY_DEFAULTS whose name no source file outside the defaults
    mentions is read by nothing (it would be dead config)."""
    sources = ""
    for pattern in ("ov_avss/**/*.py", "tools/*.py", "train_net.py"):
        for path in glob.glob(os.path.join(REPO_ROOT, pattern), recursive=True):
            if not path.endswith(os.path.join("config", "defaults.py")):
                with open(path, encoding="utf-8") as f:
                    sources += f.read()
    cfg = get_cfg()
    leaves = [key for key in cfg_keys(cfg) if not isinstance(_lookup(cfg, key), dict)]
    unread = [
        key for key in leaves
        if key not in COMPATIBILITY_DEFAULTS and not re.search(rf"[.\"']{key.split('.')[-1]}\b", sources)
    ]
    assert unread == []


def _lookup(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node
