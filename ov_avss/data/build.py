"""Datasets of video windows, samplers and the train / test loaders.

Training sampling is a pure function of ``(seed, global position)``: the global stream of sample
indices is a sequence of seeded permutations, rank r takes positions r, r + W, r + 2W, ... and a
run resumed at iteration i starts at position ``i * batch_per_rank`` of its stream. Each sample's
augmentation seed is derived from the same position, so a resumed run sees exactly the batches
(augmentation included) that the uninterrupted run would, whatever the number of workers.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..utils import comm
from ..audio import audio_donors
from .catalog import get_dataset_metadata, get_dataset_records
from .avis_mapper import AVISVideoMapper
from .window_mapper import WindowMapper
from .window_sampling import video_windows
from .dataset_check import check_video_files

logger = logging.getLogger(__name__)

__all__ = [
    "WindowDataset",
    "VideoDataset",
    "DATASET_KINDS",
    "TrainingSampler",
    "InferenceSampler",
    "build_train_loader",
    "check_train_data",
    "build_test_loader",
    "trivial_batch_collator",
]


class WindowDataset(Dataset):
    """Map-style dataset of video windows: one sample per (record, window).

    Items are indexed by ``int`` (testing) or ``(int, seed)`` (training: the seed drives the
    augmentation of that sample).
    """

    def __init__(
        self,
        records: Sequence[dict],
        mapper: WindowMapper,
        frames_per_sample: int,
        long_clip_mode: str,
        donors: Sequence[int] | None = None,
    ):
        """``donors``: with the ``shuffle`` audio ablation, the windows of record i get the
        audio of record ``donors[i]`` (``audio_donors``)."""
        self.records = list(records)
        self.mapper = mapper
        self.donors = list(donors) if donors is not None else None
        self.samples: list[tuple[int, list[int]]] = [
            (record_index, window)
            for record_index, record in enumerate(self.records)
            for window in video_windows(int(record["num_frames"]), frames_per_sample, long_clip_mode)
        ]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, None)
        record_index, frame_indices = self.samples[index]
        record = self.records[record_index]
        rng = np.random.default_rng(seed) if seed is not None else None
        donor = self.records[self.donors[record_index]] if self.donors is not None else None
        return self.mapper(record, frame_indices, rng, audio_donor=donor)


class VideoDataset(Dataset):
    """Map-style dataset of whole video records, one sample per video: the mapper picks the
    frames (a training window, or every frame in testing).

    Items are ``int`` (testing) or ``(int, seed)`` (training: the seed drives the window choice
    and augmentation of that sample).
    """

    def __init__(self, records: Sequence[dict], mapper: AVISVideoMapper, donors: Sequence[int] | None = None):
        """``donors``: with the ``shuffle`` audio ablation, video i is given the audio of video
        ``donors[i]`` (``audio_donors``)."""
        self.records = list(records)
        self.mapper = mapper
        self.donors = list(donors) if donors is not None else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, None)
        rng = np.random.default_rng(seed) if seed is not None else None
        donor = self.records[self.donors[index]] if self.donors is not None else None
        return self.mapper(self.records[index], rng, audio_donor=donor)


def _donors(mapper: WindowMapper | AVISVideoMapper, records: list[dict]) -> list[int] | None:
    """The shuffle ablation's donor of each record (by position), else None."""
    return audio_donors(len(records)) if mapper.audio.ablation == "shuffle" else None


def _window_dataset(cfg, name: str, records: list[dict], is_train: bool) -> WindowDataset:
    mapper = WindowMapper(cfg, name, is_train=is_train)
    return WindowDataset(
        records, mapper, cfg.INPUT.SAMPLING_FRAME_NUM, cfg.INPUT.LONG_CLIP_MODE, _donors(mapper, records)
    )


def _video_dataset(cfg, name: str, records: list[dict], is_train: bool) -> VideoDataset:
    mapper = AVISVideoMapper(cfg, name, is_train=is_train)
    return VideoDataset(records, mapper, _donors(mapper, records))


