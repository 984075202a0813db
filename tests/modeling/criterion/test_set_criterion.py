"""Matcher and criteria: correct matching of perfect predictions, frame validity, losses; the
set-criterion core's two mask-loss units and class-aware matching."""
from __future__ import annotations

import pytest
import torch

from ov_avss.modeling.criterion import SetCriterion, VideoHungarianMatcher, VideoSetCriterion
from ov_avss.modeling.criterion.point_sampling import point_sample, uncertain_point_coords_with_randomness

QUERIES, FRAMES, SIZE = 5, 3, 16


def _square_masks(num_objects: int) -> torch.Tensor:
    masks = torch.zeros(num_objects, FRAMES, SIZE, SIZE, dtype=torch.bool)
    for obj in range(num_objects):
        for t in range(FRAMES):
            masks[obj, t, 2 + 4 * obj: 6 + 4 * obj, 1 + t + 3 * obj: 7 + t + 3 * obj] = True
    return masks


def _perfect_outputs(target_masks: torch.Tensor, query_for_target: list[int]) -> dict:
    """Queries listed in ``query_for_target`` predict the targets exactly; others predict nothing."""
    pred_masks = torch.full((1, QUERIES, FRAMES, SIZE, SIZE), -20.0)
    pred_logits = torch.tensor([[-5.0, 5.0]]).repeat(1, QUERIES, 1)
    for target_index, query in enumerate(query_for_target):
        pred_masks[0, query] = torch.where(target_masks[target_index], 20.0, -20.0)
        pred_logits[0, query] = torch.tensor([5.0, -5.0])
    return {"pred_logits": pred_logits, "pred_masks": pred_masks, "aux_outputs": []}


