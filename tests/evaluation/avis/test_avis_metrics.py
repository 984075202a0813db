"""FSLA, HOTA and mAP of ``evaluate_avis`` against independent computations of the definitions."""
from __future__ import annotations

import numpy as np
import pytest
from avis_reference import Scene, box, reference_fsla, reference_hota, reference_map
from pycocotools import mask as mask_utils

from ov_avss.evaluation.avis import evaluate_avis

CATS = {1: "person", 2: "violin", 3: "guitar"}


def _moving(h, w, t_len, y, x, size, dx, frames=None):
    """A box moving right by ``dx`` px per frame, present in ``frames`` (default: all)."""
    frames = range(t_len) if frames is None else frames
    return [box(h, w, y, x + dx * t, y + size, x + dx * t + size) if t in frames else None for t in range(t_len)]


def _as_prediction(masks, h, w, null_when_absent=False):
    """A results.json-style track: an empty mask (or null) where the source is absent."""
    return [(None if null_when_absent else np.zeros((h, w), bool)) if m is None else m for m in masks]


def _shift(masks, dy, dx):
    return [None if m is None else np.roll(np.roll(m, dy, 0), dx, 1) for m in masks]


def identity_scenes():
    a = Scene(48, 64, 6)
    g1 = _moving(48, 64, 6, 4, 2, 12, 3)
    g2 = _moving(48, 64, 6, 28, 30, 14, -2, frames=range(2, 5))  # appears, then disappears
    a.gt = [(1, g1), (2, g2)]
    a.pred = [(1, 0.9, g1), (2, 0.8, _as_prediction(g2, 48, 64, null_when_absent=True))]
    b = Scene(30, 40, 5)  # silent frames 0 and 4
    g3 = _moving(30, 40, 5, 5, 5, 10, 4, frames=range(1, 4))
    b.gt = [(3, g3)]
    b.pred = [(3, 0.7, _as_prediction(g3, 30, 40, null_when_absent=True))]
    return [a, b]


def swapped_scenes():
    s = Scene(40, 60, 6)
    left = _moving(40, 60, 6, 5, 2, 12, 0)
    right = _moving(40, 60, 6, 20, 40, 12, 0)
    s.gt = [(1, left), (1, right)]
    p1 = left[:3] + right[3:]
    p2 = right[:3] + left[3:]
    s.pred = [(1, 0.9, p1), (1, 0.6, p2)]
    return [s]


def missed_and_extra_scenes():
    a = Scene(48, 64, 5)
    g1 = _moving(48, 64, 5, 2, 2, 10, 2)
    g2 = _moving(48, 64, 5, 30, 2, 10, 2)
    g3 = _moving(48, 64, 5, 20, 40, 12, 0, frames=range(1, 4))
    a.gt = [(1, g1), (2, g2), (1, g3)]
    a.pred = [(1, 0.95, _shift(g1, 1, 0)), (2, 0.5, g2)]  # g3 missed
    b = Scene(36, 36, 4)
    g4 = _moving(36, 36, 4, 3, 3, 10, 3)
    b.gt = [(2, g4)]
    b.pred = [
        (2, 0.9, g4),
        (2, 0.4, _shift(g4, 2, 1)),                                     # duplicate of the same source
        (3, 0.3, _moving(36, 36, 4, 24, 24, 8, 0)),                      # extra track, other class
    ]
    return [a, b]


def noisy_scenes():
    """Imperfect masks at several resolutions, present empty predictions, silent frames."""
    a = Scene(64, 48, 6)
    g1 = _moving(64, 48, 6, 4, 4, 16, 2, frames=range(0, 5))
    g2 = _moving(64, 48, 6, 40, 20, 14, 0, frames=range(2, 6))
    a.gt = [(1, g1), (1, g2)]
    a.pred = [
        (1, 0.8, _as_prediction(_shift(g1, 3, 2), 64, 48)),
        (1, 0.7, _as_prediction(_shift(g2, -5, 4), 64, 48)),
    ]
    b = Scene(30, 50, 7)
    g3 = _moving(30, 50, 7, 6, 4, 12, 4, frames=range(1, 6))
    b.gt = [(2, g3)]
    b.pred = [(2, 0.6, _as_prediction(_shift(g3, 0, 6), 30, 50)), (1, 0.2, _as_prediction([None] * 7, 30, 50))]
    return [a, b]


