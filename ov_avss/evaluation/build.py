"""Registry of evaluators; each dataset's metadata names the evaluator that scores it."""
from ov_avss.utils.registry import Registry

from .evaluator import DatasetEvaluators

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """
Registry for dataset evaluators, keyed by ``DatasetMetadata.evaluator_type``. A registered class
is built as ``cls(dataset_name, cfg, output_dir)`` and implements ``DatasetEvaluator``.
"""


def build_evaluator(cfg, dataset_name: str, output_dir: str):
    """The dataset's registered evaluator; with ``TEST.VISUALIZE_NUM_CLIPS`` > 0 combined (via
    ``DatasetEvaluators``) with a ``PredictionOverlayWriter`` writing into the same folder."""
    from ov_avss.data.catalog import get_dataset_metadata

    # Imported on use: the drawing helpers (OpenCV text rendering) that scoring alone does not need.
    from .visualization import PredictionOverlayWriter

    evaluator_type = get_dataset_metadata(dataset_name).evaluator_type
    evaluator = EVALUATOR_REGISTRY.get(evaluator_type)(dataset_name, cfg, output_dir)
    num_videos = int(cfg.TEST.VISUALIZE_NUM_CLIPS)
    if num_videos < 0:
        raise ValueError(f"Config TEST.VISUALIZE_NUM_CLIPS must be >= 0 (0 = no overlays), got {num_videos}")
    if num_videos == 0:
        return evaluator
    return DatasetEvaluators([evaluator, PredictionOverlayWriter(dataset_name, cfg, output_dir)])

