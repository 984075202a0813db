"""LabelSpace: the mapping between a dataset's labels and vocabulary positions, the label-noise
rule, mask reading and the palette PNG round trip; and the label spaces the readers declare."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ov_avss.data.catalog import DatasetMetadata, get_dataset_metadata
from ov_avss.data.categories import BASE_CATEGORIES, CATEGORIES
from ov_avss.data.datasets.aviseg import AVISEG_CATEGORIES
from ov_avss.data.image_io import read_palette_mask, write_palette_png
from ov_avss.data.label_space import BINARY_PNG, IGNORE_LABEL, PALETTE_PNG, RLE_TRACKS, LabelSpace
from ov_avss.data.palette import PALETTE

SPACE = LabelSpace(("background", "kettle", "drum", "gong"), PALETTE_PNG, label_noise=True)


def test_vocabulary_lookup_maps_by_name_and_drops_what_the_vocabulary_lacks():
    lookup = SPACE.vocabulary_lookup(["gong", "kettle"])
    assert lookup.shape == (256,)
    assert lookup[:4].tolist() == [0, 2, 0, 1]  # drum is not in the vocabulary: background
    assert lookup[IGNORE_LABEL] == IGNORE_LABEL
    # Label noise: categories that do not sound in the video become background too.
    assert SPACE.vocabulary_lookup(["gong", "kettle"], sounding=["gong"])[:4].tolist() == [0, 0, 0, 1]


def test_dataset_lookup_inverts_the_vocabulary_and_refuses_unknown_names():
    assert SPACE.dataset_lookup(["gong", "kettle"]).tolist() == [0, 3, 1]
    with pytest.raises(ValueError, match=r"\['piano'\] are not categories"):
        SPACE.dataset_lookup(["kettle", "piano"])
    with pytest.raises(ValueError, match="not categories"):
        SPACE.dataset_lookup(["background"])


def test_noise_labels_are_the_categories_not_sounding():
    assert SPACE.noise_labels(["drum"]).tolist() == [False, True, False, True]
    assert SPACE.noise_labels([]).tolist() == [False, True, True, True]
    with pytest.raises(ValueError, match=r"\['bell'\]"):
        SPACE.noise_labels(["bell"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"names": ("background", "a", "a"), "mask_format": PALETTE_PNG}, "unique"),
        ({"names": ("background", "a"), "mask_format": "jpeg"}, "mask_format 'jpeg'"),
        ({"names": tuple(f"n{k}" for k in range(256)), "mask_format": PALETTE_PNG}, "256 labels"),
        ({"names": ("background", "a"), "mask_format": PALETTE_PNG, "palette": np.zeros((10, 3), np.uint8)}, "palette"),
        ({"names": ("background", "a"), "mask_format": PALETTE_PNG, "ignore_label": 300}, "ignore_label"),
    ],
)
def test_bad_label_spaces_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelSpace(**kwargs)


def test_palette_png_round_trip_with_the_default_and_an_own_palette(tmp_path):
    labels = np.array([[0, 1, 2], [3, 3, IGNORE_LABEL]], dtype=np.int64)
    own = np.zeros((256, 3), dtype=np.uint8)
    own[:4] = [(0, 0, 0), (250, 10, 10), (10, 250, 10), (10, 10, 250)]
    for palette in (PALETTE, own):
        path = str(tmp_path / "labels.png")
        write_palette_png(path, labels, palette)
        image = Image.open(path)
        assert image.mode == "P" and np.array_equal(np.asarray(image), labels)  # the labels themselves
        colours = np.asarray(image.convert("RGB"))
        assert np.array_equal(colours, palette[labels])
        # Read back through the colours, as ground-truth RGB masks are.
        assert np.array_equal(read_palette_mask(path, 4, palette), np.where(labels < 4, labels, 0))
    with pytest.raises(ValueError, match=r"0..255, got 0..256"):
        write_palette_png(str(tmp_path / "bad.png"), np.array([[0, 256]]))


def test_read_mask_follows_the_mask_format(tmp_path):
    path = str(tmp_path / "mask.png")
    write_palette_png(path, np.array([[0, 2], [1, 0]]))
    assert SPACE.read_mask(path).tolist() == [[0, 2], [1, 0]]
    binary = LabelSpace(("background", "sounding object"), BINARY_PNG)
    Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).save(tmp_path / "grey.png")
    assert binary.read_mask(str(tmp_path / "grey.png")).tolist() == [[0, 1], [1, 0]]
    tracks = LabelSpace(("cat", "dog"), RLE_TRACKS)
    with pytest.raises(ValueError, match="rle_tracks"):
        tracks.read_mask(path)


def test_readers_declare_their_label_spaces():
    semantic = get_dataset_metadata("avsbench_ov_train_base")
    assert semantic.label_space.names == ("background", *CATEGORIES)
    assert semantic.label_space.mask_format == PALETTE_PNG and semantic.label_space.label_noise
    assert semantic.vocabulary == BASE_CATEGORIES and semantic.seen_names == BASE_CATEGORIES
    assert get_dataset_metadata("avsbench_ov_test").seen_names == ()
    binary = get_dataset_metadata("avsbench_ms3_test").label_space
    assert binary.names == ("background", "sounding object") and binary.mask_format == BINARY_PNG
    assert not binary.label_noise
    tracks = get_dataset_metadata("aviseg_train").label_space
    assert tracks.names == AVISEG_CATEGORIES and len(tracks.names) == 26 and tracks.mask_format == RLE_TRACKS
    assert not tracks.has_background and tracks.category_names == AVISEG_CATEGORIES
    assert tracks.label_of("horse") == 25  # the contiguous label of category_id 26


def test_metadata_defaults_to_background_then_the_vocabulary_and_checks_it():
    metadata = DatasetMetadata(name="tiny", vocabulary=("cat", "dog"))
    assert metadata.label_space.names == ("background", "cat", "dog")
    assert metadata.label_space.mask_format == PALETTE_PNG
    with pytest.raises(ValueError, match=r"Dataset tiny2: vocabulary names \['bird'\]"):
        DatasetMetadata(name="tiny2", vocabulary=("bird",), label_space=SPACE)