@dataclass(frozen=True)
class DatasetKind:
    """How the loaders treat a dataset whose metadata names this kind (``DatasetMetadata.mapper``).

    Attributes:
        build: ``(cfg, dataset_name, records, is_train) -> Dataset`` of mapped samples.
        has_targets: whether a record has something to learn (``FILTER_EMPTY_ANNOTATIONS``).
    """

    build: Callable[..., Dataset]
    has_targets: Callable[[dict], bool]


DATASET_KINDS: dict[str, DatasetKind] = {
    "window": DatasetKind(_window_dataset, lambda record: bool(record["category_names"])),
    "video": DatasetKind(_video_dataset, lambda record: bool(record["tracks"])),
}


def _kind(dataset_name: str) -> DatasetKind:
    mapper = get_dataset_metadata(dataset_name).mapper
    if mapper not in DATASET_KINDS:
        raise ValueError(
            f"Dataset {dataset_name}: metadata mapper '{mapper}' is not one of {sorted(DATASET_KINDS)}"
        )
    return DATASET_KINDS[mapper]


class TrainingSampler(Sampler):
    """Infinite, seeded, rank-sharded stream of ``(sample_index, augmentation_seed)`` batches.

    Args:
        size: number of samples in the dataset.
        batch_size: samples per batch on this rank.
        seed: shared by all ranks.
        start_iter: first batch to produce (resumption).
        rank / world_size: shard of this process.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start_iter: int = 0, rank: int = 0, world_size: int = 1):
        if size <= 0:
            raise ValueError("TrainingSampler needs a non-empty dataset")
        if batch_size <= 0:
            raise ValueError(f"batch size per rank must be positive, got {batch_size}")
        self.size, self.batch_size, self.seed = size, batch_size, int(seed)
        self.start_iter, self.rank, self.world_size = int(start_iter), int(rank), int(world_size)
        self._epoch_cache: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._epoch_cache:
            self._epoch_cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.size)}
        return self._epoch_cache[epoch]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for iteration in itertools.count(self.start_iter):
            batch = []
            for slot in range(self.batch_size):
                position = (iteration * self.batch_size + slot) * self.world_size + self.rank
                epoch, offset = divmod(position, self.size)
                sample_seed = int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])
                batch.append((int(self._permutation(epoch)[offset]), sample_seed))
            yield batch


class InferenceSampler(Sampler):
    """Indices ``0..size-1`` split into contiguous, deterministic per-rank shards."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1):
        shard = (size + world_size - 1) // world_size
        self.indices = range(min(rank * shard, size), min((rank + 1) * shard, size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def trivial_batch_collator(batch: list[dict]) -> list[dict]:
    """Keep the windows of a batch as a list (windows differ in size and number of targets)."""
    return batch


def _shared_seed(cfg) -> int:
    # A negative SEED is resolved once per job, into the config (ov_avss.engine.resolve_seed,
    # run by default_setup), so that the logged seed is the sampler's.
    if cfg.SEED < 0:
        raise ValueError(
            f"Config SEED is {cfg.SEED}: the training sampler needs the job's resolved seed; "
            "run ov_avss.engine.default_setup (or resolve_seed) on the config first, or set SEED >= 0"
        )
    return int(cfg.SEED)


def _records(cfg, dataset_names: Sequence[str], is_train: bool) -> list[dict]:
    records = []
    for name in dataset_names:
        dataset_records = get_dataset_records(name, cfg)
        if is_train and cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS:
            has_targets = _kind(name).has_targets
            kept = [r for r in dataset_records if has_targets(r)]
            if len(kept) < len(dataset_records):
                logger.info("Dataset %s: dropped %d videos without sounding categories", name, len(dataset_records) - len(kept))
            dataset_records = kept
        records.append(dataset_records)
    return records


# (DATASETS.ROOT, DATASETS.TRAIN) whose files this process checked without finding a problem.
_checked_train_data: set[tuple[str, tuple[str, ...]]] = set()


def check_train_data(cfg) -> list[list[dict]]:
    """Index every ``DATASETS.TRAIN`` dataset and, with ``DATALOADER.CHECK_FILES``, check every
    file of every video (``dataset_check``); returns the records of each dataset.

    ``train_net.py`` runs this before it creates anything in ``OUTPUT_DIR`` (so that a missing
    ``DATASETS.ROOT`` or a damaged file leaves no half-made run folder) and the train loader
    again; the file check runs once per process for the same root and datasets.

    Raises:
        ValueError: ``DATASETS.TRAIN`` is empty.
        FileNotFoundError: a dataset's files are not under ``DATASETS.ROOT``.
        DatasetCheckError: files of videos are missing or malformed (all problems listed).
    """
    names = list(cfg.DATASETS.TRAIN)
    if not names:
        raise ValueError("Config DATASETS.TRAIN is empty")
    records_per_dataset = _records(cfg, names, is_train=True)
    key = (str(cfg.DATASETS.ROOT), tuple(names))
    if cfg.DATALOADER.CHECK_FILES and key not in _checked_train_data:
        # Before iteration 0: a bad file found later would stop training where it is sampled.
        checked = [r for records in records_per_dataset for r in records]
        if checked:
            check_video_files(checked, ", ".join(names))
        _checked_train_data.add(key)
    return records_per_dataset


def build_train_loader(cfg, start_iter: int = 0) -> Iterator[list[dict]]:
    """Infinite iterator of ``list[VideoInput]`` with ``SOLVER.IMS_PER_BATCH // world_size`` windows.

    Uses every dataset of ``DATASETS.TRAIN`` (concatenated), ``DATALOADER.NUM_WORKERS`` workers
    and pinned memory when ``DATALOADER.PIN_MEMORY`` and CUDA is available. With
    ``DATALOADER.CHECK_FILES`` every file of every video is checked first (``dataset_check``).
    """
    world_size, rank = comm.get_world_size(), comm.get_rank()
    if cfg.SOLVER.IMS_PER_BATCH % world_size != 0:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH ({cfg.SOLVER.IMS_PER_BATCH}) must be divisible by the number of "
            f"processes ({world_size})"
        )
    names = list(cfg.DATASETS.TRAIN)
    records_per_dataset = check_train_data(cfg)
    datasets = [_kind(name).build(cfg, name, records, True) for name, records in zip(names, records_per_dataset)]
    dataset = datasets[0] if len(datasets) == 1 else _ConcatWindowDataset(datasets)
    sampler = TrainingSampler(
        len(dataset), cfg.SOLVER.IMS_PER_BATCH // world_size, _shared_seed(cfg), start_iter, rank, world_size
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=int(cfg.DATALOADER.NUM_WORKERS),
        collate_fn=trivial_batch_collator,
        pin_memory=bool(cfg.DATALOADER.PIN_MEMORY) and torch.cuda.is_available(),
        persistent_workers=False,
    )
    return iter(loader)


class _ConcatWindowDataset(Dataset):
    """Concatenation of window or video datasets that forwards ``(index, seed)`` items."""

    def __init__(self, datasets: Sequence[Dataset]):
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, None)
        which = int(np.searchsorted(self.offsets, index, side="right") - 1)
        local = index - int(self.offsets[which])
        return self.datasets[which][(local, seed) if seed is not None else local]


def build_test_loader(cfg, dataset_name: str) -> DataLoader:
    """One window (or video) per batch, rank-sharded, deterministic order; applies
    ``TEST.AUDIO_ABLATION``."""
    kind = _kind(dataset_name)
    (records,) = _records(cfg, [dataset_name], is_train=False)
    dataset = kind.build(cfg, dataset_name, records, False)
    sampler = InferenceSampler(len(dataset), comm.get_rank(), comm.get_world_size())
    return DataLoader(
        dataset,
        batch_size=1,
        sampler=sampler,
        num_workers=int(cfg.DATALOADER.NUM_WORKERS),
        collate_fn=trivial_batch_collator,
        pin_memory=bool(cfg.DATALOADER.PIN_MEMORY) and torch.cuda.is_available(),
    )
