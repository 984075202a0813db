"""An independent re-computation of what the AVISM release computes where our model once differed
from it, written from its code (``avism/avism_model.py`` ``train_model`` / ``inference``,
``avism/modeling/transformer_decoder/avism.py`` ``Avism.forward``,
``avism/modeling/avism_criterion.py`` ``AvismSetCriterion``, ``avism/modeling/avism_matcher.py``,
Mask2Former's ``MSDeformAttnPixelDecoder.forward_features`` and the frame ``SetCriterion`` /
``HungarianMatcher`` (with VITA's ``fg_indices`` of the last rounds), detectron2's
``get_uncertain_point_coords_with_randomness`` and VITA's ``instances_to_coco_json_video``) with
plain torch ops on a state dict with the release's names. It shares no code with
``ov_avss.modeling``.

The networks that already agreed with the release (backbone, deformable encoder, frame decoder,
video module's attention layers) are not re-written: the tests hand their outputs in.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pycocotools.mask as mask_util
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

GN_GROUPS = 32  # detectron2 get_norm("GN", C)
CONFIDENCE = 0.3  # inference(): the release's fixed score threshold
SIM_MULTIPLIER = 1000  # loss_fg_sim's id offset per video


def _group_norm(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    return F.group_norm(x, GN_GROUPS, state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps=1e-5)


def last_fpn_output(state: dict, res2: torch.Tensor, encoder_finest: torch.Tensor) -> torch.Tensor:
    """``MSDeformAttnPixelDecoder.forward_features``' ``out[-1]`` with one FPN level (res2):
    ``adapter_1`` (1x1 conv, GN) of res2 plus the bilinearly upsampled finest encoder level, then
    ``layer_1`` (3x3 conv, GN, ReLU). ``[N, C2, H/4, W/4]``, ``[N, C, H/8, W/8]`` -> ``[N, C, H/4, W/4]``."""
    prefix = "sem_seg_head.pixel_decoder"
    lateral = _group_norm(state, f"{prefix}.adapter_1.norm", F.conv2d(res2, state[f"{prefix}.adapter_1.weight"]))
    y = lateral + F.interpolate(encoder_finest, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
    y = F.conv2d(y, state[f"{prefix}.layer_1.weight"], padding=1)
    return F.relu(_group_norm(state, f"{prefix}.layer_1.norm", y))


def video_mask_features(state: dict, fpn_out: torch.Tensor, module: str = "avism_module") -> torch.Tensor:
    """``avism_model.py``: ``self.avism_module.avism_mask_features(mask_features)`` where
    ``mask_features`` is the head's second value, the pixel decoder's last FPN output."""
    name = "avism_mask_features" if module == "avism_module" else "vita_mask_features"
    return F.conv2d(fpn_out, state[f"{module}.{name}.weight"], state[f"{module}.{name}.bias"])


def video_masks(mask_embed: torch.Tensor, features: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``einsum("lbqc,btchw->lbqthw")``: ``[L, B, cQ, C]``, ``[B*T, C, h, w]`` -> ``[L, B, cQ, T, h, w]``."""
    return torch.einsum("lbqc,btchw->lbqthw", mask_embed, features.view(-1, num_frames, *features.shape[-3:]))


