"""OV_AVSS in eval mode: output contract, open vocabulary, original-size maps."""
from __future__ import annotations

import pytest
import torch

from helpers import TINY_OV_AVSS_CONFIG, load_config
from ov_avss.modeling import build_model

UNSEEN_VOCABULARY = ("theremin", "kazoo", "didgeridoo")


@pytest.fixture(scope="module")
def eval_model():
    torch.manual_seed(0)
    cfg = load_config(TINY_OV_AVSS_CONFIG)
    model = build_model(cfg)
    model.eval()
    return cfg, model


def test_outputs_follow_the_contract_at_original_size(eval_model, make_window):
    cfg, model = eval_model
    window = make_window(num_frames=3, height=64, width=64, with_targets=False)
    window["height"], window["width"] = 90, 120  # frames were resized by the mapper
    with torch.no_grad():
        (output,) = model([window])
    top_k = cfg.MODEL.MASK_FORMER.TEST.TOP_K
    assert output["sem_seg"].shape == (3, 90, 120) and output["sem_seg"].dtype == torch.int64
    assert output["sounding_prob"].shape == (3, 90, 120) and output["sounding_prob"].dtype == torch.float32
    assert 0 <= output["sounding_prob"].min() and output["sounding_prob"].max() <= 1
    segments = output["segments"]
    assert segments["scores"].shape == (top_k,)
    assert segments["labels"].dtype == torch.int64 and segments["query_indices"].dtype == torch.int64
    assert segments["masks"].shape == (top_k, 3, 90, 120) and segments["masks"].dtype == torch.bool
    assert torch.all(segments["scores"][:-1] >= segments["scores"][1:])
    assert segments["query_indices"].max() < cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES


def test_unseen_vocabulary_labels_come_from_that_vocabulary(eval_model, make_window):
    _, model = eval_model
    window = make_window(vocabulary=UNSEEN_VOCABULARY, with_targets=False, seed=4)
    with torch.no_grad():
        (output,) = model([window])
    assert set(output["sem_seg"].unique().tolist()) <= set(range(len(UNSEEN_VOCABULARY) + 1))
    assert output["segments"]["labels"].max() < len(UNSEEN_VOCABULARY)


def test_semantic_map_paints_higher_scores_on_top(eval_model, make_window):
    cfg, model = eval_model
    with torch.no_grad():
        (output,) = model([make_window(with_targets=False, seed=5)])
    segments = output["segments"]
    threshold = cfg.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD
    expected = torch.zeros_like(output["sem_seg"])
    # Reference painting: ascending score order, later (higher) overwrites; only above threshold.
    for index in torch.argsort(segments["scores"]).tolist():
        if segments["scores"][index] > threshold:
            expected[segments["masks"][index]] = segments["labels"][index] + 1
    assert torch.equal(output["sem_seg"], expected)


def test_pairs_at_or_below_the_score_threshold_are_not_painted(make_window):
    torch.manual_seed(0)
    cfg = load_config(TINY_OV_AVSS_CONFIG)
    cfg.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD = 1.0  # probabilities never exceed it
    model = build_model(cfg).eval()
    with torch.no_grad():
        (output,) = model([make_window(with_targets=False, seed=5)])
    assert output["segments"]["masks"].any()  # pairs are kept ...
    assert not output["sem_seg"].any()  # ... but none is painted


def test_single_word_vocabulary_and_empty_vocabulary(eval_model, make_window):
    _, model = eval_model
    with torch.no_grad():
        (output,) = model([make_window(vocabulary=("harp",), with_targets=False)])
        assert set(output["sem_seg"].unique().tolist()) <= {0, 1}
        window = make_window(with_targets=False)
        window["vocabulary"] = []
        with pytest.raises(ValueError, match="vocabulary is empty"):
            model([window])
