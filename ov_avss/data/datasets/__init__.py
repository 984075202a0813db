"""Built-in datasets; importing this package registers them in ``DATASET_REGISTRY``."""
from . import avsbench_object, avsbench_semantic  # noqa: F401  (registration side effects)
from . import aviseg  # noqa: F401  (registration side effects)
