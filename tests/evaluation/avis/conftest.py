"""The ``scene_files`` fixture: fabricated AVIS scenes written as AVISeg and results.json files."""
from __future__ import annotations

import pytest
from avis_reference import write_scenes


@pytest.fixture
def scene_files(tmp_path):
    def make(scenes, categories):
        return write_scenes(tmp_path, scenes, categories)
    return make
