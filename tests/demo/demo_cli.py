"""``demo_video/demo.py`` loaded as a module, so that tests call its ``main(argv)`` in-process."""
from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MODULE_NAME = "ov_avss_demo_cli"


def load_demo_cli() -> ModuleType:
    """The demo script as the module ``ov_avss_demo_cli`` (loaded once)."""
    if _MODULE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_MODULE_NAME, os.path.join(REPO_ROOT, "demo_video", "demo.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[_MODULE_NAME] = module
    return sys.modules[_MODULE_NAME]
