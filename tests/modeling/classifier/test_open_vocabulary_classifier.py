"""CLIP region classifier, prompt templates, weights loading and the learned ensemble."""
from __future__ import annotations

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_metadata, with_seen_categories
from ov_avss.modeling.classifier import (
    IMAGENET_TEMPLATES,
    VILD_TEMPLATES,
    OpenVocabularyClassifier,
    build_clip_model,
    geometric_ensemble,
    get_prompt_templates,
    resolve_clip_model_name,
    square_boxes_from_masks,
)

VOCABULARY = ["dog", "emergency-car", "piano"]


def _cfg(ensemble: bool = True):
    cfg = get_cfg()
    cfg.MODEL.CLIP_ADAPTER.CLIP_MODEL_NAME = "ov-avss-tiny-clip"
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = True
    cfg.MODEL.CLIP_ADAPTER.PROMPT_NAME = "single"
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED = ensemble
    return cfg


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return OpenVocabularyClassifier.from_config(with_seen_categories(_cfg(ensemble=True)), query_dim=16)


def _frames_and_masks():
    """Frames ``[2, 3, 40, 48]`` and mask probabilities ``[3, 2, 40, 48]`` at the frames' size."""
    frames = torch.full((2, 3, 40, 48), 100.0)
    frames[:, 0, 8:24, 8:20] = 250.0
    mask_logits = torch.full((3, 2, 10, 12), -5.0)
    mask_logits[0, :, 2:6, 2:5] = 5.0  # query 0: the red patch in both frames
    mask_logits[1, 1, 6:9, 8:11] = 5.0  # query 1: frame 1 only
    mask_probs = torch.nn.functional.interpolate(mask_logits, size=(40, 48), mode="bilinear").sigmoid()
    return frames, mask_probs  # query 2: empty everywhere


def test_templates_by_name():
    assert len(VILD_TEMPLATES) == 14
    assert len(IMAGENET_TEMPLATES) == 80 and all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert get_prompt_templates("single") == ("a photo of a {}.",)
    assert get_prompt_templates("predefined", ["a {} sound."]) == ("a {} sound.",)
    with pytest.raises(ValueError, match="exactly one"):
        get_prompt_templates("predefined", ["no placeholder"])
    with pytest.raises(ValueError, match="PROMPT_NAME"):
        get_prompt_templates("coco")


def test_published_and_open_clip_names():
    assert resolve_clip_model_name("ViT-B/16") == "ViT-B-16"
    assert resolve_clip_model_name("ViT-L/14@336px") == "ViT-L-14-336"
    assert resolve_clip_model_name("ViT-B-16") == "ViT-B-16"
    with pytest.raises(ValueError, match="CLIP_MODEL_NAME"):
        resolve_clip_model_name("ViT-Z/99")


def test_missing_weight_file_names_key_and_path(tmp_path):
    cfg = _cfg()
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = False
    cfg.MODEL.CLIP_ADAPTER.CLIP_PRETRAINED = str(tmp_path / "ViT-B-16.pt")
    with pytest.raises(FileNotFoundError, match="CLIP_PRETRAINED.*ViT-B-16.pt"):
        build_clip_model(cfg)


def test_weights_load_from_a_local_state_dict_file(tmp_path):
    torch.manual_seed(1)
    source, _ = build_clip_model(_cfg())
    path = tmp_path / "tiny_clip.pt"
    torch.save(source.state_dict(), path)
    cfg = _cfg()
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = False
    cfg.MODEL.CLIP_ADAPTER.CLIP_PRETRAINED = str(path)
    torch.manual_seed(2)
    loaded, _ = build_clip_model(cfg)
    for (name, expected), actual in zip(source.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(actual, expected, msg=name)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_text_embeddings_are_normalised_and_cached(classifier):
    first = classifier.text_embeddings(VOCABULARY)
    assert first.shape == (3, classifier.region_classifier.embed_dim)
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(3))
    assert classifier.text_embeddings(list(VOCABULARY)) is first
    other = classifier.text_embeddings(VOCABULARY[:2])
    assert other is not first and other.shape[0] == 2
    torch.testing.assert_close(other, first[:2])


