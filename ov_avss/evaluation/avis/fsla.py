"""FSLA: frame-level sound localisation accuracy (the AVISM reference's ``av_loc`` metric).

Per video, ground-truth and predicted tracks are matched once with the Hungarian algorithm on
the HOTA-style global alignment score (per-frame mask IoU normalised by row and column sums,
accumulated over the video, divided by the tracks' frame counts). A track is *present* in a frame
when its segmentation there is not null (predictions in ``results.json`` are present in every
frame, possibly with an empty mask). Then, for each alpha in 0.05, 0.10, ..., 0.95 a frame is
correct when

* the set of classes of the present ground-truth tracks equals the set of classes of the present
  predicted tracks (empty masks included, as in the reference), and the number of present
  ground-truth tracks equals the number of present predicted tracks with a non-empty mask; and
* silent frames (no ground truth): nothing more;
* single-source frames: the prediction matched to the ground-truth track has IoU > alpha;
* multi-source frames: every present ground-truth track has its matched prediction present,
  of the same class, with IoU > alpha (tracks absent in the frame are not checked, as in the
  reference; the count condition already makes the predictions matched to them empty).

Frames are pooled over all videos; FA(alpha) = correct / frames, and FSLA is the mean of FA over
the 19 alphas. FAn / FAs / FAm are the same for silent, single- and multi-source frames.

Two deliberate differences from the reference code (tested in tests/evaluation/avis):
the single-source case takes the prediction matched *to* the ground-truth track (the reference
looks the index up among the matched predictions' column indices, i.e. the wrong direction),
and an empty predicted mask is recognised by its area at any resolution (the reference compares
the RLE string with ``'PPTl0'``, which is the empty mask only at 720x1280 / 1280x720).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils
from scipy.optimize import linear_sum_assignment

from ...structures.rle import rle_area

# The reference's grid: np.arange(0.05, 0.99, 0.05), 19 values 0.05..0.95.
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


def _iou(a: dict, b: dict) -> float:
    return float(mask_utils.iou([a], [b], [False])[0, 0])


def match_tracks(gt_segs: list[list[dict | None]], pred_segs: list[list[dict | None]]) -> dict[int, int]:
    """Hungarian match of ground-truth to predicted tracks on the global alignment score.

    Args:
        gt_segs / pred_segs: per track, per frame compressed RLE or None (absent).

    Returns:
        ``{gt_index: pred_index}`` over tracks present in at least one frame.
    """
    gt_ids = [g for g, segs in enumerate(gt_segs) if any(s is not None for s in segs)]
    pred_ids = [p for p, segs in enumerate(pred_segs) if any(s is not None for s in segs)]
    if not gt_ids or not pred_ids:
        return {}
    num_frames = len(gt_segs[0]) if gt_segs else len(pred_segs[0])
    potential = np.zeros((len(gt_ids), len(pred_ids)))
    gt_count = np.zeros((len(gt_ids), 1))
    pred_count = np.zeros((1, len(pred_ids)))
    for t in range(num_frames):
        rows = [i for i, g in enumerate(gt_ids) if gt_segs[g][t] is not None]
        cols = [j for j, p in enumerate(pred_ids) if pred_segs[p][t] is not None]
        gt_count[rows] += 1
        pred_count[0, cols] += 1
        if not rows or not cols:
            continue
        sim = mask_utils.iou(
            [gt_segs[gt_ids[i]][t] for i in rows], [pred_segs[pred_ids[j]][t] for j in cols], [False] * len(cols)
        )
        denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        sim_iou = np.zeros_like(sim)
        valid = denom > _EPS
        sim_iou[valid] = sim[valid] / denom[valid]
        potential[np.ix_(rows, cols)] += sim_iou
    score = potential / (gt_count + pred_count - potential)
    match_rows, match_cols = linear_sum_assignment(-score)
    return {gt_ids[r]: pred_ids[c] for r, c in zip(match_rows, match_cols)}


@dataclass
class FSLACounts:
    """Frame counts per alpha: ``all`` and ``tp`` for silent (n), single (s), multi (m) frames."""

    n_all: int = 0
    s_all: int = 0
    m_all: int = 0
    n_tp: np.ndarray = field(default_factory=lambda: np.zeros(len(ALPHAS), dtype=int))
    s_tp: np.ndarray = field(default_factory=lambda: np.zeros(len(ALPHAS), dtype=int))
    m_tp: np.ndarray = field(default_factory=lambda: np.zeros(len(ALPHAS), dtype=int))

    def add(self, other: "FSLACounts") -> None:
        self.n_all += other.n_all
        self.s_all += other.s_all
        self.m_all += other.m_all
        self.n_tp += other.n_tp
        self.s_tp += other.s_tp
        self.m_tp += other.m_tp


def fsla_video_counts(gt_tracks: list[dict], pred_tracks: list[dict], num_frames: int) -> FSLACounts:
    """FSLA frame counts of one video.

    Args:
        gt_tracks / pred_tracks: dicts with ``category_id`` and ``segmentations`` (``num_frames``
            compressed RLE or None each).
        num_frames: the video's length.
    """
    gt_segs = [t["segmentations"] for t in gt_tracks]
    pred_segs = [t["segmentations"] for t in pred_tracks]
    gt_cls = [t["category_id"] for t in gt_tracks]
    pred_cls = [t["category_id"] for t in pred_tracks]
    pred_empty = [[s is None or rle_area(s) == 0 for s in segs] for segs in pred_segs]
    matches = match_tracks(gt_segs, pred_segs)
    counts = FSLACounts()
    for t in range(num_frames):
        present_gt = [g for g in range(len(gt_segs)) if gt_segs[g][t] is not None]
        present_pred = [p for p in range(len(pred_segs)) if pred_segs[p][t] is not None]
        agree = (
            {gt_cls[g] for g in present_gt} == {pred_cls[p] for p in present_pred}
            and len(present_gt) == sum(not pred_empty[p][t] for p in present_pred)
        )
        if not present_gt:
            counts.n_all += 1
            if agree:
                counts.n_tp += 1
            continue
        if len(present_gt) == 1:
            counts.s_all += 1
            g = present_gt[0]
            p = matches.get(g)
            if agree and p is not None and pred_segs[p][t] is not None:
                counts.s_tp += _iou(gt_segs[g][t], pred_segs[p][t]) > ALPHAS
            continue
        counts.m_all += 1
        if not agree:
            continue
        # As the reference: each present ground-truth track needs its match present, of its
        # class, with IoU > alpha. Tracks absent here are not checked: with the counts equal,
        # the predictions matched to them are empty here anyway.
        ok = np.ones(len(ALPHAS), dtype=bool)
        for g in present_gt:
            p = matches.get(g)
            if p is None or pred_segs[p][t] is None or gt_cls[g] != pred_cls[p]:
                ok[:] = False
                break
            ok &= _iou(gt_segs[g][t], pred_segs[p][t]) > ALPHAS
        counts.m_tp += ok
    return counts


def _ratio(tp: np.ndarray, total: int) -> float | None:
    return float(np.mean(tp / total)) if total > 0 else None


def summarize_fsla(counts: FSLACounts) -> dict[str, float | int | None]:
    """FSLA, FAn, FAs, FAm as fractions (mean over alphas; None where a kind has no frames)."""
    total = counts.n_all + counts.s_all + counts.m_all
    if total == 0:
        raise ValueError("FSLA needs at least one frame")
    return {
        "FSLA": float(np.mean((counts.n_tp + counts.s_tp + counts.m_tp) / total)),
        "FAn": _ratio(counts.n_tp, counts.n_all),
        "FAs": _ratio(counts.s_tp, counts.s_all),
        "FAm": _ratio(counts.m_tp, counts.m_all),
        "frames_n": counts.n_all,
        "frames_s": counts.s_all,
        "frames_m": counts.m_all,
    }
