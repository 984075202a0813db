"""The allow-list unpickler: detectron2 weight pickles load, code-running pickles do not."""
from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

from ov_avss.checkpoint import UnsafePickleError, load_safe_pickle


class _RunsShell:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"model": {"w": np.zeros(2)}, "payload": _RunsShell(str(marker))}))
    with pytest.raises(UnsafePickleError) as info:
        load_safe_pickle(path)
    message = str(info.value)
    assert str(path) in message
    assert f"{os.system.__module__}.system" in message  # "posix.system" on Linux
    assert not marker.exists()


@pytest.mark.parametrize("refused", [eval, collections.Counter])
def test_refuses_other_globals(tmp_path, refused):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"obj": refused}))
    with pytest.raises(UnsafePickleError, match=refused.__name__):
        load_safe_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_loads_detectron2_style_pickle(tmp_path, protocol):
    weights = collections.OrderedDict(
        [
            ("backbone.res2.0.conv1.weight", np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
            ("sem_seg_head.predictor.bias", np.array([1.5, -2.0], dtype=np.float64)),
            ("backbone.res2.0.conv1.norm.num_batches_tracked", np.int64(7)),
        ]
    )
    data = {"model": weights, "__author__": "Mask2Former", "matching_heuristics": True}
    path = tmp_path / "model_final.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_safe_pickle(path)
    assert loaded["__author__"] == "Mask2Former" and loaded["matching_heuristics"] is True
    assert list(loaded["model"]) == list(weights)
    for name, value in weights.items():
        np.testing.assert_array_equal(loaded["model"][name], value)
        assert np.asarray(loaded["model"][name]).dtype == np.asarray(value).dtype


def test_loads_numpy_1x_module_paths(tmp_path):
    # numpy 1.x writes its private module as "numpy.core"; numpy 2.x as "numpy._core".
    payload = pickle.dumps({"model": {"w": np.ones((2, 2), np.float32), "s": np.float32(0.5)}}, protocol=2)
    legacy = payload.replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in legacy
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    loaded = load_safe_pickle(path)
    np.testing.assert_array_equal(loaded["model"]["w"], np.ones((2, 2), np.float32))
    assert loaded["model"]["s"] == np.float32(0.5)
