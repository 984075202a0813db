"""Fed the same weights and decoder outputs, our inference names and paints exactly as the
original release (re-computed independently in ``release_reference.py``)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import release_reference as release
from extension_case import FixedDecoder, seeded_classifier_weights
from helpers import TINY_OV_AVSS_CONFIG, inference_window, load_config
from ov_avss.modeling import build_model
from ov_avss.modeling.classifier import VILD_TEMPLATES
from ov_avss.structures import VideoInput

NUM_FRAMES = 5
HEIGHT, WIDTH = 80, 100  # padded to 96 x 128 (size divisibility 32)
PADDED = (96, 128)
OUTPUT_SIZE = (90, 120)
# Names as AVSBench writes them, hyphens included (the release puts them in prompts as written).
VOCABULARY = ["duck", "elephant", "emergency-car", "erhu", "flute", "hair-dryer"]


def _decoder_outputs(num_queries: int, hidden_dim: int, seed: int) -> dict:
    """Smooth mask logits on the 1/4 grid of the padded input; a few queries empty."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(num_queries, NUM_FRAMES, 4, 5, generator=generator) * 4.0
    masks = F.interpolate(coarse, size=(PADDED[0] // 4, PADDED[1] // 4), mode="bilinear") - 1.0
    masks[::6] = -6.0
    masks[3, :2] = -6.0  # a query with a region in the last frames only
    return {
        "pred_logits": torch.randn(1, num_queries, 2, generator=generator),
        "pred_masks": masks[None],
        "query_embeddings": torch.randn(1, num_queries, hidden_dim, generator=generator),
        "aux_outputs": [],
    }


def _window(seed: int) -> VideoInput:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (NUM_FRAMES, 3, 10, 10), generator=generator).float()
    frames = F.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bilinear").round().to(torch.uint8)
    return inference_window("release_case", frames, VOCABULARY, OUTPUT_SIZE, generator)


def _input_dependent_clip(model) -> None:
    """Seeded CLIP weights whose image embeddings depend on the region (identity LayerNorms, a
    strong patch embedding, no class-token offset), so that queries get different names."""
    seeded_classifier_weights(model, seed=5, scale=0.3)
    visual = model.classifier.region_classifier.clip_model.visual
    with torch.no_grad():
        for name, parameter in visual.named_parameters():
            if "ln_" in name:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
        visual.conv1.weight.mul_(5.0)
        visual.class_embedding.zero_()


@pytest.fixture(scope="module")
def release_model():
    cfg = load_config(TINY_OV_AVSS_CONFIG)
    cfg.MODEL.CLIP_ADAPTER.PROMPT_NAME = "vild"
    # Between this case's scores (~0.25-0.34), so that some kept pairs are painted and some not.
    cfg.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD = 0.27
    model = build_model(cfg).eval()
    _input_dependent_clip(model)
    return cfg, model


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_naming_and_painting_equal_the_release(release_model, seed):
    cfg, model = release_model
    outputs = _decoder_outputs(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM, seed)
    window = _window(seed)
    model.transformer_decoder = FixedDecoder(outputs)
    with torch.no_grad():
        (ours,) = model([window])

        # The release, step by step.
        clip_model = model.classifier.region_classifier.clip_model
        frames = window["frames"].float()
        upsampled = F.interpolate(outputs["pred_masks"][0], size=PADDED, mode="bilinear", align_corners=False)
        probs, valid_masks, valid_queries = release.open_vocabulary_inference(
            clip_model, VILD_TEMPLATES, upsampled, frames, VOCABULARY
        )
        scores, labels, topk, masks = release.inference_video(
            len(VOCABULARY), probs, valid_masks, (HEIGHT, WIDTH), OUTPUT_SIZE
        )
        semantic = release.paint(scores, labels, masks, cfg.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD)

        # Per-query probabilities.
        our_probs, has_region = model.classifier(
            frames, upsampled.sigmoid(), outputs["query_embeddings"][0], VOCABULARY
        )
    assert torch.equal(has_region.nonzero()[:, 0], valid_queries)
    torch.testing.assert_close(our_probs[valid_queries], probs, rtol=1e-4, atol=1e-7)
    # Kept pairs (the release's top-10 is unsorted: compare as sets, scores by pair).
    theirs = {(int(valid_queries[q]), label): score for q, label, score in zip(topk.tolist(), labels, scores)}
    segments = ours["segments"]
    mine = {
        (q, label): score
        for q, label, score in zip(segments["query_indices"].tolist(), segments["labels"].tolist(), segments["scores"].tolist())
    }
    assert mine.keys() == theirs.keys()
    for pair, score in theirs.items():
        assert mine[pair] == pytest.approx(score, rel=1e-4)
    # Per-frame semantic maps: exactly.
    assert torch.equal(ours["sem_seg"], semantic)
    threshold = cfg.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD
    assert semantic.any() and min(scores) <= threshold  # pairs painted and pairs dropped


def test_no_query_with_a_region_gives_an_empty_map(release_model):
    cfg, model = release_model
    outputs = _decoder_outputs(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM, 0)
    outputs["pred_masks"] = torch.full_like(outputs["pred_masks"], -6.0)
    model.transformer_decoder = FixedDecoder(outputs)
    with torch.no_grad():
        (ours,) = model([_window(0)])
    assert ours["sem_seg"].shape == (NUM_FRAMES, *OUTPUT_SIZE) and not ours["sem_seg"].any()
    assert ours["segments"]["scores"].numel() == 0
    assert ours["segments"]["masks"].shape == (0, NUM_FRAMES, *OUTPUT_SIZE)


def _naming_inputs(model, cfg, device):
    outputs = _decoder_outputs(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM, 0)
    upsampled = F.interpolate(outputs["pred_masks"][0], size=PADDED, mode="bilinear", align_corners=False)
    frames = _window(0)["frames"].float()
    return frames.to(device), upsampled.sigmoid().to(device), outputs["query_embeddings"][0].to(device)


def _autocast_matches(model, cfg, device: str, dtype: torch.dtype) -> None:
    frames, mask_probs, embeddings = _naming_inputs(model, cfg, device)
    with torch.no_grad():
        exact, exact_region = model.classifier(frames, mask_probs, embeddings, VOCABULARY)
        with torch.autocast(device, dtype=dtype):
            mixed, mixed_region = model.classifier(frames, mask_probs, embeddings, VOCABULARY)
    assert mixed.dtype == torch.float32 and torch.equal(mixed_region, exact_region)
    # Reduced-precision CLIP: probabilities move by rounding only.
    torch.testing.assert_close(mixed, exact, rtol=0, atol=5e-2)


def test_naming_under_cpu_autocast(release_model):
    cfg, model = release_model
    _autocast_matches(model, cfg, "cpu", torch.bfloat16)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_naming_on_gpu_equals_cpu_and_runs_under_autocast(release_model):
    cfg, model = release_model
    frames, mask_probs, embeddings = _naming_inputs(model, cfg, "cpu")
    with torch.no_grad():
        cpu_probs, cpu_region = model.classifier(frames, mask_probs, embeddings, VOCABULARY)
        model.cuda()
        try:
            gpu_probs, gpu_region = model.classifier(frames.cuda(), mask_probs.cuda(), embeddings.cuda(), VOCABULARY)
            assert torch.equal(gpu_region.cpu(), cpu_region)
            torch.testing.assert_close(gpu_probs.cpu(), cpu_probs, rtol=1e-4, atol=1e-6)
            _autocast_matches(model, cfg, "cuda", torch.float16)
        finally:
            model.cpu()
