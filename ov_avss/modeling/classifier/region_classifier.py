"""Zero-shot classification of mask regions with a frozen CLIP."""
from __future__ import annotations

import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from .templates import split_name_words

# Cosine similarities are scaled by CLIP's trained temperature (100) before the softmax.
CLIP_LOGIT_SCALE = 100.0
TEXT_BATCH_SIZE = 1024
# Regions per CLIP image call (bounds memory; the result does not depend on it).
REGION_BATCH_SIZE = 64


def square_boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """The release's crop box of each mask, in pixel coordinates (pixel ``i`` spans ``[i, i+1)``).

    The bounding box ``(x0, y0, x1, y1)`` (``x1`` = last foreground column + 1, as detectron2's
    ``BitMasks.get_bounding_boxes``) is turned into a square of side ``max(x1 - x0, y1 - y0)``
    anchored at its top-left corner ``(x0, y0)``; it may extend past the image.

    Args:
        masks: bool ``[R, H, W]``; each mask must be non-empty.

    Returns:
        ``[R, 4]`` float ``(x0, y0, x0 + side, y0 + side)``.
    """
    height, width = masks.shape[-2:]
    rows = masks.any(dim=-1)  # [R, H]
    cols = masks.any(dim=-2)  # [R, W]
    y0 = rows.int().argmax(dim=-1)
    y1 = height - rows.flip(-1).int().argmax(dim=-1)
    x0 = cols.int().argmax(dim=-1)
    x1 = width - cols.flip(-1).int().argmax(dim=-1)
    side = torch.maximum(x1 - x0, y1 - y0)
    return torch.stack((x0, y0, x0 + side, y0 + side), dim=-1).float()


class ClipRegionClassifier(nn.Module):
    """Frozen CLIP scoring mask regions against text embeddings of a vocabulary, as the
    release's ``ClipAdapter`` does.

    Text embeddings: every name is put into every prompt template (as written, or with ``-`` /
    ``_`` as spaces when ``split_name_words``), encoded, L2-normalised, averaged over templates
    and normalised again; cached per vocabulary.

    Regions: a query's soft mask (mask probabilities at the input frame's size) is a region in
    every frame where it exceeds 0.5 somewhere. The square box of that binary mask
    (:func:`square_boxes_from_masks`) is cut, at CLIP's input size, from the frame and from the
    soft mask with ``roi_align`` (``aligned=False``, adaptive sampling); the region image is
    ``soft_mask * frame`` (black outside), CLIP-normalised. A query's probabilities are
    ``softmax`` over the vocabulary of ``100 * cos(image, text)`` averaged over its regions.
    All regions of a window go through CLIP together (in chunks of ``REGION_BATCH_SIZE``).
    """

    def __init__(
        self, clip_model: nn.Module, arch: str, templates: tuple[str, ...], split_name_words: bool = False
    ) -> None:
        super().__init__()
        self.clip_model = clip_model
        self.clip_model.requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.templates = tuple(templates)
        self.split_name_words = split_name_words
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
        names = [split_name_words(name) if self.split_name_words else name for name in key]
        prompts = [template.format(name) for name in names for template in self.templates]
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
        self, frames: torch.Tensor, mask_probs: torch.Tensor, text_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify every query's regions.

        Args:
            frames: float ``[T, 3, H, W]``, RGB 0-255 (the unpadded input frames).
            mask_probs: ``[Q, T, Hm, Wm]`` mask probabilities at the input resolution, ``Hm >= H``,
                ``Wm >= W`` (the padded input grid; the frame occupies its top-left corner).
            text_embeddings: ``[K, E]`` from :meth:`text_embeddings`.

        Returns:
            ``probs [Q, K]`` (zero rows for queries without a region) and ``has_region`` bool
            ``[Q]``.
        """
        num_queries, num_frames = mask_probs.shape[:2]
        probs = torch.zeros(num_queries, text_embeddings.shape[0], device=mask_probs.device)
        foreground = mask_probs > 0.5
        non_empty = foreground.flatten(2).any(dim=-1)  # [Q, T]
        region_query, region_frame = non_empty.nonzero(as_tuple=True)  # R regions
        if region_query.numel() == 0:
            return probs, non_empty.any(dim=1)
        boxes = square_boxes_from_masks(foreground[region_query, region_frame])  # [R, 4]
        region_index = (region_query * num_frames + region_frame).to(boxes.dtype)
        mask_crops = roi_align(
            mask_probs.flatten(0, 1)[:, None].float(), torch.cat((region_index[:, None], boxes), dim=1),
            output_size=self.input_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
        )  # [R, 1, S, S]
        image_crops = roi_align(
            frames.float(), torch.cat((region_frame.to(boxes.dtype)[:, None], boxes), dim=1),
            output_size=self.input_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
        )  # [R, 3, S, S]
        # The release then resizes bicubically to CLIP's input size, which the crops already have
        # (an identity), and CLIP-normalises.
        region_inputs = (mask_crops * image_crops / 255.0 - self.clip_mean) / self.clip_std
        image_embeddings = torch.cat(
            [
                self.clip_model.encode_image(region_inputs[start:start + REGION_BATCH_SIZE], normalize=True).float()
                for start in range(0, region_inputs.shape[0], REGION_BATCH_SIZE)
            ]
        )
        # Similarities in float32 even under autocast: at scale 100, half-precision rounding of
        # the logits would move the probabilities.
        with torch.autocast(device_type=image_embeddings.device.type, enabled=False):
            region_logits = CLIP_LOGIT_SCALE * image_embeddings @ text_embeddings.float().T  # [R, K]
        # Logits (not probabilities) are averaged over a query's regions, then the softmax.
        summed = torch.zeros_like(probs).index_add_(0, region_query, region_logits)
        region_counts = non_empty.sum(dim=1)  # [Q]
        has_region = region_counts > 0
        probs[has_region] = (summed[has_region] / region_counts[has_region, None]).softmax(dim=-1)
        return probs, has_region
