"""Writes fixtures/extension_naming_e62f34f.pt: run at commit e62f34f, whose naming is what
the extension keeps (``PYTHONPATH=. python tests/modeling/meta_arch/make_extension_fixture.py``)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[2]))  # tests/: the shared helpers
from extension_case import FIXTURE, run_case  # noqa: E402


def main() -> None:
    output = run_case()
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


if __name__ == "__main__":
    main()
