"""Dataset readers; importing this package imports every module in it, and each reader module
registers its datasets in ``DATASET_REGISTRY``: a new dataset is one new file here. The helper
modules (``common.py``; ``aviseg_annotations.py``, the AVISeg annotation-file parser) register
nothing."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
