"""The extensions (learned head + objectness ranking + split name words), as the quickstart
config turns them on, compute what the framework computed before they became optional: the
same queries, names and painted map, scores to float32 rounding (fixture written at commit
e62f34f by make_extension_fixture.py, when every kept pair was painted and every name could be
chosen: score threshold 0.0, NAME_UNSEEN True). With the quickstart's threshold, the pairs at or
below it paint nothing."""
from __future__ import annotations

import torch

from extension_case import FIXTURE, run_case


def test_quickstart_extension_path_reproduces_the_recorded_naming():
    output = run_case(score_threshold=0.0, name_unseen=True)
    recorded = torch.load(FIXTURE, weights_only=True)
    segments = output["segments"]
    assert torch.equal(segments["query_indices"], recorded["query_indices"])
    assert torch.equal(segments["labels"], recorded["labels"])
    # The fixture was written on another CPU: the same ops round float32 sums differently on
    # another vendor's vector units (exact on the Intel VM that wrote it, 1-ulp apart on AMD EPYC).
    torch.testing.assert_close(segments["scores"], recorded["scores"], rtol=1e-5, atol=1e-7)
    assert torch.equal(output["sem_seg"], recorded["sem_seg"].to(torch.int64))
    assert len(recorded["sem_seg"].unique()) > 2  # several names painted: the case is not trivial


def test_kept_pairs_at_or_below_the_score_threshold_paint_nothing():
    threshold = 0.1  # the quickstart config's OBJECTNESS_RANKING.SCORE_THRESHOLD
    every_pair = run_case(score_threshold=0.0, name_unseen=True)
    output = run_case(name_unseen=True)
    segments = every_pair["segments"]
    # The same kept pairs either way: the threshold changes only what is painted.
    for key in ("query_indices", "labels", "scores"):
        assert torch.equal(output["segments"][key], segments[key])
    # Pairs are in descending score order and a pixel takes the first mask covering it, so the
    # map without the low pairs is the full map with their pixels made background.
    top_cover = segments["masks"].to(torch.uint8).argmax(dim=0)
    expected = torch.where(segments["scores"][top_cover] > threshold, every_pair["sem_seg"], 0)
    assert torch.equal(output["sem_seg"], expected)
    assert (segments["scores"] <= threshold).any() and not torch.equal(expected, every_pair["sem_seg"])


def test_published_configs_are_the_release_and_extension_configs_differ_only_by_extensions():
    from extension_case import REPO_ROOT
    from ov_avss.config import get_cfg

    pairs = [
        ("configs/avsbench/OV_AVSS_R50.yaml", "configs/extensions/OV_AVSS_R50_learned_head.yaml"),
        ("configs/avsbench/swin/OV_AVSS_SwinB.yaml", "configs/extensions/swin/OV_AVSS_SwinB_learned_head.yaml"),
    ]
    for published, extended in pairs:
        release, ours = get_cfg(), get_cfg()
        release.merge_from_file(str(REPO_ROOT / published))
        ours.merge_from_file(str(REPO_ROOT / extended))
        extensions = release.MODEL.OV_EXTENSIONS
        assert not (extensions.LEARNED_HEAD.ENABLED or extensions.OBJECTNESS_RANKING.ENABLED or extensions.SPLIT_NAME_WORDS)
        assert ours.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED and ours.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING.ENABLED
        release.MODEL.OV_EXTENSIONS = ours.MODEL.OV_EXTENSIONS
        release.OUTPUT_DIR = ours.OUTPUT_DIR
        assert release == ours, published