def similarity_embeddings(
    state: dict, fused_frame_queries: torch.Tensor, last_decoder_out: torch.Tensor, shape: tuple[int, int, int, int],
    module: str = "avism_module",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``Avism.forward``: ``frame_query = frame_query + av_feat`` (``[T*fQ, LB, C]``), then
    ``sim_embed_frame(frame_query).transpose(0, 1).reshape(L, B, T, fQ, C)``; the video queries:
    ``sim_embed_clip`` of the last round's normed decoder output (``[cQ, LB, C]`` ->
    ``[L, B, cQ, C]``). ``shape``: ``(L, B, T, fQ)``."""
    rounds, batch, frames, num_fq = shape
    channels = fused_frame_queries.shape[-1]
    frame = F.linear(fused_frame_queries, state[f"{module}.sim_embed_frame.weight"], state[f"{module}.sim_embed_frame.bias"])
    frame = frame.transpose(0, 1).reshape(rounds, batch, frames, num_fq, channels)
    video = F.linear(last_decoder_out.transpose(0, 1), state[f"{module}.sim_embed_clip.weight"], state[f"{module}.sim_embed_clip.bias"])
    return frame, video.reshape(rounds, batch, -1, channels)


def similarity_loss(
    frame_embed: torch.Tensor,
    frame_indices: list[list[tuple[torch.Tensor, torch.Tensor]]],
    frame_ids: list[torch.Tensor],
    video_embed: torch.Tensor,
    video_indices: list[tuple[torch.Tensor, torch.Tensor]],
    video_ids: list[torch.Tensor],
) -> torch.Tensor:
    """``loss_fg_sim`` (returned as ``loss_clip_sim``), loops as written there.

    Args:
        frame_embed: ``[L, B, T, fQ, C]``; frame_indices: per round, per frame (B*T) the matching;
        frame_ids: per frame (B*T) the track id of each frame target;
        video_embed: ``[L, B, cQ, C]``; video_indices: per video (L*B) the matching;
        video_ids: per video (L*B) the track id of each video target.
    """
    rounds, batch, frames = frame_embed.shape[:3]
    flat = [pair for per_round in frame_indices for pair in per_round]  # sum(frame_indices, [])
    set_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(flat)])
    src_idx = torch.cat([src for src, _ in flat])
    src_fq = frame_embed.flatten(0, 2)[set_idx, src_idx]
    target_frame_ids = torch.cat([ids[j] for ids, (_, j) in zip(frame_ids * rounds, flat)])
    frame_batch_idx = torch.div(set_idx, frames, rounding_mode="floor")
    target_frame_ids = target_frame_ids + frame_batch_idx * SIM_MULTIPLIER

    video_set = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(video_indices)])
    video_src = torch.cat([src for src, _ in video_indices])
    src_cq = video_embed.flatten(0, 1)[video_set, video_src]
    target_video_ids = torch.cat([ids[j] for ids, (_, j) in zip(video_ids, video_indices)]) + video_set * SIM_MULTIPLIER

    queries = torch.cat([src_fq, src_cq])
    ids = torch.cat([target_frame_ids, target_video_ids])
    groups = torch.cat([frame_batch_idx, video_set])
    logits = queries @ queries.T
    target = (ids[:, None] == ids[None]).float()
    same_video = (groups[:, None] == groups[None]).float()
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * same_video
    return loss.sum() / (same_video.sum() + 1e-6)


def _point_sample(masks: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """detectron2 ``point_sample``: ``[N, 1, H, W]``, ``[N, P, 2]`` in [0, 1] -> ``[N, P]``."""
    return F.grid_sample(masks, 2.0 * coords[:, :, None] - 1.0, align_corners=False)[:, 0, :, 0]


def video_mask_losses(
    matched_logits: torch.Tensor, matched_targets: torch.Tensor, coords: torch.Tensor, num_masks: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``loss_masks``: points sampled per (track, frame), then ``view(M, T * P)``: BCE is the
    mean over a track's T x P points and dice is over them all, each summed over tracks / num_masks.

    Args:
        matched_logits: ``[M, T, h, w]``; matched_targets: ``[M, T, H, W]``;
        coords: ``[M*T, P, 2]``, the sampled points of each (track, frame).
    """
    tracks, frames = matched_logits.shape[:2]
    logits = _point_sample(matched_logits.flatten(0, 1)[:, None], coords).view(tracks, -1)
    labels = _point_sample(matched_targets.flatten(0, 1)[:, None].float(), coords).view(tracks, -1)
    assert logits.shape[1] == frames * coords.shape[1]
    bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum() / num_masks
    probs = logits.sigmoid()
    dice = 1 - (2 * (probs * labels).sum(-1) + 1) / (probs.sum(-1) + labels.sum(-1) + 1)
    return bce, dice.sum() / num_masks


