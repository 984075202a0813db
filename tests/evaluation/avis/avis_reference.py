"""Fabricated AVIS scenes and independent numpy computations of FSLA, HOTA and track AP.

The reference computations below work on decoded boolean masks with brute-force assignment
(no pycocotools IoU, no scipy, no trackeval), written from the published definitions.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

ALPHAS = np.arange(0.05, 0.99, 0.05)


def box(h: int, w: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


@dataclass
class Scene:
    """One video: gt tracks (class, masks with None = absent) and predicted tracks (class, score, masks)."""

    height: int
    width: int
    length: int
    gt: list = field(default_factory=list)     # [(category_id, [mask | None] * T)]
    pred: list = field(default_factory=list)   # [(category_id, score, [mask | None] * T)]


def _rle(mask):
    if mask is None:
        return None
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(r["size"]), "counts": r["counts"].decode("ascii")}


def write_scenes(tmp_path, scenes: list[Scene], categories: dict[int, str]) -> tuple[str, str]:
    """AVISeg-format gt JSON and results.json for ``scenes``; returns their paths."""
    videos, annotations, results = [], [], []
    ann_id = 1
    for vid, scene in enumerate(scenes, start=1):
        videos.append({
            "id": vid, "height": scene.height, "width": scene.width, "length": scene.length,
            "file_names": [f"video{vid:03d}/{t:05d}.jpg" for t in range(scene.length)],
        })
        for cat, masks in scene.gt:
            annotations.append({"id": ann_id, "video_id": vid, "category_id": cat,
                                "segmentations": [_rle(m) for m in masks]})
            ann_id += 1
        for cat, score, masks in scene.pred:
            results.append({"video_id": vid, "score": score, "category_id": cat,
                            "segmentations": [_rle(m) for m in masks]})
    gt = {"videos": videos, "annotations": annotations,
          "categories": [{"id": k, "name": v} for k, v in categories.items()]}
    gt_path, pred_path = tmp_path / "gt.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(gt))
    pred_path.write_text(json.dumps(results))
    return str(gt_path), str(pred_path)


def iou(a, b) -> float:
    """Mask IoU of two present masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def best_assignment(score: np.ndarray) -> list[tuple[int, int]]:
    """Maximum-sum one-to-one assignment of min(rows, cols) pairs, by enumeration."""
    n, m = score.shape
    if n == 0 or m == 0:
        return []
    best, best_pairs = -1.0, []
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            s = sum(score[r, c] for r, c in enumerate(cols))
            if s > best + 1e-12:
                best, best_pairs = s, list(enumerate(cols))
    else:
        for rows in itertools.permutations(range(n), m):
            s = sum(score[r, c] for c, r in enumerate(rows))
            if s > best + 1e-12:
                best, best_pairs = s, [(r, c) for c, r in enumerate(rows)]
    return best_pairs


def alignment(gt_masks: list[list], pred_masks: list[list], length: int) -> np.ndarray:
    """HOTA's global alignment score between gt and predicted tracks (present = not None)."""
    n, m = len(gt_masks), len(pred_masks)
    pot = np.zeros((n, m))
    gcount, pcount = np.zeros(n), np.zeros(m)
    for t in range(length):
        rows = [i for i in range(n) if gt_masks[i][t] is not None]
        cols = [j for j in range(m) if pred_masks[j][t] is not None]
        for i in rows:
            gcount[i] += 1
        for j in cols:
            pcount[j] += 1
        sim = np.array([[iou(gt_masks[i][t], pred_masks[j][t]) for j in cols] for i in rows]).reshape(len(rows), len(cols))
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                denom = sim[a].sum() + sim[:, b].sum() - sim[a, b]
                if denom > 0:
                    pot[i, j] += sim[a, b] / denom
    with np.errstate(invalid="ignore", divide="ignore"):
        return pot / (gcount[:, None] + pcount[None, :] - pot)


def reference_fsla(scenes: list[Scene]) -> dict:
    """FSLA / FAn / FAs / FAm following docs/avis.md's definition."""
    tp = {"n": np.zeros(len(ALPHAS)), "s": np.zeros(len(ALPHAS)), "m": np.zeros(len(ALPHAS))}
    total = {"n": 0, "s": 0, "m": 0}
    for sc in scenes:
        g_masks = [m for _, m in sc.gt]
        p_masks = [m for _, _, m in sc.pred]
        g_cls = [c for c, _ in sc.gt]
        p_cls = [c for c, _, _ in sc.pred]
        gi = [i for i in range(len(g_masks)) if any(x is not None for x in g_masks[i])]
        pj = [j for j in range(len(p_masks)) if any(x is not None for x in p_masks[j])]
        score = alignment([g_masks[i] for i in gi], [p_masks[j] for j in pj], sc.length)
        match = {gi[r]: pj[c] for r, c in best_assignment(np.nan_to_num(score))}
        for t in range(sc.length):
            pg = [i for i in range(len(g_masks)) if g_masks[i][t] is not None]
            pp = [j for j in range(len(p_masks)) if p_masks[j][t] is not None]
            nonempty = [j for j in pp if p_masks[j][t].any()]
            ok_sets = {g_cls[i] for i in pg} == {p_cls[j] for j in pp} and len(pg) == len(nonempty)
            kind = "n" if not pg else ("s" if len(pg) == 1 else "m")
            total[kind] += 1
            for a, alpha in enumerate(ALPHAS):
                if not ok_sets:
                    continue
                if kind == "n":
                    ok = True
                elif kind == "s":
                    j = match.get(pg[0])
                    ok = j is not None and p_masks[j][t] is not None and iou(g_masks[pg[0]][t], p_masks[j][t]) > alpha
                else:
                    ok = all(
                        match.get(i) is not None
                        and p_masks[match[i]][t] is not None
                        and g_cls[i] == p_cls[match[i]]
                        and iou(g_masks[i][t], p_masks[match[i]][t]) > alpha
                        for i in pg
                    )
                tp[kind][a] += ok
    frames = sum(total.values())
    out = {"FSLA": float(np.mean((tp["n"] + tp["s"] + tp["m"]) / frames))}
    for kind in "nsm":
        out[f"FA{kind}"] = float(np.mean(tp[kind] / total[kind])) if total[kind] else None
    return out


