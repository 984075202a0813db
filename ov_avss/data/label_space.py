"""A dataset's label space: what the labels in its ground truth mean, and how they map to the
positions of a vocabulary (docs/architecture.md, "Video input").

Ground truth stays in the dataset's own labels from the reader to the evaluator; every mapping
between those labels and a vocabulary (model outputs: label k >= 1 is ``vocabulary[k - 1]``, 0 is
background) goes through ``LabelSpace.vocabulary_lookup`` and ``LabelSpace.dataset_lookup``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .image_io import read_binary_mask, read_palette_mask
from .palette import PALETTE, PALETTE_SIZE

# Label of ground-truth pixels without annotation (frames that have no mask); ignored in
# training targets and scoring.
IGNORE_LABEL = 255
# Ground truth stored as a per-frame label map (background at label 0) or as instance tracks.
PALETTE_PNG = "palette_png"  # RGB PNG, colour of label k = palette[k]
BINARY_PNG = "binary_png"  # grey PNG, 0 = background, 1 (or 255) = label 1
RLE_TRACKS = "rle_tracks"  # per-instance compressed RLE per frame, in the annotation JSON
MASK_FORMATS = (PALETTE_PNG, BINARY_PNG, RLE_TRACKS)
_LABEL_MAP_FORMATS = (PALETTE_PNG, BINARY_PNG)


@dataclass(frozen=True)
class LabelSpace:
    """The labels of a dataset's ground truth.

    Attributes:
        names: ``names[k]`` names label k. Label maps (``palette_png``, ``binary_png``) have
            background at label 0; instance tracks (``rle_tracks``) have no background and label
            k is the track's contiguous category (``category_id - 1``).
        mask_format: one of ``MASK_FORMATS``.
        label_noise: whether masks may label categories that do not sound in the video
            (AVSBench-semantic); training then counts those pixels as background
            (``noise_labels``), as the ``ov_avss`` scoring protocol does.
        ignore_label: label of pixels without ground truth.
        palette: uint8 ``[256, 3]``, RGB colour of each label in masks, exports and overlays.
    """

    names: tuple[str, ...]
    mask_format: str
    label_noise: bool = False
    ignore_label: int = IGNORE_LABEL
    palette: np.ndarray = field(default_factory=lambda: PALETTE, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        if self.mask_format not in MASK_FORMATS:
            raise ValueError(f"LabelSpace mask_format '{self.mask_format}' is not one of {MASK_FORMATS}")
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"LabelSpace names must be non-empty and unique, got {list(self.names)[:8]}...")
        if not 0 < self.ignore_label < PALETTE_SIZE:
            raise ValueError(
                f"LabelSpace ignore_label must lie in 1..{PALETTE_SIZE - 1} (label maps are 8-bit), "
                f"got {self.ignore_label}"
            )
        if len(self.names) > self.ignore_label:
            raise ValueError(
                f"LabelSpace has {len(self.names)} labels; at most {self.ignore_label} fit below the ignore "
                f"label {self.ignore_label}"
            )
        if self.palette.shape != (PALETTE_SIZE, 3) or self.palette.dtype != np.uint8:
            raise ValueError(
                f"LabelSpace palette must be uint8 [{PALETTE_SIZE}, 3], got {self.palette.dtype} {self.palette.shape}"
            )

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def has_background(self) -> bool:
        """Whether label 0 is background (label maps) rather than a category (instance tracks)."""
        return self.mask_format in _LABEL_MAP_FORMATS

    @property
    def category_names(self) -> tuple[str, ...]:
        """The names of the labels that are categories (all but background)."""
        return self.names[1:] if self.has_background else self.names

    def label_of(self, name: str) -> int:
        """The label of category ``name``.

        Raises:
            KeyError: ``name`` is not a category of this label space.
        """
        try:
            index = self.names.index(name)
        except ValueError:
            raise KeyError(f"'{name}' is not a category of this label space ({self.num_labels} labels)") from None
        if self.has_background and index == 0:
            raise KeyError(f"'{name}' is the background of this label space, not a category")
        return index

    def noise_labels(self, sounding: Sequence[str]) -> np.ndarray:
        """bool ``[num_labels]``: the category labels that are label noise in a video whose
        sounding categories are ``sounding`` (every category that does not sound in it).

        Raises:
            ValueError: a sounding name is not a category of this label space.
        """
        unknown = [name for name in sounding if name not in self.category_names]
        if unknown:
            raise ValueError(f"Sounding categories {unknown} are not categories of the dataset's label space")
        noise = np.ones(self.num_labels, dtype=bool)
        if self.has_background:
            noise[0] = False
        noise[[self.label_of(name) for name in sounding]] = False
        return noise

    def vocabulary_lookup(self, vocabulary: Sequence[str], sounding: Sequence[str] | None = None) -> np.ndarray:
        """int64 ``[256]``: dataset label -> vocabulary label (0 = background, k = ``vocabulary[k-1]``).

        Background, categories outside ``vocabulary`` and, when ``sounding`` is given, label
        noise (``noise_labels``) map to 0; the ignore label maps to itself.
        """
        self._require_background("vocabulary_lookup")
        lookup = np.zeros(PALETTE_SIZE, dtype=np.int64)
        lookup[self.ignore_label] = self.ignore_label
        position = {name: k + 1 for k, name in enumerate(vocabulary)}
        for label, name in enumerate(self.names[1:], start=1):
            lookup[label] = position.get(name, 0)
        if sounding is not None:
            lookup[: self.num_labels][self.noise_labels(sounding)] = 0
        return lookup

    def dataset_lookup(self, vocabulary: Sequence[str]) -> np.ndarray:
        """int64 ``[len(vocabulary) + 1]``: vocabulary label (0 = background) -> dataset label.

        Raises:
            ValueError: a vocabulary name is not a category of this label space.
        """
        self._require_background("dataset_lookup")
        unknown = [name for name in vocabulary if name not in self.category_names]
        if unknown:
            raise ValueError(f"Vocabulary names {unknown} are not categories of the dataset's label space")
        return np.array([0, *(self.names.index(name) for name in vocabulary)], dtype=np.int64)

    def read_mask(self, path: str) -> np.ndarray:
        """One ground-truth mask file as dataset labels ``[H, W]`` int64 (label maps only)."""
        if self.mask_format == PALETTE_PNG:
            return read_palette_mask(path, self.num_labels, self.palette)
        if self.mask_format == BINARY_PNG:
            return read_binary_mask(path)
        raise ValueError(f"Masks in the '{self.mask_format}' format are not per-frame files; cannot read {path}")

    def _require_background(self, what: str) -> None:
        if not self.has_background:
            raise ValueError(f"LabelSpace.{what} needs a label map with background at 0; '{self.mask_format}' has none")
