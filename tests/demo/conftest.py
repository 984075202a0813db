"""The demo CLI's ``main`` configures the root logger (``logging.basicConfig``) once, on the
``sys.stderr`` of the test that called it first; pytest closes that captured stream after the
test, and every later log record would then print a "--- Logging error ---" traceback into
other tests' stderr. Each demo test leaves the root logger's handlers as it found them."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def restore_root_log_handlers():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