def _criterion(num_points: int = 128, importance_sample_ratio: float = 0.75) -> VideoSetCriterion:
    matcher = VideoHungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=num_points)
    weights = {"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 5.0}
    return VideoSetCriterion(matcher, weights, 0.1, num_points, 3.0, importance_sample_ratio)


def test_perfect_prediction_is_matched_to_its_target():
    torch.manual_seed(0)
    targets_masks = _square_masks(2)
    outputs = _perfect_outputs(targets_masks, query_for_target=[3, 1])
    target = {"masks": targets_masks, "frame_valid": torch.ones(FRAMES, dtype=torch.bool)}
    matcher = VideoHungarianMatcher(2.0, 5.0, 5.0, num_points=256)
    ((query_idx, target_idx),) = matcher(outputs, [target])
    assert dict(zip(target_idx.tolist(), query_idx.tolist())) == {0: 3, 1: 1}


def test_perfect_prediction_has_near_zero_mask_losses():
    torch.manual_seed(0)
    targets_masks = _square_masks(2)
    outputs = _perfect_outputs(targets_masks, query_for_target=[0, 4])
    target = {"masks": targets_masks, "frame_valid": torch.ones(FRAMES, dtype=torch.bool)}
    # Uniform points: bilinear reads blur only a thin band at the mask edges, the only place a
    # perfect prediction loses. (Importance sampling would put most points on that band.)
    criterion = _criterion(num_points=512, importance_sample_ratio=0.0)
    losses, _ = criterion(outputs, [target])
    assert losses["loss_ce"] < 1e-3
    wrong = _perfect_outputs(targets_masks, query_for_target=[0, 4])
    wrong["pred_masks"] = -wrong["pred_masks"]
    wrong_losses, _ = criterion(wrong, [target])
    assert wrong_losses["loss_mask"] > 20 * losses["loss_mask"]
    assert wrong_losses["loss_dice"] > 5 * losses["loss_dice"]


def test_invalid_frames_are_ignored_by_matching_and_losses():
    torch.manual_seed(0)
    targets_masks = _square_masks(1)
    outputs = _perfect_outputs(targets_masks, query_for_target=[2])
    # Corrupt query 2's prediction on frames 1 and 2, and make query 4 perfect on frame 0 only.
    outputs["pred_masks"][0, 2, 1:] = 20.0
    outputs["pred_masks"][0, 4, 0] = outputs["pred_masks"][0, 2, 0]
    outputs["pred_masks"][0, 4, 1:] = -20.0
    valid_first = torch.tensor([True, False, False])
    target = {"masks": targets_masks, "frame_valid": valid_first}
    criterion = _criterion(num_points=512, importance_sample_ratio=0.0)
    losses, indices = criterion(outputs, [target])
    # Only frame 0 counts: query 2 is perfect there and wins on objectness.
    assert indices[0][0].tolist() == [2]

    all_valid = {"masks": targets_masks, "frame_valid": torch.ones(FRAMES, dtype=torch.bool)}
    all_valid_losses, _ = criterion(outputs, [all_valid])
    assert all_valid_losses["loss_mask"] > 10 * losses["loss_mask"]


def test_window_without_objects_and_deep_supervision_names():
    torch.manual_seed(0)
    outputs = _perfect_outputs(_square_masks(1), query_for_target=[0])
    outputs["pred_masks"].requires_grad_(True)
    outputs["aux_outputs"] = [{"pred_logits": outputs["pred_logits"], "pred_masks": outputs["pred_masks"]}]
    empty = {"masks": torch.zeros(0, FRAMES, SIZE, SIZE, dtype=torch.bool), "frame_valid": torch.ones(FRAMES, dtype=torch.bool)}
    losses, indices = _criterion()(outputs, [empty])
    assert set(losses) == {"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_mask_0", "loss_dice_0"}
    assert indices[0][0].numel() == 0
    assert losses["loss_mask"].item() == 0.0
    sum(losses.values()).backward()  # graph stays connected
    assert outputs["pred_masks"].grad is not None


def test_no_object_weight_scales_unmatched_queries():
    outputs = _perfect_outputs(_square_masks(1), query_for_target=[0])
    outputs["pred_logits"][0, 1:] = 0.0  # unmatched queries undecided
    low = VideoSetCriterion(VideoHungarianMatcher(2, 5, 5, 64), {"loss_ce": 1, "loss_mask": 1, "loss_dice": 1}, 0.1, 64, 3, 0.75)
    high = VideoSetCriterion(VideoHungarianMatcher(2, 5, 5, 64), {"loss_ce": 1, "loss_mask": 1, "loss_dice": 1}, 1.0, 64, 3, 0.75)
    torch.manual_seed(0)
    low_ce = low.loss_labels(outputs, [(torch.tensor([0]), torch.tensor([0]))])
    high_ce = high.loss_labels(outputs, [(torch.tensor([0]), torch.tensor([0]))])
    # Weighted mean: unmatched share of the CE grows with their weight.
    assert high_ce > low_ce


def test_point_sampling_reads_the_right_pixels_and_prefers_uncertain_points():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 1, 2] = 7.0  # row 1, column 2
    centre = torch.tensor([[[2.5 / 4, 1.5 / 4]]])  # (x, y) of that pixel's centre
    assert point_sample(image, centre).item() == 7.0
    logits = torch.full((2, 1, 32, 32), 10.0)
    logits[:, :, :, :16] = 0.0  # left half uncertain
    coords = uncertain_point_coords_with_randomness(logits, num_points=40, oversample_ratio=3, importance_sample_ratio=0.75)
    assert coords.shape == (2, 40, 2)
    assert (coords[:, :30, 0] < 0.5).all()


def test_non_finite_predictions_are_named_before_matching():
    targets_masks = _square_masks(2)
    outputs = _perfect_outputs(targets_masks, query_for_target=[0, 1])
    aux = _perfect_outputs(targets_masks, query_for_target=[0, 1])
    aux["pred_masks"][0, 2, 1, 3, 3] = float("nan")
    aux["pred_masks"][0, 2, 1, 4, 4] = float("inf")
    outputs["aux_outputs"] = [_perfect_outputs(targets_masks, query_for_target=[0, 1]), aux]
    target = {"masks": targets_masks, "frame_valid": torch.ones(FRAMES, dtype=torch.bool)}
    with pytest.raises(FloatingPointError, match=r"before Hungarian matching: aux_outputs\[1\]\.pred_masks has 1 NaN and 1 inf"):
        _criterion()(outputs, [target])


