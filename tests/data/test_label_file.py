"""label2idx.json: the released numbering (from 1) and the 0-based one are both accepted and load
to the same records and label maps; anything else is refused naming its first disagreeing entry."""
from __future__ import annotations

import json
import logging
import os
import shutil

import pytest

from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.categories import CATEGORIES
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.datasets import avsbench_semantic
from ov_avss.data.datasets.avsbench_semantic import check_label2idx

NAMES = ["background", *CATEGORIES]


def _write(path, entries) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(entries), f)
    return str(path)


def _numbered(first: int) -> list[tuple[str, int]]:
    return [(name, first + position) for position, name in enumerate(NAMES)]


@pytest.mark.parametrize("first", [0, 1])
def test_both_numberings_are_accepted_and_logged_once(tmp_path, caplog, monkeypatch, first):
    monkeypatch.setattr(avsbench_semantic, "_logged_numberings", set())
    path = _write(tmp_path / "label2idx.json", _numbered(first))
    with caplog.at_level(logging.INFO, logger=avsbench_semantic.__name__):
        assert check_label2idx(path) == first
        assert check_label2idx(path) == first
    logged = [r.getMessage() for r in caplog.records if "numbers from" in r.getMessage()]
    assert len(logged) == 1 and f"numbers from {first}" in logged[0]
    assert ("as released" in logged[0]) == (first == 1)


@pytest.mark.parametrize(
    "entries, first_problem",
    [
        (_numbered(2), r"background: 2 \(expected background first, numbered 0 or 1\)"),
        # baby and bassoon swapped (indices in file order): the names disagree at position 4.
        ([*_numbered(1)[:4], ("bassoon", 5), ("baby", 6), *_numbered(1)[6:]], r"position 4: bassoon \(expected baby\)"),
        ([*_numbered(0)[:10], ("bus", 11), *_numbered(0)[11:]], r"bus: 11 \(expected 10\)"),
        (_numbered(1)[:-1], r"position 70: absent \(expected woman\)"),
        ([*_numbered(0), ("unicorn", 71)], r"unknown \['unicorn'\]\); first disagreeing entry: position 71: unicorn \(expected no more entries\)"),
    ],
)
def test_other_files_are_refused_naming_the_first_disagreement(tmp_path, entries, first_problem):
    path = _write(tmp_path / "label2idx.json", entries)
    with pytest.raises(ValueError, match=first_problem) as error:
        check_label2idx(path)
    assert path in str(error.value)


def test_released_numbering_loads_and_maps_masks_as_the_0_based_file(data_cfg, tmp_path):
    """The dataset with the released file is accepted and gives the same records and label maps as
    with the 0-based one: labels come from the palette position, never from the file's numbers
    (the maps hold categories, so an all-background equality cannot pass for this)."""
    root = tmp_path / "released"
    shutil.copytree(os.path.join(data_cfg.DATASETS.ROOT, "AVSBench-semantic"), root / "AVSBench-semantic")
    _write(root / "AVSBench-semantic" / "label2idx.json", _numbered(1))
    original = get_dataset_records("avsbench_semantic_test", data_cfg)
    released_cfg = data_cfg.clone()
    released_cfg.DATASETS.ROOT = str(root)
    released = get_dataset_records("avsbench_semantic_test", released_cfg)
    assert [r["uid"] for r in released] == [r["uid"] for r in original]
    mapper = WindowMapper(data_cfg, "avsbench_semantic_test", is_train=False)
    record_0, record_1 = original[0], released[0]
    window_0 = mapper(record_0, list(range(record_0["num_frames"])))
    window_1 = mapper(record_1, list(range(record_1["num_frames"])))
    assert window_0["sem_seg_gt"].equal(window_1["sem_seg_gt"]) and int(window_0["sem_seg_gt"].max()) > 0


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "label2idx.json"
    path.write_bytes('{"background": 1, "caf\u00e9": 2}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"Label file .*label2idx.json is not UTF-8 text: byte 0xe9 at offset 22"):
        check_label2idx(str(path))
