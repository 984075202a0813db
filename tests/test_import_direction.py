"""Imports run one way (docs/architecture.md): the audio input needs neither the data layer nor
the model; the model (every module of ``ov_avss.modeling``) does not import the data layer at all:
what it needs of a dataset comes in the clip input or the config; evaluation and drawing do not
import the demo."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO_ROOT

# One fresh interpreter imports the packages in dependency order and reports, after each step,
# the ov_avss modules it has loaded.
SCRIPT = """
import json, sys

def loaded():
    return sorted(name for name in sys.modules if name.startswith("ov_avss."))

steps = {}
for module in ("ov_avss.audio", "ov_avss.modeling", "ov_avss.visualization", "ov_avss.evaluation"):
    __import__(module)
    if module == "ov_avss.modeling":  # every module of the model, not only what the package imports
        import pkgutil
        for info in pkgutil.walk_packages(sys.modules[module].__path__, module + "."):
            __import__(info.name)
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
