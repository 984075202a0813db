"""ov_avss: open-vocabulary audio-visual semantic segmentation.

``from ov_avss import AudioVisualPredictor`` gives the Python predictor of
``ov_avss.demo.python_predictor`` (imported on first use, so ``import ov_avss`` stays light).
"""

__version__ = "0.1.0"

_LAZY_EXPORTS = {"AudioVisualPredictor": "ov_avss.demo.python_predictor"}


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'ov_avss' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_EXPORTS])
