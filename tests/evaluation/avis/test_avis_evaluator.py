"""The ``avis`` evaluator scores the model's segments in memory: its metrics are those of
``evaluate_avis`` on the ``results.json`` it writes (the same scorer, without the file round
trip), and equal the published definitions' on the same tracks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_avis_metrics import CATS, SCENARIOS

from ov_avss.config import get_cfg
from ov_avss.evaluation import AVISEvaluator
from ov_avss.evaluation.avis import evaluate_avis


def _as_outputs(scenes, gt_path):
    """Per scene, the AVIS test mapper's input keys the evaluator reads and a model output whose
    segments are the scene's predicted tracks (an empty mask where a track is absent: a model
    always returns every frame's mask)."""
    for vid, scene in enumerate(scenes, start=1):
        video = {"video_id": vid, "annotations_file": gt_path, "frame_indices": list(range(scene.length))}
        masks = [
            [np.zeros((scene.height, scene.width), bool) if m is None else m for m in track]
            for _, _, track in scene.pred
        ]
        segments = {
            "scores": torch.tensor([score for _, score, _ in scene.pred], dtype=torch.float32),
            "labels": torch.tensor([cat - 1 for cat, _, _ in scene.pred], dtype=torch.int64),
            "masks": torch.from_numpy(np.array(masks, dtype=bool).reshape(len(masks), scene.length, scene.height, scene.width)),
        }
        yield video, {"segments": segments}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_in_memory_metrics_equal_those_of_the_written_results(name, scene_files, tmp_path):
    scenes = SCENARIOS[name]()
    for scene in scenes:  # as a model returns them: a mask in every frame
        scene.pred = [(c, s, [np.zeros((scene.height, scene.width), bool) if m is None else m for m in t]) for c, s, t in scene.pred]
    gt_path, pred_path = scene_files(scenes, CATS)
    evaluator = AVISEvaluator("aviseg_test", get_cfg(), str(tmp_path / "eval"))
    evaluator.reset()
    for video, output in _as_outputs(scenes, gt_path):
        evaluator.process([video], [output])
    metrics = evaluator.evaluate()
    # Identical: the same scorer on the same tracks, once in memory and once from the file.
    assert metrics == evaluate_avis(gt_path, str(tmp_path / "eval" / "results.json"))
    assert json.loads((tmp_path / "eval" / "avis_metrics.json").read_text()) == metrics
    # The fabricated results.json of the same tracks (scores as float64) scores the same.
    expected = evaluate_avis(gt_path, pred_path)
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == (None if value is None else pytest.approx(value, abs=1e-9)), key


def test_input_without_annotation_file_is_refused(tmp_path):
    evaluator = AVISEvaluator("aviseg_test", get_cfg(), str(tmp_path))
    segments = {"scores": torch.ones(1), "labels": torch.zeros(1, dtype=torch.int64), "masks": torch.zeros(1, 2, 4, 4, dtype=torch.bool)}
    with pytest.raises(KeyError, match="annotations_file"):
        evaluator.process([{"video_id": 1, "frame_indices": [0, 1]}], [{"segments": segments}])
    with pytest.raises(ValueError, match="3 input frames"):
        evaluator.process([{"video_id": 1, "annotations_file": "x.json", "frame_indices": [0, 1, 2]}], [{"segments": segments}])