def test_clip_is_frozen_and_stays_in_eval_mode(classifier):
    classifier.train()
    assert not classifier.region_classifier.clip_model.training
    assert not any(p.requires_grad for p in classifier.region_classifier.clip_model.parameters())
    assert all(p.requires_grad for p in classifier.ensemble_head.parameters())
    classifier.eval()


def test_square_boxes_around_masks():
    masks = torch.zeros(2, 10, 12, dtype=torch.bool)
    masks[0, 2:6, 3:5] = True  # 4 tall, 2 wide -> 4x4 square from the top-left corner (3, 2)
    masks[1, 0:1, 0:12] = True  # 1 tall, 12 wide -> 12x12, past the bottom of the image
    boxes = square_boxes_from_masks(masks)
    torch.testing.assert_close(boxes[0], torch.tensor([3.0, 2.0, 7.0, 6.0]))
    torch.testing.assert_close(boxes[1], torch.tensor([0.0, 0.0, 12.0, 12.0]))


def test_region_probabilities_ignore_pixels_outside_the_mask(classifier):
    frames, mask_logits = _frames_and_masks()
    text = classifier.text_embeddings(VOCABULARY)
    probs, has_region = classifier.region_classifier(frames, mask_logits, text)
    assert probs.shape == (3, 3)
    assert has_region.tolist() == [True, True, False]
    torch.testing.assert_close(probs[:2].sum(-1), torch.ones(2))
    assert torch.all(probs[2] == 0)
    repainted = frames.clone()
    repainted[:, :, 34:, 34:] = 0.0  # outside query 0's square box
    repainted_probs, _ = classifier.region_classifier(repainted, mask_logits, text)
    torch.testing.assert_close(repainted_probs[0], probs[0])


def test_query_scores_are_the_softmax_of_logits_averaged_over_non_empty_frames(classifier):
    frames, mask_logits = _frames_and_masks()
    text = classifier.text_embeddings(VOCABULARY)
    probs, _ = classifier.region_classifier(frames, mask_logits, text)
    frame0, _ = classifier.region_classifier(frames[:1], mask_logits[:, :1], text)
    frame1, _ = classifier.region_classifier(frames[1:], mask_logits[:, 1:], text)
    # Per-frame logits are log-probabilities up to a constant: their mean's softmax is the
    # normalised geometric mean of the per-frame probabilities.
    geometric = (frame0[0] * frame1[0]).sqrt()
    torch.testing.assert_close(probs[0], geometric / geometric.sum())
    torch.testing.assert_close(probs[1], frame1[1])  # its frame 0 is empty


def test_ensemble_off_is_exactly_clip(classifier):
    torch.manual_seed(0)
    clip_only = OpenVocabularyClassifier.from_config(_cfg(ensemble=False), query_dim=16)
    assert clip_only.ensemble_head is None
    assert sum(p.numel() for p in clip_only.parameters() if p.requires_grad) == 0
    frames, mask_logits = _frames_and_masks()
    probs, _ = clip_only(frames, mask_logits, torch.randn(3, 16), VOCABULARY)
    expected, _ = clip_only.region_classifier(frames, mask_logits, clip_only.text_embeddings(VOCABULARY))
    assert torch.equal(probs, expected)


def test_seen_names_are_the_training_datasets_vocabularies():
    """The builders' fill (``with_seen_categories``) names the DATASETS.TRAIN vocabularies; the
    classifier reads them from the config, not from the data catalog."""
    cfg = _cfg()  # the default DATASETS.TRAIN is the AVSBench-OV base split
    filled = with_seen_categories(cfg)
    assert filled.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES == list(get_dataset_metadata("avsbench_ov_train_base").vocabulary)
    assert cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES == []  # a copy is filled
    assert OpenVocabularyClassifier.from_config(filled, query_dim=16).seen_categories == set(
        get_dataset_metadata("avsbench_ov_train_base").vocabulary
    )
    cfg.DATASETS.TRAIN = ("avsbench_ov_train_base", "avsbench_semantic_train")
    both = OpenVocabularyClassifier.from_config(with_seen_categories(cfg), query_dim=16)
    assert both.seen_categories == set(get_dataset_metadata("avsbench_semantic_train").vocabulary)
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES = ["dog"]
    assert with_seen_categories(cfg) is cfg  # set names are kept
    assert OpenVocabularyClassifier.from_config(cfg, query_dim=16).seen_categories == {"dog"}


