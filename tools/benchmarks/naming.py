"""The naming section: the CLIP naming stage of one window (every (frame, query) region with a
non-empty mask through CLIP, the release's configuration), ours against a reference written
here from the release's procedure (ruohaoguo/ovavss ``ClipAdapter``: regions in (frame, query)
order, detectron2 ``BitMasks`` boxes made square at their top-left corner, ``roi_align`` crops
of frame and soft mask blended on black, a bicubic resize to CLIP's size, CLIP-normalised, all
regions of the frame window in one CLIP batch, text embeddings cached per name; logits
``100 * cos`` averaged over a query's regions, then the softmax), and against the floor of any
identical result: the same CLIP image passes alone. ``torch.profiler`` top ops of ours."""
from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from .measure import error_entry, interleaved_medians


class ReleaseNamingReference:
    """The release's naming procedure over our frozen CLIP (open_clip) and templates."""

    def __init__(self, region_classifier) -> None:
        self.clip_model = region_classifier.clip_model
        self.tokenizer = region_classifier.tokenizer
        self.templates = region_classifier.templates
        self.size = region_classifier.input_size[0]
        self.mean = region_classifier.clip_mean
        self.std = region_classifier.clip_std
        self.text_cache: dict[str, torch.Tensor] = {}

    def encode_text(self, names: list[str]) -> torch.Tensor:
        new_names = [name for name in names if name not in self.text_cache]
        if new_names:
            per_template = []
            for template in self.templates:
                tokens = self.tokenizer([template.format(name) for name in new_names])
                embeddings = self.clip_model.encode_text(tokens).float()
                per_template.append(embeddings / embeddings.norm(dim=-1, keepdim=True))
            averaged = torch.stack(per_template).mean(dim=0)
            averaged = averaged / averaged.norm(dim=-1, keepdim=True)
            self.text_cache.update(zip(new_names, averaged))
        return torch.stack([self.text_cache[name] for name in names])

    @staticmethod
    def bounding_boxes(binary_masks: torch.Tensor) -> torch.Tensor:
        """detectron2 ``BitMasks.get_bounding_boxes``: ``(x0, y0, x1 + 1, y1 + 1)`` per mask."""
        boxes = torch.zeros(binary_masks.shape[0], 4)
        for index, mask in enumerate(binary_masks):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            boxes[index] = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        return boxes

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, mask_probs: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, int]:
        """``frames [T, 3, H, W]`` 0-255, ``mask_probs [Q, T, Hm, Wm]`` -> probabilities ``[Q, K]``
        (zero rows without a region) and the number of regions."""
        masks = mask_probs.transpose(0, 1).float()  # [T, Q, Hm, Wm], the release's layout
        binary = masks > 0.5
        valid = binary.sum(dim=(-1, -2)) > 0  # [T, Q]
        boxes = self.bounding_boxes(binary[valid])
        side = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        squares = torch.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + side, boxes[:, 1] + side], dim=1)
        frame_ids, query_ids = torch.nonzero(valid, as_tuple=True)
        regions = roi_align(frames.float(), torch.cat([frame_ids[:, None].float(), squares], dim=1),
                            output_size=(self.size, self.size))
        mask_regions = roi_align(masks[valid][:, None], torch.cat(
            [torch.arange(len(squares))[:, None].float(), squares], dim=1), output_size=(self.size, self.size))
        regions = mask_regions * regions
        images = F.interpolate(regions / 255.0, (self.size, self.size), mode="bicubic")
        images = (images - self.mean) / self.std
        features = self.clip_model.encode_image(images).float()  # one batch: the whole window
        features = features / features.norm(dim=-1, keepdim=True)
        logits = 100.0 * features @ self.encode_text(names).T  # [R, K]
        probs = torch.zeros(mask_probs.shape[0], len(names))
        for query in range(mask_probs.shape[0]):
            mine = query_ids == query
            if mine.any():
                probs[query] = logits[mine].mean(dim=0).softmax(dim=-1)
        return probs, int(valid.sum())


def _captured_classifier_inputs(model, window: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frames, mask_probs, text_embeddings) that ``model``'s inference hands its CLIP region
    classifier for ``window`` (the first call: the release's ranking names every query)."""
    captured: list[tuple] = []
    handle = model.classifier.region_classifier.register_forward_pre_hook(
        lambda module, inputs: captured.append(inputs) if not captured else None
    )
    try:
        with torch.no_grad():
            model([window])
    finally:
        handle.remove()
    return captured[0]


def benchmark_naming(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.catalog import get_dataset_metadata, with_seen_categories
    from ov_avss.modeling import build_model_without_pretrained_files

    from .model import _profile_top_ops, _training_window

    if device.type != "cpu":
        return {"error": "not measured: the naming section runs on CPU (--device cpu)"}
    try:
        cfg = get_cfg()
        cfg.merge_from_file(args.naming_config)
        cfg.freeze()
        torch.manual_seed(0)
        model = build_model_without_pretrained_files(with_seen_categories(cfg), "cpu").eval()
        vocabulary = list(get_dataset_metadata(cfg.DATASETS.TEST[0]).vocabulary)
        window = _training_window(cfg, tuple(vocabulary), int(cfg.INPUT.SAMPLING_FRAME_NUM), with_targets=False)
        frames, mask_probs, text = _captured_classifier_inputs(model, window)
        classifier = model.classifier.region_classifier
        reference = ReleaseNamingReference(classifier)
        ours_probs, has_region = classifier(frames, mask_probs, text)
        reference_probs, num_regions = reference(frames, mask_probs, vocabulary)
        # The floor: the CLIP image passes over the same regions in one batch.
        region_inputs = torch.randn(num_regions, 3, *classifier.input_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            medians = interleaved_medians({
                "ours": lambda: classifier(frames, mask_probs, text),
                "reference": lambda: reference(frames, mask_probs, vocabulary),
                "clip_passes_only": lambda: classifier.clip_model.encode_image(region_inputs),
            }, args.warmup, args.repeats)
            top_ops = _profile_top_ops(lambda: classifier(frames, mask_probs, text), device, steps=max(1, args.repeats))
        return {
            "config": args.naming_config,
            "frames": int(frames.shape[0]),
            "queries": int(mask_probs.shape[0]),
            "vocabulary": len(vocabulary),
            "regions": num_regions,
            "queries_with_a_region": int(has_region.sum()),
            "ours_ms": medians["ours"],
            "reference_ms": medians["reference"],
            "clip_passes_only_ms": medians["clip_passes_only"],
            "ratio_reference_over_ours": medians["reference"] / medians["ours"],
            "ours_over_clip_floor": medians["ours"] / medians["clip_passes_only"],
            "max_abs_probability_difference": float((ours_probs - reference_probs).abs().max()),
            "same_top_name": bool((ours_probs.argmax(-1) == reference_probs.argmax(-1))[has_region].all()),
            "profile_top10": top_ops,
        }
    except Exception as error:  # reported in the JSON; the other sections still run
        return error_entry("naming", error)
