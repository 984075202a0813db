"""Registry of datasets by name, and the metadata each dataset carries."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ov_avss.utils.registry import Registry

from .label_space import PALETTE_PNG, LabelSpace

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Registry of datasets. Each entry is a ``DatasetSpec``: its metadata and a loader
``load(root) -> list[record]`` that indexes the files under the datasets root.
"""

DATASETS_ENV = "OVAVSS_DATASETS"


@dataclass(frozen=True)
class DatasetMetadata:
    """What the model, mapper and evaluator need to know about a dataset.

    Attributes:
        name: registered name, e.g. ``avsbench_ov_test``.
        vocabulary: category names the model classifies into: its label k >= 1 is
            ``vocabulary[k - 1]``, 0 is background. Each name is a category of ``label_space``.
        label_space: what the labels of the dataset's ground truth mean (names, ignore label,
            palette, mask format, label noise); ``None`` gives background then ``vocabulary`` in
            palette PNGs (label k is ``vocabulary[k - 1]``).
        base_names / novel_names: the zero-shot split (empty for closed-set datasets).
        evaluator_type: key into ``EVALUATOR_REGISTRY``.
        protocols: the evaluation protocols the evaluator reports, the first one as the dataset's
            metric of record (docs/evaluation.md): ``ov_avss``, ``avsbench_avss`` or
            ``avsbench_binary``.
        is_train: whether the dataset is a training set (drives sampling and augmentation).
        audio_padding: how a video whose audio is shorter than its frames is completed, one of
            ``ov_avss.audio.AUDIO_PADDING_MODES`` (each release's rule: AVSBench-object
            repeats the last example, AVSBench-semantic appends examples of zeros).
        mapper: how the loaders cut and map its records, a key of
            ``ov_avss.data.build.DATASET_KINDS``: ``window`` (windows of a video through ``WindowMapper``)
            or ``video`` (one sample per video through ``AVISVideoMapper``).
    """

    name: str
    vocabulary: tuple[str, ...]
    label_space: LabelSpace | None = None
    base_names: tuple[str, ...] = ()
    novel_names: tuple[str, ...] = ()
    evaluator_type: str = "avss"
    protocols: tuple[str, ...] = ("ov_avss",)
    is_train: bool = False
    audio_padding: str = "zero_examples"
    mapper: str = "window"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        if self.label_space is None:
            object.__setattr__(self, "label_space", LabelSpace(("background", *self.vocabulary), PALETTE_PNG))
        unknown = [name for name in self.vocabulary if name not in self.label_space.category_names]
        if unknown:
            raise ValueError(f"Dataset {self.name}: vocabulary names {unknown} are not categories of its label space")

    @property
    def seen_names(self) -> tuple[str, ...]:
        """The category names a model trained on this dataset has seen: its vocabulary for a
        training set, none for a test set."""
        return self.vocabulary if self.is_train else ()


@dataclass(frozen=True)
class DatasetSpec:
    metadata: DatasetMetadata
    load: Callable[[str], list[dict]]


def register_dataset(spec: DatasetSpec) -> None:
    DATASET_REGISTRY.register(spec, name=spec.metadata.name)


def _spec(name: str) -> DatasetSpec:
    # Importing the dataset modules registers the built-in datasets.
    from . import datasets  # noqa: F401

    if name not in DATASET_REGISTRY:
        known = ", ".join(DATASET_REGISTRY.names())
        raise KeyError(f"Unknown dataset '{name}'; registered datasets: {known}")
    return DATASET_REGISTRY.get(name)


def datasets_root(cfg=None) -> str:
    """``DATASETS.ROOT`` if set, else ``$OVAVSS_DATASETS``, else ``./datasets``."""
    if cfg is not None and cfg.DATASETS.ROOT:
        return cfg.DATASETS.ROOT
    return os.environ.get(DATASETS_ENV, "datasets")


def get_dataset_metadata(name: str) -> DatasetMetadata:
    return _spec(name).metadata


def get_dataset_records(name: str, cfg=None) -> list[dict]:
    """Index dataset ``name`` under the configured root; returns per-video records."""
    return _spec(name).load(datasets_root(cfg))


def training_vocabulary(dataset_names: Sequence[str]) -> tuple[str, ...]:
    """The names of the given datasets' vocabularies, each once, in first-seen order."""
    names: dict[str, None] = {}
    for name in dataset_names:
        names.update(dict.fromkeys(get_dataset_metadata(name).vocabulary))
    return tuple(names)


def with_seen_categories(cfg):
    """``cfg``, or with the learned head on and ``MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES``
    empty a copy (frozen if ``cfg`` was) naming there the vocabularies of ``DATASETS.TRAIN``: the
    names the head was trained on, which the model cannot look up itself (it does not read the
    data catalog). The trainer and the demo build their models from this.

    Raises:
        ValueError: the learned head is on and both keys are empty.
    """
    learned = cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD
    if not learned.ENABLED or learned.SEEN_CATEGORIES:
        return cfg
    seen = training_vocabulary(cfg.DATASETS.TRAIN)
    if not seen:
        raise ValueError(
            "MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED needs the names the head was trained on: "
            "DATASETS.TRAIN is empty and LEARNED_HEAD.SEEN_CATEGORIES is []; set either"
        )
    filled = cfg.clone()
    filled.defrost()
    filled.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES = list(seen)
    if cfg.is_frozen():
        filled.freeze()
    return filled
