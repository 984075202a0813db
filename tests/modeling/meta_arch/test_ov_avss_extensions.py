"""The extensions (learned head + objectness ranking + split name words), as the quickstart
config turns them on, compute exactly what the framework computed before they became optional
(fixture written at commit e62f34f by make_extension_fixture.py)."""
from __future__ import annotations

import torch

from extension_case import FIXTURE, run_case


def test_quickstart_extension_path_reproduces_the_recorded_naming():
    output = run_case()
    recorded = torch.load(FIXTURE, weights_only=True)
    segments = output["segments"]
    assert torch.equal(segments["query_indices"], recorded["query_indices"])
    assert torch.equal(segments["labels"], recorded["labels"])
    assert torch.equal(segments["scores"], recorded["scores"])  # same ops on the same values
    assert torch.equal(output["sem_seg"], recorded["sem_seg"].to(torch.int64))
    assert len(recorded["sem_seg"].unique()) > 2  # several names painted: the case is not trivial
