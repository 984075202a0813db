"""A fixed inference case for the naming extension (learned text-space head + objectness
ranking): seeded classifier weights, seeded decoder outputs and frames.

``make_extension_fixture.py`` ran this case through the framework at commit e62f34f (before the
release's naming became the default) and saved what it produced; the test checks that the
extension path still produces exactly that.
"""
from __future__ import annotations

from pathlib import Path

import torch

from helpers import inference_window
from ov_avss.config import get_cfg
from ov_avss.data.catalog import with_seen_categories
from ov_avss.data.categories import CATEGORIES
from ov_avss.modeling import build_model
from ov_avss.structures import VideoInput

REPO_ROOT = Path(__file__).resolve().parents[3]
QUICKSTART_CONFIG = REPO_ROOT / "configs" / "quickstart" / "OV_AVSS_tiny_synthetic.yaml"
FIXTURE = Path(__file__).with_name("fixtures") / "extension_naming_e62f34f.pt"
VOCABULARY_SIZE = 70
NUM_FRAMES, HEIGHT, WIDTH = 5, 96, 96
OUTPUT_SIZE = (120, 150)


def seeded_classifier_weights(model: torch.nn.Module, seed: int = 7, scale: float = 0.2) -> None:
    """Overwrite every classifier tensor (CLIP and learned head) with seeded values, in name
    order, so that the weights do not depend on how the model was constructed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.classifier.named_parameters()):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * scale)
            if name.endswith("logit_scale"):
                tensor.fill_(4.0)  # a sharp learned head, so that the ranking is not a near-tie


def decoder_outputs(num_queries: int, hidden_dim: int, seed: int = 11) -> dict:
    """Decoder outputs of one window: smooth mask logits (some queries empty), objectness logits."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(num_queries, NUM_FRAMES, 6, 6, generator=generator) * 3.0
    masks = torch.nn.functional.interpolate(coarse, size=(HEIGHT // 4, WIDTH // 4), mode="bilinear")
    masks = masks - torch.linspace(0.0, 4.0, num_queries)[:, None, None, None]
    masks[::7] = -5.0  # empty everywhere
    return {
        "pred_logits": torch.randn(1, num_queries, 2, generator=generator) * 0.5,
        "pred_masks": masks[None],
        "query_embeddings": torch.randn(1, num_queries, hidden_dim, generator=generator),
        "aux_outputs": [],
    }


def video_input(vocabulary: list[str], seed: int = 3) -> VideoInput:
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (NUM_FRAMES, 3, HEIGHT // 8, WIDTH // 8), generator=generator, dtype=torch.uint8)
    frames = torch.nn.functional.interpolate(frames.float(), size=(HEIGHT, WIDTH), mode="bilinear").to(torch.uint8)
    return inference_window("extension_case", frames, vocabulary, OUTPUT_SIZE, generator)


class FixedDecoder(torch.nn.Module):
    """Stands in for the transformer decoder: returns the given outputs whatever its inputs."""

    def __init__(self, outputs: dict) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, *args, **kwargs) -> dict:
        return self.outputs


def run_case(score_threshold: float | None = None, name_unseen: bool | None = None) -> dict:
    """The quickstart config's model (CPU) on the case: its output for the one window.
    ``score_threshold`` replaces ``OBJECTNESS_RANKING.SCORE_THRESHOLD`` and ``name_unseen``
    ``LEARNED_HEAD.NAME_UNSEEN`` (None: the config's)."""
    cfg = get_cfg()
    cfg.merge_from_file(str(QUICKSTART_CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    if score_threshold is not None:
        cfg.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING.SCORE_THRESHOLD = score_threshold
    if name_unseen is not None:
        cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.NAME_UNSEEN = name_unseen
    model = build_model(with_seen_categories(cfg)).eval()
    seeded_classifier_weights(model)
    model.transformer_decoder = FixedDecoder(
        decoder_outputs(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM)
    )
    with torch.no_grad():
        (output,) = model([video_input(list(CATEGORIES))])
    return output