def inference(
    frames: torch.Tensor,
    audio: torch.Tensor,
    state: dict,
    frame_network: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    video_network: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    *,
    pixel_mean: torch.Tensor,
    pixel_std: torch.Tensor,
    size_divisibility: int,
    run_chunk_size: int,
    interpolate_chunk_size: int,
    top_k: int,
    num_classes: int,
    out_size: tuple[int, int],
    confidence: float = CONFIDENCE,
) -> dict:
    """``AVISM.inference`` step by step.

    Args:
        frames: uint8 ``[T, 3, H, W]``; audio: ``[T, A]``.
        frame_network: ``(images [t, 3, Hp, Wp], audio [t, A]) -> (res2, encoder_finest,
            frame_queries [L, t, fQ, C])`` (backbone, deformable encoder, frame decoder).
        video_network: ``(frame_queries [1, T, fQ, C], audio [T, A]) -> (pred_logits [cQ, K+1],
            pred_mask_embed [cQ, C])`` of the last round.
    """
    num_frames = frames.shape[0]
    queries, features = [], []
    for i in range(math.ceil(num_frames / run_chunk_size)):
        chunk = frames[i * run_chunk_size : (i + 1) * run_chunk_size].float()
        images = (chunk - pixel_mean.view(-1, 1, 1)) / pixel_std.view(-1, 1, 1)
        # ImageList.from_tensors: zero-pad bottom / right to a multiple of size_divisibility.
        height, width = images.shape[-2:]
        padded = (math.ceil(height / size_divisibility) * size_divisibility, math.ceil(width / size_divisibility) * size_divisibility)
        images = F.pad(images, (0, padded[1] - width, 0, padded[0] - height))
        res2, encoder_finest, frame_queries = frame_network(images, audio[i * run_chunk_size : (i + 1) * run_chunk_size])
        queries.append(frame_queries[-1])
        features.append(video_mask_features(state, last_fpn_output(state, res2, encoder_finest)))
    interim_size = images.shape[-2:]
    image_size = (height, width)
    mask_cls, mask_embed = video_network(torch.cat(queries)[None], audio)
    mask_features = torch.cat(features)

    scores = F.softmax(mask_cls, dim=-1)[:, :-1]
    labels = torch.arange(num_classes).unsqueeze(0).repeat(mask_cls.shape[0], 1).flatten(0, 1)
    scores_per_video, topk_indices = scores.flatten(0, 1).topk(top_k, sorted=False)
    labels_per_video = labels[topk_indices]
    mask_embed = mask_embed[torch.div(topk_indices, num_classes, rounding_mode="floor")]

    masks_per_video = []
    numerator = torch.zeros(len(mask_embed))
    denominator = torch.zeros(len(mask_embed))
    for i in range(math.ceil(len(mask_features) / interpolate_chunk_size)):
        m_f = mask_features[i * interpolate_chunk_size : (i + 1) * interpolate_chunk_size]
        mask_pred = torch.einsum("qc,tchw->qthw", mask_embed, m_f)
        mask_pred = F.interpolate(mask_pred, size=interim_size, mode="bilinear", align_corners=False)
        mask_pred = mask_pred[:, :, : image_size[0], : image_size[1]]
        soft = mask_pred.sigmoid()
        hard = soft > 0.5
        numerator += (soft.flatten(1) * hard.flatten(1)).sum(1)
        denominator += hard.flatten(1).sum(1)
        masks_per_video.append(F.interpolate(mask_pred, size=out_size, mode="bilinear", align_corners=False) > 0.0)
    masks_per_video = torch.cat(masks_per_video, dim=1)
    scores_per_video = scores_per_video * (numerator / (denominator + 1e-6))
    keep = torch.nonzero(scores_per_video > confidence).squeeze(-1)
    return {
        "image_size": out_size,
        "pred_scores": scores_per_video[keep].tolist(),
        "pred_labels": labels_per_video[keep].tolist(),
        "pred_masks": masks_per_video[keep],
    }


def results_json_entries(video_id: int, output: dict) -> list[dict]:
    """VITA's ``instances_to_coco_json_video`` with AVISeg's id mapping (contiguous label + 1):
    one compressed RLE per frame, counts as text."""
    entries = []
    for score, label, track in zip(output["pred_scores"], output["pred_labels"], output["pred_masks"]):
        segmentations = [
            mask_util.encode(np.array(frame[:, :, None].numpy(), order="F", dtype="uint8"))[0] for frame in track
        ]
        for rle in segmentations:
            rle["counts"] = rle["counts"].decode("utf-8")
        entries.append({"video_id": video_id, "score": score, "category_id": label + 1, "segmentations": segmentations})
    return entries


# ----------------------------------------------------------------------------- the training step
# ``AVISM.train_model``: ``prepare_targets``, the frame ``SetCriterion`` (Mask2Former's, returning
# the matchings of the last LAST_LAYER_NUM rounds), the ``Avism`` module's heads and the video
# ``AvismSetCriterion`` with ``AvismHungarianMatcher``, each loss weighted by its weight dict.


