"""Zero-shot classification of mask regions with a frozen CLIP."""
from __future__ import annotations

import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from .templates import prompt_name_for

# Cosine similarities are scaled by CLIP's trained temperature (100) before the softmax.
CLIP_LOGIT_SCALE = 100.0
TEXT_BATCH_SIZE = 1024


def square_boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """Square box around each mask, in pixel coordinates (pixel ``i`` spans ``[i, i+1)``).

    Args:
        masks: bool ``[R, h, w]``; each mask must be non-empty.

    Returns:
        ``[R, 4]`` float ``(x0, y0, x1, y1)``: centred on the mask's bounding box, side = the
        longer side of that box (may extend past the image; outside reads as background).
    """
    height, width = masks.shape[-2:]
    rows = masks.any(dim=-1)  # [R, h]
    cols = masks.any(dim=-2)  # [R, w]
    y0 = rows.int().argmax(dim=-1)
    y1 = height - rows.flip(-1).int().argmax(dim=-1)
    x0 = cols.int().argmax(dim=-1)
    x1 = width - cols.flip(-1).int().argmax(dim=-1)
    center_x, center_y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half_side = torch.maximum(x1 - x0, y1 - y0).float() / 2.0
    return torch.stack(
        (center_x - half_side, center_y - half_side, center_x + half_side, center_y + half_side), dim=-1
    )


class ClipRegionClassifier(nn.Module):
    """Frozen CLIP scoring mask regions against text embeddings of a vocabulary.

    Text embeddings: every name is put into every prompt template, encoded, L2-normalised,
    averaged over templates and normalised again; cached per vocabulary.

    Region scores for a query ``q`` and frame ``t`` with a non-empty mask: the square box around
    the mask is cut from the frame with ``roi_align`` at CLIP's input size, pixels outside the
    mask are set to CLIP's mean colour, and ``softmax(100 * cos(image_embedding,
    text_embeddings))`` is taken over the vocabulary. A query's scores are the mean over its
    non-empty frames.
    """

    def __init__(self, clip_model: nn.Module, arch: str, templates: tuple[str, ...]) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.clip_model.requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.templates = tuple(templates)
        image_size = clip_model.visual.image_size
        self.input_size = tuple(image_size) if isinstance(image_size, (tuple, list)) else (image_size, image_size)
        preprocess = clip_model.visual.preprocess_cfg
        self.register_buffer("clip_mean", torch.tensor(preprocess["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(preprocess["std"]).view(1, 3, 1, 1), persistent=False)
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    def train(self, mode: bool = True) -> "ClipRegionClassifier":
        """CLIP stays in eval mode whatever the model's mode (frozen feature extractor)."""
        super().train(mode)
        self.clip_model.eval()
        return self

    @property
    def embed_dim(self) -> int:
        return int(self.clip_model.text_projection.shape[-1])

    @torch.no_grad()
    def text_embeddings(self, vocabulary: list[str] | tuple[str, ...]) -> torch.Tensor:
        """Normalised text embeddings ``[K, E]`` of ``vocabulary`` (cached per vocabulary)."""
        if len(vocabulary) == 0:
            raise ValueError("The vocabulary is empty: at least one category name is needed")
        key = tuple(vocabulary)
        device = self.clip_mean.device
        cached = self._text_cache.get(key)
        if cached is not None and cached.device == device:
            return cached
        prompts = [template.format(prompt_name_for(name)) for name in key for template in self.templates]
        tokens = self.tokenizer(prompts).to(device)
        embeddings = torch.cat(
            [
                self.clip_model.encode_text(tokens[start:start + TEXT_BATCH_SIZE], normalize=True)
                for start in range(0, tokens.shape[0], TEXT_BATCH_SIZE)
            ]
        )
        embeddings = embeddings.view(len(key), len(self.templates), -1).mean(dim=1)
        embeddings = F.normalize(embeddings.float(), dim=-1)
        self._text_cache[key] = embeddings
        return embeddings

    @torch.no_grad()
    def forward(
        self, frames: torch.Tensor, mask_logits: torch.Tensor, text_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify every query's regions.

        Args:
            frames: float ``[T, 3, H, W]``, RGB 0-255 (the valid, unpadded image area).
            mask_logits: ``[Q, T, h, w]`` on a grid covering the same area (any stride).
            text_embeddings: ``[K, E]`` from :meth:`text_embeddings`.

        Returns:
            ``probs [Q, K]`` (mean over the query's non-empty frames) and ``has_region`` bool
            ``[Q]`` (False where the mask is empty in every frame; its ``probs`` are 0).
        """
        num_queries, num_frames, mask_h, mask_w = mask_logits.shape
        image_h, image_w = frames.shape[-2:]
        foreground = mask_logits > 0
        non_empty = foreground.flatten(2).any(dim=-1)  # [Q, T]
        region_query, region_frame = non_empty.nonzero(as_tuple=True)  # R regions
        probs = torch.zeros(num_queries, text_embeddings.shape[0], device=mask_logits.device)
        if region_query.numel() == 0:
            return probs, non_empty.any(dim=1)

        mask_boxes = square_boxes_from_masks(foreground[region_query, region_frame])  # [R, 4]
        scale = mask_boxes.new_tensor([image_w / mask_w, image_h / mask_h, image_w / mask_w, image_h / mask_h])
        region_index = (region_query * num_frames + region_frame).to(mask_boxes.dtype)
        mask_crops = roi_align(
            mask_logits.flatten(0, 1)[:, None].float(),
            torch.cat((region_index[:, None], mask_boxes), dim=1),
            output_size=self.input_size, spatial_scale=1.0, sampling_ratio=2, aligned=True,
        )  # [R, 1, S, S]
        normalised_frames = (frames.float() / 255.0 - self.clip_mean) / self.clip_std
        image_crops = roi_align(
            normalised_frames,
            torch.cat((region_frame.to(mask_boxes.dtype)[:, None], mask_boxes * scale), dim=1),
            output_size=self.input_size, spatial_scale=1.0, sampling_ratio=2, aligned=True,
        )  # [R, 3, S, S]
        # After normalisation CLIP's mean colour is 0: zeroing = filling the background with it.
        region_inputs = image_crops * (mask_crops > 0).to(image_crops.dtype)
        image_embeddings = self.clip_model.encode_image(region_inputs, normalize=True).float()
        region_probs = (CLIP_LOGIT_SCALE * image_embeddings @ text_embeddings.T).softmax(dim=-1)  # [R, K]

        probs.index_add_(0, region_query, region_probs)
        region_counts = non_empty.sum(dim=1)  # [Q]
        probs = probs / region_counts.clamp(min=1)[:, None]
        return probs, region_counts > 0