def test_learned_head_without_training_datasets_or_seen_names_is_an_error():
    cfg = _cfg()
    with pytest.raises(ValueError, match="needs SEEN_CATEGORIES, the names the head was trained on"):
        OpenVocabularyClassifier.from_config(cfg, query_dim=16)
    cfg.DATASETS.TRAIN = ()
    with pytest.raises(ValueError, match="DATASETS.TRAIN is empty and LEARNED_HEAD.SEEN_CATEGORIES"):
        with_seen_categories(cfg)
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED = False  # without the head no names are needed
    assert with_seen_categories(cfg) is cfg
    assert OpenVocabularyClassifier.from_config(cfg, query_dim=16).seen_categories == set()


def test_geometric_ensemble_weights_seen_and_novel_names():
    learned = torch.tensor([[0.9, 0.05, 0.05]])
    clip = torch.tensor([[0.1, 0.1, 0.8]])
    seen = torch.tensor([True, True, False])
    combined = geometric_ensemble(learned, clip, seen, seen_clip_weight=0.5, novel_clip_weight=0.8)
    raw = torch.tensor([0.9**0.5 * 0.1**0.5, 0.05**0.5 * 0.1**0.5, 0.05**0.2 * 0.8**0.8])
    torch.testing.assert_close(combined[0], raw / raw.sum())
    only_clip = geometric_ensemble(learned, clip, seen, seen_clip_weight=1.0, novel_clip_weight=1.0)
    torch.testing.assert_close(only_clip, clip)


def test_ensemble_loss_trains_the_head_on_matched_queries(classifier):
    queries = torch.randn(2, 5, 16, requires_grad=True)
    matched = [(torch.tensor([1, 3]), torch.tensor([1, 0])), (torch.tensor([], dtype=torch.int64),) * 2]
    labels = [torch.tensor([2, 0]), torch.tensor([], dtype=torch.int64)]
    loss = classifier.ensemble_loss(queries, matched, labels, [VOCABULARY, VOCABULARY])
    loss.backward()
    assert loss.item() > 0
    assert queries.grad[0, [1, 3]].abs().sum() > 0
    assert queries.grad[0, [0, 2, 4]].abs().sum() == 0 and queries.grad[1].abs().sum() == 0
    assert classifier.ensemble_head.projection.weight.grad is not None
    assert all(p.grad is None for p in classifier.region_classifier.clip_model.parameters())


def test_unseen_names_are_never_chosen_when_the_config_says_so():
    """``LEARNED_HEAD.NAME_UNSEEN False``: unseen names get probability 0 and the seen names keep
    the ensemble's proportions, renormalised."""
    cfg = _cfg()
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES = ["dog", "piano"]
    torch.manual_seed(0)
    naming_all = OpenVocabularyClassifier.from_config(cfg, query_dim=16)
    cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.NAME_UNSEEN = False
    torch.manual_seed(0)
    seen_only = OpenVocabularyClassifier.from_config(cfg, query_dim=16)
    frames, mask_probs = _frames_and_masks()
    queries = torch.randn(3, 16)
    every_name, _ = naming_all(frames, mask_probs, queries, VOCABULARY)
    probs, _ = seen_only(frames, mask_probs, queries, VOCABULARY)
    assert (probs[2] == 0).all() and (every_name[2] == 0).all()  # query 2 has no region
    every_name, probs = every_name[:2], probs[:2]
    assert (every_name[:, 1] > 0).all()  # "emergency-car" (unseen) has a probability with the default
    assert (probs[:, 1] == 0).all()
    seen = every_name[:, [0, 2]]
    torch.testing.assert_close(probs[:, [0, 2]], seen / seen.sum(dim=-1, keepdim=True), rtol=1e-6, atol=1e-7)
