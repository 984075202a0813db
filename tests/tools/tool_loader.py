"""Loading a file of ``tools/`` as a module, so that tests call the tools' functions directly."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as the module ``<name>_tool``.

    ``tools/`` is appended to ``sys.path`` as it is first on it when a tool runs as a script:
    the tools import their ``_repo_path`` helper from there.
    """
    if str(TOOLS_DIR) not in sys.path:
        sys.path.append(str(TOOLS_DIR))
    module_name = f"{name}_tool"
    spec = importlib.util.spec_from_file_location(module_name, TOOLS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module
