"""An independent re-computation of the original OV-AVSS release's test-time naming and
painting, written from its code (``ov_avss/ov_avss.py`` ``open_vocabulary_inference``,
``modeling/clip_adapter/adapter.py`` ``ClipAdapter``, ``modeling/video_maskformer.py``
``inference_video``, ``demo_video/predictor.py`` ``run_on_video_avsbench`` and
``demo_video/avsbench_utils.py`` ``save_and_compute``) step by step, loops included, with plain
torch / torchvision ops. It shares no code with ``ov_avss.modeling``.

Only difference, on purpose: the release casts frames, masks and boxes to float16 before
``roi_align`` and runs CLIP in float16 on its GPU; this reference stays in float32.
"""
from __future__ import annotations

import open_clip
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

WINDOW = 5  # open_vocabulary_inference's part_len


def bitmask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """detectron2 ``BitMasks.get_bounding_boxes``: ``[x_first, y_first, x_last + 1, y_last + 1]``."""
    boxes = torch.zeros(masks.shape[0], 4)
    for index, mask in enumerate(masks):
        xs = torch.where(mask.any(dim=0))[0]
        ys = torch.where(mask.any(dim=1))[0]
        boxes[index] = torch.tensor([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=torch.float32)
    return boxes


def clip_text_features(clip_model, templates, names) -> torch.Tensor:
    """``ClipAdapter.encode_text``: per template, encode and normalise; average; normalise."""
    per_template = []
    for template in templates:
        tokens = torch.cat([open_clip.tokenize(template.format(name)) for name in names])
        embeds = clip_model.encode_text(tokens)
        per_template.append(embeds / embeds.norm(dim=-1, keepdim=True))
    embeds = torch.stack(per_template).mean(dim=0)
    return embeds / embeds.norm(dim=-1, keepdim=True)


def clip_adapter(clip_model, templates, frames, names, masks):
    """``ClipAdapter.forward``: frames ``[T, 3, H, W]`` 0-255, soft masks ``[T, N, Hm, Wm]`` ->
    region logits ``[R, K]`` (regions in (frame, query) order) and ``valid [T, N]``."""
    size = clip_model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    mean = torch.tensor(clip_model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(clip_model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    bin_masks = masks > 0.5
    valid = bin_masks.sum(dim=(-1, -2)) > 0
    if valid.sum() == 0:
        return None, valid
    boxes = bitmask_boxes(bin_masks[valid])
    sboxes = boxes.clone()
    sboxes[:, 2] = sboxes[:, 2] - sboxes[:, 0]
    sboxes[:, 3] = sboxes[:, 3] - sboxes[:, 1]
    side = torch.max(sboxes[:, 2], sboxes[:, 3])
    sboxes[:, 2] = sboxes[:, 0] + side
    sboxes[:, 3] = sboxes[:, 1] + side
    ids = torch.nonzero(valid)
    regions = roi_align(frames, torch.cat([ids[:, 0:1].float(), sboxes], dim=-1), output_size=(size, size))
    region_ids = torch.arange(len(sboxes))[:, None].float()
    mask_regions = roi_align(masks[valid][:, None], torch.cat([region_ids, sboxes], dim=-1), output_size=(size, size))
    regions = mask_regions * regions + (1 - mask_regions) * 0.0
    image = F.interpolate(regions / 255.0, (size, size), mode="bicubic")
    image = (image - mean) / std
    features = clip_model.visual(image)
    features = features / features.norm(dim=-1, keepdim=True)
    text = clip_text_features(clip_model, templates, names)
    return 100 * features @ text.T, valid


def open_vocabulary_inference(clip_model, templates, masks, frames, names):
    """Mask logits ``[N, T, Hp, Wp]`` (upsampled to the padded input) -> per-query probabilities
    ``[Nv, K]`` of the queries with a region, and their mask logits."""
    clip_cls, valid_flag = [], []
    for start in range(0, len(frames), WINDOW):
        part_masks = masks[:, start:start + WINDOW].sigmoid().transpose(0, 1).contiguous()
        part_cls, part_valid = clip_adapter(clip_model, templates, frames[start:start + WINDOW], names, part_masks)
        if part_cls is None:
            part_cls = torch.empty(0, len(names))
        clip_cls.append(part_cls)
        valid_flag.append(part_valid)
    clip_cls, valid_flag = torch.cat(clip_cls), torch.cat(valid_flag)
    if valid_flag.sum() == 0:
        return [], []
    valid_ids = torch.nonzero(valid_flag)
    valid_query_flag = valid_flag.sum(dim=0) > 0
    valid_query_ids = torch.nonzero(valid_query_flag)[:, 0]
    per_query = torch.stack([clip_cls[valid_ids[:, 1] == q].mean(dim=0) for q in valid_query_ids])
    return per_query.softmax(dim=-1), masks[valid_query_flag], valid_query_ids


def inference_video(num_classes, probs, masks, image_size, output_size):
    """Top-10 pairs (scores, labels, indices into the valid queries, masks at output size)."""
    labels = torch.arange(num_classes).unsqueeze(0).repeat(len(probs), 1).flatten(0, 1)
    scores, topk = probs.flatten(0, 1).topk(10, sorted=False)
    labels = labels[topk]
    topk = topk // num_classes
    kept = masks[topk][:, :, : image_size[0], : image_size[1]]
    kept = F.interpolate(kept, size=output_size, mode="bilinear", align_corners=False)
    return scores.tolist(), labels.tolist(), topk, kept > 0.0


def paint(scores, labels, masks, threshold):
    """``run_on_video_avsbench`` (threshold, sort) + ``save_and_compute`` (first cover wins)."""
    kept = [p for p in range(len(scores)) if scores[p] > threshold]
    order = sorted(range(len(kept)), key=lambda i: scores[kept[i]], reverse=True)
    sorted_labels = [labels[kept[i]] for i in order]
    sorted_masks = [masks[kept[i]] for i in order]
    num_frames, height, width = masks.shape[1:]
    semantic = torch.zeros(num_frames, height, width, dtype=torch.int64)
    if not sorted_masks:
        return semantic
    stacked = torch.stack(sorted_masks).permute(1, 0, 2, 3)  # [T, P, H, W]
    for frame in range(num_frames):
        result = stacked[frame][0].int() * (sorted_labels[0] + 1)
        for mask, label in zip(stacked[frame][1:], sorted_labels[1:]):
            painted = mask.int() * (label + 1)
            result = result + painted * (result == 0)
        semantic[frame] = result
    return semantic