def _sample(values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """detectron2 ``point_sample``: ``[N, C, H, W]``, ``[N, P, 2]`` in [0, 1] -> ``[N, C, P]``."""
    return F.grid_sample(values, 2.0 * coords[:, :, None] - 1.0, align_corners=False)[..., 0]


def uncertain_point_coords(
    logits: torch.Tensor, num_points: int, oversample_ratio: float, importance_sample_ratio: float
) -> torch.Tensor:
    """detectron2 ``get_uncertain_point_coords_with_randomness`` with ``calculate_uncertainty``
    (``-|logit|``): ``[N, 1, h, w]`` -> ``[N, num_points, 2]``, random draws in its order."""
    boxes = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(boxes, num_sampled, 2, device=logits.device)
    uncertainty = -_sample(logits, coords).abs()
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = torch.topk(uncertainty[:, 0, :], k=num_uncertain, dim=1)[1]
    idx = idx + num_sampled * torch.arange(boxes, dtype=torch.long, device=logits.device)[:, None]
    coords = coords.view(-1, 2)[idx.view(-1), :].view(boxes, num_uncertain, 2)
    if num_points - num_uncertain > 0:
        coords = torch.cat([coords, torch.rand(boxes, num_points - num_uncertain, 2, device=logits.device)], dim=1)
    return coords


def prepare_targets(videos: list[dict], padded_size: tuple[int, int], num_frames: int) -> tuple[list[dict], list[dict]]:
    """``prepare_targets``: per video the tracks present in some frame (``labels``, ``ids [N, T]``
    with -1 where absent, shifted to start at 0, ``masks [N, T, Hp, Wp]`` zero-padded), per frame
    the tracks present in it. A track's id is its position in the video's annotations."""
    frame_targets, window_targets = [], []
    for video in videos:
        labels, masks = video["labels"], video["masks"]
        padded = torch.zeros(len(labels), num_frames, *padded_size, dtype=torch.bool)
        padded[:, :, : masks.shape[-2], : masks.shape[-1]] = masks
        ids = torch.arange(len(labels))[:, None].repeat(1, num_frames)
        ids[padded.sum(dim=(2, 3)) == 0] = -1
        valid_frame = ids != -1
        valid_video = valid_frame.any(dim=-1)
        labels, ids, valid_frame = labels[valid_video].long(), ids[valid_video].long(), valid_frame[valid_video]
        padded = padded[valid_video].float()
        if len(ids) > 0:
            ids[valid_frame] -= max(ids[valid_frame].min(), 0)
        window_targets.append({"labels": labels, "ids": ids, "masks": padded})
        for f in range(num_frames):
            valid = ids[:, f] != -1
            frame_targets.append({"labels": labels[valid], "ids": ids[valid, f], "masks": padded[valid, f]})
    return frame_targets, window_targets


def hungarian_match(
    logits: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, target_masks: torch.Tensor,
    weights: tuple[float, float, float], num_points: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One set of ``AvismHungarianMatcher`` (Mask2Former's ``HungarianMatcher`` with T = 1):
    ``logits [Q, K+1]``, ``masks [Q, T, h, w]``, ``target_masks [N, T, H, W]``; one shared
    draw of ``num_points`` points for all frames. ``weights``: (class, mask, dice)."""
    cost_class = -logits.softmax(-1)[:, labels]
    coords = torch.rand(1, num_points, 2, device=masks.device)
    tgt = _sample(target_masks.float(), coords.repeat(target_masks.shape[0], 1, 1)).flatten(1)
    out = _sample(masks, coords.repeat(masks.shape[0], 1, 1)).flatten(1).float()
    pos = F.binary_cross_entropy_with_logits(out, torch.ones_like(out), reduction="none")
    neg = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out), reduction="none")
    cost_mask = (torch.einsum("nc,mc->nm", pos, tgt) + torch.einsum("nc,mc->nm", neg, 1 - tgt)) / out.shape[1]
    probs = out.sigmoid()
    cost_dice = 1 - (2 * torch.einsum("nc,mc->nm", probs, tgt) + 1) / (probs.sum(-1)[:, None] + tgt.sum(-1)[None] + 1)
    cost = weights[1] * cost_mask + weights[0] * cost_class + weights[2] * cost_dice
    rows, cols = linear_sum_assignment(cost.reshape(masks.shape[0], -1).detach().cpu())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


def set_losses(
    logits: torch.Tensor, masks: torch.Tensor, targets: list[dict], num_masks: float, *, no_object_weight: float,
    weights: tuple[float, float, float], num_points: int, oversample_ratio: float, importance_sample_ratio: float,
) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """One round of ``SetCriterion`` / ``AvismSetCriterion``, unweighted ``ce``, ``mask``, ``dice``:
    the matcher over all sets, ``loss_labels``, then ``loss_masks`` (points per (track, frame),
    scored per track over its T x P points). ``logits [S, Q, K+1]``, ``masks [S, Q, T, h, w]``."""
    indices = [
        hungarian_match(set_logits, set_masks, t["labels"], t["masks"], weights, num_points)
        for set_logits, set_masks, t in zip(logits, masks, targets)
    ]
    sets = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src = torch.cat([s for s, _ in indices])
    num_classes = logits.shape[-1] - 1
    target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64)
    target_classes[sets, src] = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)])
    class_weights = torch.ones(num_classes + 1)
    class_weights[-1] = no_object_weight
    losses = {"ce": F.cross_entropy(logits.transpose(1, 2), target_classes, class_weights)}
    frames = masks.shape[2]
    src_masks = masks[sets, src].flatten(0, 1)[:, None]
    target_masks = torch.cat([t["masks"][j] for t, (_, j) in zip(targets, indices)])
    target_masks = target_masks.reshape(-1, 1, *target_masks.shape[-2:])
    with torch.no_grad():
        coords = uncertain_point_coords(src_masks, num_points, oversample_ratio, importance_sample_ratio)
        labels = _sample(target_masks.to(src_masks), coords).squeeze(1)
    point_logits = _sample(src_masks, coords).squeeze(1).view(len(src), frames * num_points)
    labels = labels.view(len(src), frames * num_points)
    losses["mask"] = F.binary_cross_entropy_with_logits(point_logits, labels, reduction="none").mean(1).sum() / num_masks
    probs = point_logits.sigmoid()
    losses["dice"] = (1 - (2 * (probs * labels).sum(-1) + 1) / (probs.sum(-1) + labels.sum(-1) + 1)).sum() / num_masks
    return losses, indices


def _weight(losses: dict[str, torch.Tensor], weight_dict: dict[str, float]) -> dict[str, torch.Tensor]:
    """``losses[k] *= weight_dict[k]`` for the keys the weight dict names (the others stay as they are)."""
    return {k: v * weight_dict[k] if k in weight_dict else v for k, v in losses.items()}


def frame_losses(
    frame_outputs: dict, frame_targets: list[dict], *, class_weight: float, mask_weight: float, dice_weight: float,
    no_object_weight: float, num_points: int, oversample_ratio: float, importance_sample_ratio: float, last_layer_num: int,
) -> tuple[dict[str, torch.Tensor], list[list[tuple[torch.Tensor, torch.Tensor]]]]:
    """Mask2Former's ``SetCriterion`` on the frame decoder's outputs (``pred_logits [BT, fQ, K+1]``,
    ``pred_masks [BT, fQ, h, w]``, ``aux_outputs``): the last round, then each earlier one
    (suffix ``_i``), weighted; and ``fg_indices``, the matchings of the last ``last_layer_num`` rounds."""
    num_masks = max(float(sum(len(t["labels"]) for t in frame_targets)), 1.0)
    targets = [{"labels": t["labels"], "masks": t["masks"][:, None]} for t in frame_targets]
    settings = dict(
        no_object_weight=no_object_weight, weights=(class_weight, mask_weight, dice_weight), num_points=num_points,
        oversample_ratio=oversample_ratio, importance_sample_ratio=importance_sample_ratio,
    )
    rounds = [*frame_outputs["aux_outputs"], frame_outputs]
    weight_dict = {"loss_ce": class_weight, "loss_mask": mask_weight, "loss_dice": dice_weight}
    weight_dict.update({f"{k}_{i}": v for i in range(len(rounds) - 1) for k, v in list(weight_dict.items())})
    # A frame is a set of one-frame tracks: pred_masks [BT, fQ, 1, h, w].
    last, last_indices = set_losses(
        frame_outputs["pred_logits"], frame_outputs["pred_masks"][:, :, None], targets, num_masks, **settings
    )
    losses = {f"loss_{k}": v for k, v in last.items()}
    fg_indices = []
    for i, aux in enumerate(frame_outputs["aux_outputs"]):
        aux_losses, indices = set_losses(aux["pred_logits"], aux["pred_masks"][:, :, None], targets, num_masks, **settings)
        losses.update({f"loss_{k}_{i}": v for k, v in aux_losses.items()})
        fg_indices.append(indices)
    fg_indices.append(last_indices)
    return _weight(losses, weight_dict), fg_indices[-last_layer_num:]


def _mlp(state: dict, prefix: str, x: torch.Tensor, num_layers: int = 3) -> torch.Tensor:
    for i in range(num_layers):
        x = F.linear(x, state[f"{prefix}.layers.{i}.weight"], state[f"{prefix}.layers.{i}.bias"])
        x = F.relu(x) if i < num_layers - 1 else x
    return x


def video_losses(
    state: dict, fpn_out: torch.Tensor, decoder_outputs: list[torch.Tensor], fused_frame_queries: torch.Tensor,
    window_targets: list[dict], frame_targets: list[dict], fg_indices: list, *, shape: tuple[int, int, int, int],
    class_weight: float, mask_weight: float, dice_weight: float, sim_weight: float, no_object_weight: float,
    num_points: int, oversample_ratio: float, importance_sample_ratio: float, module: str = "avism_module",
) -> dict[str, torch.Tensor]:
    """The ``Avism`` heads and ``AvismSetCriterion``, weighted as ``train_model`` weights them.

    Args:
        state: release-layout tensors (the heads' ones may require grad).
        fpn_out: the pixel decoder's last FPN output ``[B*T, C, h, w]``.
        decoder_outputs: per video-decoder round its output before ``decoder_norm``, ``[cQ, LB, C]``.
        fused_frame_queries: ``frame_query + av_feat``, ``[T*fQ, LB, C]``.
        fg_indices: the frame criterion's matchings of the last L rounds.
        shape: ``(L, B, T, fQ)``.
    """
    rounds, batch, frames, num_fq = shape
    channels = fused_frame_queries.shape[-1]
    features = video_mask_features(state, fpn_out, module)
    normed = [
        F.layer_norm(out, (channels,), state[f"{module}.decoder_norm.weight"], state[f"{module}.decoder_norm.bias"])
        for out in decoder_outputs
    ]
    per_round = []
    for out in normed:
        out = out.transpose(0, 1).reshape(rounds, batch, -1, channels)  # [L, B, cQ, C]
        logits = F.linear(out, state[f"{module}.class_embed.weight"], state[f"{module}.class_embed.bias"])
        masks = video_masks(_mlp(state, f"{module}.mask_embed", out), features, frames)  # [L, B, cQ, T, h, w]
        per_round.append((logits.flatten(0, 1), masks.flatten(0, 1)))
    targets = window_targets * rounds
    num_masks = max(float(sum(len(t["labels"]) for t in window_targets) * rounds), 1.0)
    settings = dict(
        no_object_weight=no_object_weight, weights=(class_weight, mask_weight, dice_weight), num_points=num_points,
        oversample_ratio=oversample_ratio, importance_sample_ratio=importance_sample_ratio,
    )
    last, video_indices = set_losses(*per_round[-1], targets, num_masks, **settings)
    losses = {f"loss_avism_{k}": v for k, v in last.items()}
    frame_embed, video_embed = similarity_embeddings(state, fused_frame_queries, normed[-1], shape, module)
    # loss_fg_sim: a video target's id is the largest of its per-frame ids (-1 where absent).
    video_ids = [t["ids"].amax(dim=1) for t in targets]
    losses["loss_clip_sim"] = similarity_loss(
        frame_embed, fg_indices, [t["ids"] for t in frame_targets], video_embed, video_indices, video_ids
    )
    for i, (logits, masks) in enumerate(per_round[:-1]):
        aux, _ = set_losses(logits, masks, targets, num_masks, **settings)
        losses.update({f"loss_avism_{k}_{i}": v for k, v in aux.items()})
    # avism_model.py: the similarity term is named loss_avism_sim here, loss_clip_sim by the criterion.
    weight_dict = {
        "loss_avism_ce": class_weight, "loss_avism_mask": mask_weight, "loss_avism_dice": dice_weight,
        "loss_avism_sim": sim_weight,
    }
    weight_dict.update({f"{k}_{i}": v for i in range(len(decoder_outputs) - 1) for k, v in list(weight_dict.items())})
    return _weight(losses, weight_dict)
