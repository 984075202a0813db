"""Imported first by every tool: puts the repository root on ``sys.path`` so that ``ov_avss``
imports when a tool runs as a script from a checkout that is not pip-installed."""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