def reference_hota(scenes: list[Scene], class_ids: list[int]) -> float:
    """Class-averaged HOTA (mean over alphas and over all ``class_ids``)."""
    per_class = []
    for cls in class_ids:
        tp, fn, fp = np.zeros(len(ALPHAS)), np.zeros(len(ALPHAS)), np.zeros(len(ALPHAS))
        ass_sum = np.zeros(len(ALPHAS))
        for sc in scenes:
            g = [m for c, m in sc.gt if c == cls]
            p = [m for c, _, m in sc.pred if c == cls]
            g = [m for m in g if any(x is not None for x in m)]
            p = [m for m in p if any(x is not None for x in m)]
            n_gt = sum(x is not None for m in g for x in m)
            n_pr = sum(x is not None for m in p for x in m)
            if n_pr == 0 or n_gt == 0:
                fn += n_gt
                fp += n_pr
                continue
            score = alignment(g, p, sc.length)
            gcount = np.array([[sum(x is not None for x in m)] for m in g])
            pcount = np.array([[sum(x is not None for x in m) for m in p]])
            counts = [np.zeros((len(g), len(p))) for _ in ALPHAS]
            stp = np.zeros(len(ALPHAS))
            for t in range(sc.length):
                rows = [i for i in range(len(g)) if g[i][t] is not None]
                cols = [j for j in range(len(p)) if p[j][t] is not None]
                sim = np.array([[iou(g[i][t], p[j][t]) for j in cols] for i in rows]).reshape(len(rows), len(cols))
                pairs = best_assignment(score[np.ix_(rows, cols)] * sim) if rows and cols else []
                for a, alpha in enumerate(ALPHAS):
                    matched = [(r, c) for r, c in pairs if sim[r, c] >= alpha - np.finfo(float).eps]
                    stp[a] += len(matched)
                    fn[a] += len(rows) - len(matched)
                    fp[a] += len(cols) - len(matched)
                    for r, c in matched:
                        counts[a][rows[r], cols[c]] += 1
            for a in range(len(ALPHAS)):
                ass = counts[a] / np.maximum(1, gcount + pcount - counts[a])
                ass_sum[a] += np.sum(counts[a] * ass)
            tp += stp
        det_a = tp / np.maximum(1, tp + fn + fp)
        ass_a = ass_sum / np.maximum(1, tp)
        per_class.append(np.sqrt(det_a * ass_a))
    return float(np.mean(np.mean(per_class, axis=0)))


def track_iou(g: list, d: list) -> float:
    """Spatio-temporal IoU: intersections over unions summed over frames (None = empty)."""
    inter = union = 0
    for a, b in zip(g, d):
        if a is None and b is None:
            continue
        a = np.zeros_like(b) if a is None else a
        b = np.zeros_like(a) if b is None else b
        inter += np.logical_and(a, b).sum()
        union += np.logical_or(a, b).sum()
    return inter / union if union else 0.0


def reference_map(scenes: list[Scene], class_ids: list[int]) -> float:
    """Spatio-temporal mask AP (area range 'all'), IoU 0.5:0.05:0.95, 101-point, class-averaged."""
    thresholds = np.arange(0.5, 0.96, 0.05)
    recall_points = np.linspace(0, 1, 101)
    aps = []
    for cls in class_ids:
        num_gt = sum(1 for sc in scenes for c, _ in sc.gt if c == cls)
        if num_gt == 0:
            continue
        ap_thr = []
        for thr in thresholds:
            dets = []  # (score, is_tp)
            for sc in scenes:
                g = [m for c, m in sc.gt if c == cls]
                d = sorted([(s, m) for c, s, m in sc.pred if c == cls], key=lambda x: -x[0])
                used = set()
                for s, m in d:
                    best, best_i = thr, None
                    for i, gm in enumerate(g):
                        if i in used:
                            continue
                        v = track_iou(gm, m)
                        if v >= best - np.finfo(float).eps:
                            best, best_i = v, i
                    if best_i is not None:
                        used.add(best_i)
                    dets.append((s, best_i is not None))
            dets.sort(key=lambda x: -x[0])
            tps = np.cumsum([x[1] for x in dets]).astype(float)
            fps = np.cumsum([not x[1] for x in dets]).astype(float)
            rc = tps / num_gt
            pr = tps / np.maximum(tps + fps, np.spacing(1))
            for i in range(len(pr) - 2, -1, -1):
                pr[i] = max(pr[i], pr[i + 1])
            sampled = [pr[k] if k < len(pr) else 0.0 for k in np.searchsorted(rc, recall_points, side="left")]
            ap_thr.append(np.mean(sampled))
        aps.append(np.mean(ap_thr))
    return float(np.mean(aps))