SCENARIOS = {
    "identity": identity_scenes,
    "swapped_ids": swapped_scenes,
    "missed_and_extra": missed_and_extra_scenes,
    "noisy": noisy_scenes,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_metrics_equal_independent_definitions(name, scene_files):
    scenes = SCENARIOS[name]()
    gt_path, pred_path = scene_files(scenes, CATS)
    metrics = evaluate_avis(gt_path, pred_path)
    expected_fsla = reference_fsla(scenes)
    for key, value in expected_fsla.items():
        if value is None:
            assert metrics[key] is None
        else:
            assert metrics[key] / 100 == pytest.approx(value, abs=1e-4), key
    assert metrics["HOTA"] / 100 == pytest.approx(reference_hota(scenes, list(CATS)), abs=1e-4)
    assert metrics["mAP"] / 100 == pytest.approx(reference_map(scenes, list(CATS)), abs=1e-4)


def test_identity_scores_100_except_classes_without_tracks(scene_files):
    scenes = identity_scenes()
    metrics = evaluate_avis(*scene_files(scenes, CATS))
    assert metrics["FSLA"] == pytest.approx(100.0)
    assert metrics["mAP"] == pytest.approx(100.0)
    assert metrics["HOTA"] == pytest.approx(100.0)
    # HOTA averages over every category of the annotation file, as the reference: one more
    # category without tracks scores 0 and pulls the mean to 3/4.
    metrics = evaluate_avis(*scene_files(scenes, {**CATS, 4: "cello"}))
    assert metrics["HOTA"] == pytest.approx(75.0)
    assert metrics["mAP"] == pytest.approx(100.0)


def test_swapped_ids_fail_frames_after_the_switch(scene_files):
    metrics = evaluate_avis(*scene_files(swapped_scenes(), CATS))
    # One track match per video: the 3 frames after the identity switch pair wrong masks.
    assert metrics["FSLA"] == pytest.approx(50.0)
    assert metrics["HOTA"] < 80.0
    assert metrics["mAP"] < 50.0


def test_present_empty_prediction_enters_the_class_set(scene_files):
    """A predicted track with an empty (not null) mask counts in the frame's class set."""
    g = _moving(32, 32, 3, 4, 4, 10, 2)
    base = Scene(32, 32, 3, gt=[(1, g)], pred=[(1, 0.9, g)])
    assert evaluate_avis(*scene_files([base], CATS))["FSLA"] == pytest.approx(100.0)
    with_empty = Scene(32, 32, 3, gt=[(1, g)], pred=[(1, 0.9, g), (2, 0.5, [np.zeros((32, 32), bool)] * 3)])
    assert evaluate_avis(*scene_files([with_empty], CATS))["FSLA"] == pytest.approx(0.0)
    with_null = Scene(32, 32, 3, gt=[(1, g)], pred=[(1, 0.9, g), (2, 0.5, [None] * 3)])
    assert evaluate_avis(*scene_files([with_null], CATS))["FSLA"] == pytest.approx(100.0)


@pytest.mark.parametrize("size", [(48, 64), (72, 128), (720, 1280)])
def test_empty_predicted_masks_recognised_at_any_resolution(size, scene_files):
    """The reference compares RLE strings with 'PPTl0', the empty mask only at 720x1280."""
    h, w = size
    empty = mask_utils.encode(np.asfortranarray(np.zeros((h, w), np.uint8)))["counts"].decode()
    assert (empty == "PPTl0") == (size == (720, 1280))
    # Two same-class sources; in frame 2 only the first sounds and the second's prediction is
    # empty. The frame is single-source and correct: one non-empty prediction, matching IoU.
    g1 = [box(h, w, 2, 2, 12, 12)] * 3
    g2 = [box(h, w, 20, 20, 30, 30)] * 2 + [None]
    p2 = g2[:2] + [np.zeros((h, w), bool)]
    scene = Scene(h, w, 3, gt=[(1, g1), (1, g2)], pred=[(1, 0.9, g1), (1, 0.8, p2)])
    metrics = evaluate_avis(*scene_files([scene], CATS))
    assert metrics["FAs"] == pytest.approx(100.0)
    assert metrics["FSLA"] == pytest.approx(100.0)
    assert (metrics["frames_s"], metrics["frames_m"]) == (1, 2)


def test_single_source_uses_the_prediction_matched_to_the_ground_truth(scene_files):
    """A 3-cycle matching (g0->p1, g1->p2, g2->p0) separates the two lookup directions."""
    h, w, t_len = 40, 60, 5
    gts = [[box(h, w, 2, 2 + 18 * k, 14, 14 + 18 * k)] * 4 + [None] for k in range(3)]
    gts[0][4] = gts[0][0]  # frame 4: only g0 sounds
    preds = [(1, 0.9, _as_prediction(gts[2], h, w, True)), (1, 0.8, gts[0]), (1, 0.7, _as_prediction(gts[1], h, w, True))]
    scene = Scene(h, w, t_len, gt=[(1, g) for g in gts], pred=preds)
    metrics = evaluate_avis(*scene_files([scene], CATS))
    assert metrics["frames_s"] == 1
    # The prediction matched to g0 is p1, identical to it: the single-source frame is correct.
    # The reference's lookup (positions of match columns equal to the gt index) picks p2.
    assert metrics["FAs"] == pytest.approx(100.0)
    assert metrics["FSLA"] == pytest.approx(100.0)


def test_multi_source_checks_only_the_ground_truth_present_in_the_frame(scene_files):
    """The reference loops over the frame's ground-truth tracks: a track absent in a frame,
    matched to a prediction of another class that is empty there, does not fail that frame."""
    h, w = 40, 60
    g1 = [box(h, w, 2, 2, 14, 14)] * 3
    g2 = [box(h, w, 2, 30, 14, 42)] * 3
    g3 = [box(h, w, 24, 20, 36, 32), None, None]  # class 1 in frame 0 only
    p3 = [box(h, w, 24, 20, 36, 32), np.zeros((h, w), bool), np.zeros((h, w), bool)]
    scene = Scene(h, w, 3, gt=[(1, g1), (2, g2), (1, g3)], pred=[(1, 0.9, g1), (2, 0.8, g2), (2, 0.7, p3)])
    metrics = evaluate_avis(*scene_files([scene], CATS))
    assert metrics["frames_m"] == 3
    # Frame 0: g3's match is of class 2, so the frame fails; frames 1 and 2 pass.
    assert metrics["FAm"] == pytest.approx(200 / 3)
    assert metrics["FSLA"] / 100 == pytest.approx(reference_fsla([scene])["FSLA"], abs=1e-4)


def test_duplicate_of_the_first_prediction_is_a_false_positive(scene_files):
    """TrackEval would let a second prediction take a ground truth matched by track id 0."""
    a = _moving(40, 60, 4, 3, 3, 12, 2)
    b = _moving(40, 60, 4, 24, 40, 12, 0)
    scene = Scene(40, 60, 4, gt=[(1, a), (1, b)], pred=[(1, 0.9, a), (1, 0.8, _shift(a, 1, 0)), (1, 0.7, b)])
    metrics = evaluate_avis(*scene_files([scene], CATS))
    expected = reference_map([scene], list(CATS))
    assert expected < 0.9  # the duplicate ranks between the two true positives
    assert metrics["mAP"] / 100 == pytest.approx(expected, abs=1e-4)


def test_area_range_without_ground_truth_is_undefined_not_minus_100(scene_files):
    from ov_avss.evaluation.testing import format_metrics_table

    metrics = evaluate_avis(*scene_files(identity_scenes(), CATS))  # small tracks only
    assert metrics["AP_s"] == pytest.approx(100.0)
    assert metrics["AP_l"] is None  # TrackEval's -1: no ground-truth track in the range
    table = format_metrics_table("aviseg_val", metrics)
    header, _, row = table.splitlines()[1:4]
    assert "group" not in header and "-100" not in table
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["AP_l"] == "n/a" and cells["AP_s"] == "100.0000"
