"""An independent re-computation of what the AVISM release computes where our model once differed
from it, written from its code (``avism/avism_model.py`` ``train_model`` / ``inference``,
``avism/modeling/transformer_decoder/avism.py`` ``Avism.forward``,
``avism/modeling/avism_criterion.py`` ``loss_masks`` / ``loss_fg_sim``, Mask2Former's
``MSDeformAttnPixelDecoder.forward_features`` and VITA's ``instances_to_coco_json_video``) with
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

GN_GROUPS = 32  # detectron2 get_norm("GN", C)
CONFIDENCE = 0.3  # inference(): the release's fixed score threshold
SIM_MULTIPLIER = 1000  # loss_fg_sim's id offset per clip


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
    ``sim_embed_frame(frame_query).transpose(0, 1).reshape(L, B, T, fQ, C)``; the clip queries:
    ``sim_embed_clip`` of the last round's normed decoder output (``[cQ, LB, C]`` ->
    ``[L, B, cQ, C]``). ``shape``: ``(L, B, T, fQ)``."""
    rounds, batch, frames, num_fq = shape
    channels = fused_frame_queries.shape[-1]
    frame = F.linear(fused_frame_queries, state[f"{module}.sim_embed_frame.weight"], state[f"{module}.sim_embed_frame.bias"])
    frame = frame.transpose(0, 1).reshape(rounds, batch, frames, num_fq, channels)
    clip = F.linear(last_decoder_out.transpose(0, 1), state[f"{module}.sim_embed_clip.weight"], state[f"{module}.sim_embed_clip.bias"])
    return frame, clip.reshape(rounds, batch, -1, channels)


def similarity_loss(
    frame_embed: torch.Tensor,
    frame_indices: list[list[tuple[torch.Tensor, torch.Tensor]]],
    frame_ids: list[torch.Tensor],
    clip_embed: torch.Tensor,
    clip_indices: list[tuple[torch.Tensor, torch.Tensor]],
    clip_ids: list[torch.Tensor],
) -> torch.Tensor:
    """``loss_fg_sim`` (returned as ``loss_clip_sim``), loops as written there.

    Args:
        frame_embed: ``[L, B, T, fQ, C]``; frame_indices: per round, per frame (B*T) the matching;
        frame_ids: per frame (B*T) the track id of each frame target;
        clip_embed: ``[L, B, cQ, C]``; clip_indices: per clip (L*B) the matching;
        clip_ids: per clip (L*B) the track id of each clip target.
    """
    rounds, batch, frames = frame_embed.shape[:3]
    flat = [pair for per_round in frame_indices for pair in per_round]  # sum(frame_indices, [])
    set_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(flat)])
    src_idx = torch.cat([src for src, _ in flat])
    src_fq = frame_embed.flatten(0, 2)[set_idx, src_idx]
    target_frame_ids = torch.cat([ids[j] for ids, (_, j) in zip(frame_ids * rounds, flat)])
    frame_batch_idx = torch.div(set_idx, frames, rounding_mode="floor")
    target_frame_ids = target_frame_ids + frame_batch_idx * SIM_MULTIPLIER

    clip_set = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(clip_indices)])
    clip_src = torch.cat([src for src, _ in clip_indices])
    src_cq = clip_embed.flatten(0, 1)[clip_set, clip_src]
    target_clip_ids = torch.cat([ids[j] for ids, (_, j) in zip(clip_ids, clip_indices)]) + clip_set * SIM_MULTIPLIER

    queries = torch.cat([src_fq, src_cq])
    ids = torch.cat([target_frame_ids, target_clip_ids])
    groups = torch.cat([frame_batch_idx, clip_set])
    logits = queries @ queries.T
    target = (ids[:, None] == ids[None]).float()
    same_clip = (groups[:, None] == groups[None]).float()
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * same_clip
    return loss.sum() / (same_clip.sum() + 1e-6)


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
