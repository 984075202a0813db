"""Writes fixtures/extension_naming_e62f34f.pt: run at commit e62f34f, whose naming is what
the extension keeps (``PYTHONPATH=. python tests/modeling/meta_arch/make_extension_fixture.py``)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from extension_case import FIXTURE, QUICKSTART_CONFIG, FixedDecoder, clip_input, decoder_outputs, seeded_classifier_weights  # noqa: E402

from ov_avss.config import get_cfg  # noqa: E402
from ov_avss.data.categories import CATEGORIES  # noqa: E402
from ov_avss.modeling import build_model  # noqa: E402


def main() -> None:
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
    segments = output["segments"]
    FIXTURE.parent.mkdir(exist_ok=True)
    torch.save(
        {
            "sem_seg": output["sem_seg"].to(torch.uint8),
            "scores": segments["scores"],
            "labels": segments["labels"],
            "query_indices": segments["query_indices"],
        },
        FIXTURE,
    )
    print(output["sem_seg"].unique(return_counts=True), segments["scores"], segments["labels"], segments["query_indices"])


if __name__ == "__main__":
    main()
