"""The extensions (learned head + objectness ranking + split name words), as the quickstart
config turns them on, compute exactly what the framework computed before they became optional
(fixture written at commit e62f34f by make_extension_fixture.py)."""
from __future__ import annotations

import torch

from extension_case import FIXTURE, QUICKSTART_CONFIG, FixedDecoder, clip_input, decoder_outputs, seeded_classifier_weights
from ov_avss.config import get_cfg
from ov_avss.data.categories import CATEGORIES
from ov_avss.modeling import build_model


def test_quickstart_extension_path_reproduces_the_recorded_naming():
    cfg = get_cfg()
    cfg.merge_from_file(str(QUICKSTART_CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg).eval()
    seeded_classifier_weights(model)
    model.transformer_decoder = FixedDecoder(
        decoder_outputs(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM)
    )
    with torch.no_grad():
        (output,) = model([clip_input(list(CATEGORIES))])
    recorded = torch.load(FIXTURE, weights_only=True)
    segments = output["segments"]
    assert torch.equal(segments["query_indices"], recorded["query_indices"])
    assert torch.equal(segments["labels"], recorded["labels"])
    torch.testing.assert_close(segments["scores"], recorded["scores"], rtol=1e-5, atol=0)
    assert torch.equal(output["sem_seg"], recorded["sem_seg"].to(torch.int64))
    assert len(recorded["sem_seg"].unique()) > 2  # several names painted: the case is not trivial