def _core(unit: str, class_agnostic: bool, num_classes: int = 3) -> SetCriterion:
    matcher = VideoHungarianMatcher(2.0, 5.0, 5.0, num_points=64, class_agnostic=class_agnostic)
    return SetCriterion(
        matcher, num_classes=num_classes, prefix="loss_", weights={"ce": 2.0, "mask": 5.0, "dice": 5.0},
        no_object_weight=0.1, num_points=64, oversample_ratio=3.0, importance_sample_ratio=0.75, mask_loss_unit=unit,
    )


def test_frame_and_track_units_agree_on_one_frame_and_differ_on_several():
    """A one-frame track is one frame: both units score it alike. Over several frames "track"
    averages BCE over all of a track's points and takes one dice, "frame" sums per-frame terms."""
    generator = torch.Generator().manual_seed(0)
    outputs = {"pred_logits": torch.randn(2, QUERIES, 4, generator=generator),
               "pred_masks": torch.randn(2, QUERIES, FRAMES, SIZE, SIZE, generator=generator) * 3}
    targets = [{"labels": torch.tensor([0, 2]), "masks": _square_masks(2)},
               {"labels": torch.tensor([1]), "masks": _square_masks(1)}]
    one_frame = {"pred_logits": outputs["pred_logits"], "pred_masks": outputs["pred_masks"][:, :, :1]}
    one_frame_targets = [{**t, "masks": t["masks"][:, :1]} for t in targets]
    torch.manual_seed(0)
    per_frame, _ = _core("frame", class_agnostic=False).losses_and_indices(one_frame, one_frame_targets)
    torch.manual_seed(0)
    per_track, _ = _core("track", class_agnostic=False).losses_and_indices(one_frame, one_frame_targets)
    for name in per_frame:
        torch.testing.assert_close(per_frame[name], per_track[name], rtol=1e-6, atol=0)
    torch.manual_seed(0)
    per_frame, _ = _core("frame", class_agnostic=False).losses_and_indices(outputs, targets)
    torch.manual_seed(0)
    per_track, _ = _core("track", class_agnostic=False).losses_and_indices(outputs, targets)
    assert per_frame["loss_ce"] == per_track["loss_ce"]  # same draws, same matching
    assert per_frame["loss_mask"] > 2 * per_track["loss_mask"]  # FRAMES terms per track, not their mean
    with pytest.raises(ValueError, match="per-track mask losses score every frame"):
        _core("track", class_agnostic=False).losses_and_indices(outputs, [{**t, "frame_valid": torch.ones(FRAMES, dtype=torch.bool)} for t in targets])


def test_class_aware_matching_follows_the_labels_class_agnostic_ignores_them():
    """Two identical perfect masks of different classes: the class-aware matcher pairs each
    target with the query confident in its class; the class-agnostic one cannot tell them apart
    by class (both queries are equally "objects")."""
    masks = _square_masks(1).repeat(2, 1, 1, 1)
    pred_masks = torch.where(masks, 20.0, -20.0)[None]  # queries 0 and 1 predict the same mask
    pred_logits = torch.tensor([[[-5.0, 5.0, -5.0, -5.0], [5.0, -5.0, -5.0, -5.0]]])  # q0: class 1, q1: class 0
    outputs = {"pred_logits": pred_logits, "pred_masks": pred_masks}
    target = {"labels": torch.tensor([0, 1]), "masks": masks}
    torch.manual_seed(0)
    ((queries, targets),) = VideoHungarianMatcher(2.0, 5.0, 5.0, 64, class_agnostic=False)(outputs, [target])
    assert dict(zip(targets.tolist(), queries.tolist())) == {0: 1, 1: 0}
    core = _core("track", class_agnostic=False)
    ce_right = core.loss_labels(outputs, [(torch.tensor([1, 0]), torch.tensor([0, 1]))], [target])
    ce_wrong = core.loss_labels(outputs, [(torch.tensor([0, 1]), torch.tensor([0, 1]))], [target])
    assert ce_right < 1e-3 < ce_wrong
