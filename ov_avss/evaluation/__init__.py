"""Evaluators; importing this package registers them in ``EVALUATOR_REGISTRY``."""
from .avss_evaluator import AVSSEvaluator, SemSegAccumulator
from .binary_evaluator import BinaryAVSEvaluator
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import DatasetEvaluator
from .export import export_predictions

__all__ = [
    "AVSSEvaluator",
    "BinaryAVSEvaluator",
    "DatasetEvaluator",
    "EVALUATOR_REGISTRY",
    "SemSegAccumulator",
    "build_evaluator",
    "export_predictions",
]
