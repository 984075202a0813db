"""Imports run one way (docs/architecture.md): the audio input needs neither the data layer nor
the model; the model (every module of ``ov_avss.modeling``) does not import the data layer at all:
what it needs of a dataset comes in the video input or the config; evaluation and drawing do not
import the demo, and evaluation takes what the mappers hand over without importing them."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO_ROOT

# One fresh interpreter imports the packages in dependency order and reports, after each step,
# the ov_avss modules it has loaded.
# A package's step imports all its modules, also those its __init__ does not (e.g.
# ``ov_avss.evaluation.prediction_files``).
SCRIPT = """
import importlib, json, pkgutil, sys

def loaded():
    return sorted(name for name in sys.modules if name.startswith("ov_avss."))

steps = {}
for module in ("ov_avss.audio", "ov_avss.modeling", "ov_avss.visualization", "ov_avss.evaluation"):
    package = importlib.import_module(module)
    # Every module of these packages, not only what each package's __init__ imports.
    if module in ("ov_avss.modeling", "ov_avss.visualization", "ov_avss.evaluation"):
        for info in pkgutil.walk_packages(package.__path__, module + "."):
            importlib.import_module(info.name)
    steps[module] = loaded()
print(json.dumps(steps))
"""


def _modules_after_each_import() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _under(modules: list[str], *packages: str) -> list[str]:
    return [name for name in modules if any(name == p or name.startswith(p + ".") for p in packages)]


def test_imports_run_one_way():
    steps = _modules_after_each_import()
    assert _under(steps["ov_avss.audio"], "ov_avss.data", "ov_avss.modeling") == []
    assert _under(steps["ov_avss.modeling"], "ov_avss.data") == [], "the model imports the data layer"
    assert _under(steps["ov_avss.modeling"], "ov_avss.evaluation", "ov_avss.demo") == []
    assert _under(steps["ov_avss.visualization"], "ov_avss.demo") == []
    assert _under(steps["ov_avss.evaluation"], "ov_avss.demo") == []
    # No earlier step loads a mapper: neither the audio input nor the model imports the data layer.
    assert _under(steps["ov_avss.evaluation"], "ov_avss.data.window_mapper", "ov_avss.data.avis_mapper") == []
