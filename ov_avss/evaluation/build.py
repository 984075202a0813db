"""Registry of evaluators; each dataset's metadata names the evaluator that scores it."""
from fvcore.common.registry import Registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """
Registry for dataset evaluators, keyed by ``DatasetMetadata.evaluator_type``. A registered class
is built as ``cls(dataset_name, cfg, output_dir)`` and implements ``DatasetEvaluator``.
"""


def build_evaluator(cfg, dataset_name: str, output_dir: str):
    from ov_avss.data.catalog import get_dataset_metadata

    evaluator_type = get_dataset_metadata(dataset_name).evaluator_type
    return EVALUATOR_REGISTRY.get(evaluator_type)(dataset_name, cfg, output_dir)
