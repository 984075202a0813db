"""Evaluators; importing this package registers them in ``EVALUATOR_REGISTRY`` (each evaluator's
module registers its class on import, as detectron2's meta-architectures do; every such module
is imported here).
"""
from .avis_evaluator import AVISEvaluator
from .avss_evaluator import AVSSEvaluator
from .binary_evaluator import BinaryAVSEvaluator
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import DatasetEvaluator
from .export import export_predictions
from .semseg_accumulator import SemSegAccumulator

__all__ = [
    "AVISEvaluator",
    "AVSSEvaluator",
    "BinaryAVSEvaluator",
    "DatasetEvaluator",
    "EVALUATOR_REGISTRY",
    "SemSegAccumulator",
    "build_evaluator",
    "export_predictions",
]
