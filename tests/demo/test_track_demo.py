"""The AVIS demo (``META_ARCHITECTURE: AVISM``) with the tiny config and random weights, on a
synthetic AVISeg video read as a user's frame folder: it feeds the model what the test loader
feeds it, its results.json is what the evaluator writes and scores through
tools/evaluate_predictions.py, and every track keeps its colour and id in all outputs."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from ov_avss.config import get_cfg
from ov_avss.data.avis_mapper import AVISVideoMapper
from ov_avss.data.aviseg_synthetic import make_synthetic_aviseg
from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records
from ov_avss.data.datasets.aviseg import AVISEG_CATEGORIES
from ov_avss.data.datasets.aviseg_annotations import load_aviseg_json
from ov_avss.demo import DemoInputError, DemoRequest, TrackDemo, VideoPredictor, build_demo, open_demo_input, track_id_map, writers
from ov_avss.evaluation.avis import load_predictions, track_predictions
from ov_avss.visualization import MASK_OPACITY, track_color, track_palette

from .demo_cli import REPO_ROOT, load_demo_cli
from .media_fixtures import encode_video

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "tools"))
from tool_loader import load_tool  # noqa: E402

AVIS_CONFIG = os.path.join(REPO_ROOT, "configs", "avis", "AVISM_tiny_synthetic.yaml")
OV_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")
DATASET = "aviseg_val"
# Random weights: no track would pass the reference's 0.3, so keep the 3 best pairs.
AVIS_OVERRIDES = [
    "MODEL.AVISM.AUDIO_ENCODER_ON", "True", "MODEL.AUDIO.RANDOM_INIT", "True",
    "MODEL.AVISM.TEST_SCORE_THRESHOLD", "0.0", "MODEL.AVISM.TEST_TOPK", "3",
]
# Frames drawn at twice the model's short side (64) so that the labels leave track pixels free.
HEIGHT, WIDTH = 128, 160


demo = load_demo_cli()


@pytest.fixture(scope="module")
def aviseg(tmp_path_factory):
    """One 4-frame val video of the synthetic AVISeg, its JSON listing all 26 categories."""
    root = tmp_path_factory.mktemp("datasets")
    aviseg_dir = make_synthetic_aviseg(
        str(root), seed=1, num_videos={"val": 1}, categories=AVISEG_CATEGORIES, size=(HEIGHT, WIDTH), frames=(4, 4)
    )
    cfg = _cfg(root)
    (record,) = get_dataset_records(DATASET, cfg)
    return {"root": str(root), "gt_json": os.path.join(aviseg_dir, "val.json"), "record": record,
            "frames": os.path.dirname(record["frame_paths"][0])}


def _cfg(root, *overrides):
    cfg = get_cfg()
    cfg.merge_from_file(AVIS_CONFIG)
    cfg.merge_from_list([*AVIS_OVERRIDES, "DATASETS.ROOT", str(root), "DATASETS.TEST", f"('{DATASET}',)", *overrides])
    return cfg


def _decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def test_demo_tracks_equal_the_evaluators_for_the_same_video(aviseg, tmp_path):
    cfg = _cfg(aviseg["root"])
    record = aviseg["record"]
    torch.manual_seed(0)
    predictor = VideoPredictor(cfg)
    # The evaluation path: the test mapper's VideoInput, the model, the evaluator's entries.
    output = predictor.model([AVISVideoMapper(cfg, DATASET, is_train=False)(record)])[0]
    segments = output["segments"]
    assert len(segments["scores"]) == 3
    order = torch.from_numpy(np.argsort(-segments["scores"].numpy(), kind="stable"))
    expected = track_predictions(record["video_id"], {"segments": {key: value[order] for key, value in segments.items()}})

    track_demo = TrackDemo.from_config(cfg, DemoRequest(video_id=record["video_id"]))
    demo_input = open_demo_input(aviseg["frames"], record["audio_path"], fps=1.0, allow_silent=False)
    outputs = track_demo.run(predictor, demo_input, str(tmp_path / "out"), show_progress=False)
    with open(outputs.json_path, encoding="utf-8") as f:
        results = json.load(f)
    assert [r["category_id"] for r in results] == [e["category_id"] for e in expected]
    assert [r["segmentations"] for r in results] == [e["segmentations"] for e in expected]
    np.testing.assert_allclose([r["score"] for r in results], [e["score"] for e in expected], rtol=1e-6)
    assert [t.track_id for t in outputs.tracks] == [1, 2, 3]
    assert [t.category for t in outputs.tracks] == [AVISEG_CATEGORIES[e["category_id"] - 1] for e in expected]


def test_cli_outputs_round_trip_and_keep_each_tracks_colour(aviseg, tmp_path, monkeypatch, capsys):
    drawn = []
    real_write = writers.OverlayVideoWriter.write

    def record_write(self, image):
        drawn.append(image.copy())
        real_write(self, image)

    monkeypatch.setattr(writers.OverlayVideoWriter, "write", record_write)
    output_dir = tmp_path / "out"
    video_id = aviseg["record"]["video_id"]
    torch.manual_seed(0)
    code = demo.main([
        "--config-file", AVIS_CONFIG, "--no-progress", "--input", aviseg["frames"],
        "--audio", aviseg["record"]["audio_path"], "--video-id", str(video_id), "--output", str(output_dir),
        *AVIS_OVERRIDES, "DATASETS.ROOT", aviseg["root"], "DATASETS.TEST", f"('{DATASET}',)",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "tracks: #1 " in out and "frames with no track: " in out
    assert sorted(os.listdir(output_dir)) == ["overlay.mp4", "results.json", "track_masks"]

    # results.json: the reference's format, readable by the scorer's reader and its CLI.
    with open(output_dir / "results.json", encoding="utf-8") as f:
        results = json.load(f)
    assert len(results) == 3
    label_space = get_dataset_metadata(DATASET).label_space
    for entry in results:
        assert set(entry) == {"video_id", "score", "category_id", "segmentations"}
        assert entry["video_id"] == video_id
        assert 1 <= entry["category_id"] <= label_space.num_labels
        assert len(entry["segmentations"]) == 4
        for rle in entry["segmentations"]:
            assert isinstance(rle["counts"], str) and _decode(rle).shape == (HEIGHT, WIDTH)
    assert [e["score"] for e in results] == sorted((e["score"] for e in results), reverse=True)
    videos, categories = load_aviseg_json(aviseg["gt_json"])
    read_back = load_predictions(str(output_dir / "results.json"), videos, categories)
    assert [p["segmentations"] for p in read_back] == [e["segmentations"] for e in results]
    assert load_tool("evaluate_predictions").main([
        "--setting", "avis", "--gt-json", aviseg["gt_json"], "--pred-json", str(output_dir / "results.json"),
        "--output", str(tmp_path / "metrics.json"),
    ]) == 0
    assert "FSLA=" in capsys.readouterr().out

    # Track-id PNGs: the track palette, and each pixel the best track covering it.
    masks = torch.from_numpy(np.stack([[_decode(rle) for rle in e["segmentations"]] for e in results]))
    originals = [frame.image for frame in open_demo_input(aviseg["frames"], None, 1.0, True).frames]
    assert len(drawn) == len(originals) == 4
    painted = {}
    for t in range(4):
        png = Image.open(output_dir / "track_masks" / f"{t:06d}.png")
        assert png.mode == "P" and png.size == (WIDTH, HEIGHT)
        assert np.array_equal(np.asarray(png.getpalette(), dtype=np.uint8).reshape(-1, 3), track_palette())
        id_map = np.asarray(png)
        np.testing.assert_array_equal(id_map, track_id_map(masks[:, t]).numpy())
        # The overlay blends a track's pixels with that track's colour, in every frame; its
        # outline and label box are in the colour itself (the label's text is white or black).
        # A near-duplicate track gets no label of its own, and another track's label box (in
        # that track's colour, with white or black text) may lie over its pixels: those are not
        # its to show.
        edges = np.zeros(id_map.shape, dtype=bool)  # where the visualizer draws outlines
        edges[:-1] |= id_map[:-1] != id_map[1:]
        edges[:, :-1] |= id_map[:, :-1] != id_map[:, 1:]
        for track_id in np.unique(id_map[id_map > 0]):
            color = track_color(int(track_id))
            under_label = np.zeros(id_map.shape, dtype=bool)
            for other in set(range(1, len(results) + 1)) - {int(track_id)}:
                # Another track's label box: its colour outside its own pixels (text inside).
                rows, cols = np.nonzero((drawn[t] == track_color(other)).all(axis=-1) & (id_map != other))
                if len(rows):
                    under_label[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
            pixels = (id_map == track_id) & ~under_label
            overlay = drawn[t][pixels].astype(np.float64)

            def blended_with(track: int) -> np.ndarray:
                expected = (1 - MASK_OPACITY) * originals[t][pixels] + MASK_OPACITY * track_color(track)
                return (np.abs(overlay - expected) <= 1).all(axis=1)

            blended = blended_with(int(track_id))
            outlined = (overlay == color).all(axis=1)
            # Inside the outline (a sliver of a track may be all outline), pixels are blended.
            inside = ~edges[pixels]
            assert (blended | outlined).mean() > 0.7 and (not inside.any() or blended[inside].mean() > 0.4), (
                f"frame {t}: track {track_id} is not drawn in its colour {color.tolist()}"
            )
            for other in set(range(1, len(results) + 1)) - {int(track_id)}:
                assert blended_with(other).mean() < 0.05, f"frame {t}: track {track_id} has track {other}'s colour"
            painted.setdefault(int(track_id), []).append(t)
    assert painted, "no track has a visible pixel; the colour checks did not run"


def test_python_predictor_tracks_equal_the_demos_files(aviseg, tmp_path):
    from ov_avss import AudioVisualPredictor
    from ov_avss.demo import TrackingResult

    record = aviseg["record"]
    opts = [*AVIS_OVERRIDES, "DATASETS.ROOT", aviseg["root"], "DATASETS.TEST", f"('{DATASET}',)"]
    torch.manual_seed(0)
    code = demo.main([
        "--config-file", AVIS_CONFIG, "--no-progress", "--input", aviseg["frames"], "--audio", record["audio_path"],
        "--video-id", str(record["video_id"]), "--output", str(tmp_path / "out"), *opts,
    ])
    assert code == 0
    with open(tmp_path / "out" / "results.json", encoding="utf-8") as f:
        results = json.load(f)

    torch.manual_seed(0)  # the same random weights as the demo's model
    predictor = AudioVisualPredictor(AVIS_CONFIG, opts=opts)
    result = predictor(aviseg["frames"], audio=record["audio_path"])
    assert isinstance(result, TrackingResult)
    assert result.names == AVISEG_CATEGORIES and list(result.times) == [0.0, 1.0, 2.0, 3.0]
    assert [t.track_id for t in result.tracks] == [1, 2, 3]
    assert [t.category for t in result.tracks] == [AVISEG_CATEGORIES[r["category_id"] - 1] for r in results]
    np.testing.assert_allclose([t.score for t in result.tracks], [r["score"] for r in results], rtol=1e-6)
    assert result.masks.shape == (3, 4, HEIGHT, WIDTH) and result.masks.dtype == bool
    for k, entry in enumerate(results):
        np.testing.assert_array_equal(result.masks[k], np.stack([_decode(rle) for rle in entry["segmentations"]]))
    for t in range(4):
        png = np.asarray(Image.open(tmp_path / "out" / "track_masks" / f"{t:06d}.png"))
        np.testing.assert_array_equal(result.id_map(t), png)
    with pytest.raises(DemoInputError, match="do not apply to MODEL.META_ARCHITECTURE 'AVISM'"):
        predictor(aviseg["frames"], ["dog"], audio=record["audio_path"])


def test_track_id_map_gives_overlaps_to_the_best_track():
    masks = torch.zeros(3, 2, 4, dtype=torch.bool)
    masks[0, 0, :2] = True
    masks[1, 0, 1:3] = True  # overlaps track 1 at (0, 1)
    masks[2, 1, 3] = True
    expected = torch.tensor([[1, 1, 2, 0], [0, 0, 0, 3]], dtype=torch.uint8)
    assert torch.equal(track_id_map(masks), expected)
    assert torch.equal(track_id_map(torch.zeros(0, 2, 4, dtype=torch.bool)), torch.zeros(2, 4, dtype=torch.uint8))


def test_a_near_duplicate_track_is_coloured_but_not_labelled_again():
    """Near-duplicate tracks on one object (as a low TEST_SCORE_THRESHOLD keeps them) get one label."""
    from ov_avss.demo.track_pipeline import object_labels
    from ov_avss.visualization import visible_frame_segments

    masks = torch.zeros(4, 1, 10, 10, dtype=torch.bool)
    masks[0, 0, 2:6, 2:6] = True  # object A
    masks[1, 0, 2:7, 2:6] = True  # A again, one row longer: 4 of its 5 rows lie inside track 1
    masks[2, 0, 7:9, 7:9] = True  # object B
    masks[3, 0, 5:9, 0:2] = True  # object C, beside A
    id_map = track_id_map(masks[:, 0])
    segments = {"scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.arange(4), "masks": masks}
    visible = visible_frame_segments(id_map.to(torch.int64), segments, 0)
    assert [segment.label for segment in visible] == [1, 2, 3, 4]  # track 2's extra row is visible
    assert [segment.label for segment in object_labels(masks[:, 0], visible)] == [1, 3, 4]
    assert object_labels(masks[:, 0], []) == []


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("media") / "tone.mp4")
    encode_video(path, seconds=2, fps=10, width=80, height=64)
    return path


@pytest.mark.parametrize(
    "config, args, message",
    [
        (AVIS_CONFIG, ["--vocabulary", "dog,violin", *AVIS_OVERRIDES], "do not apply to MODEL.META_ARCHITECTURE 'AVISM'"),
        (AVIS_CONFIG, [], "MODEL.AVISM.AUDIO_ENCODER_ON is False"),
        (AVIS_CONFIG, [*AVIS_OVERRIDES, "MODEL.AVISM.TEST_TOPK", "300"], "track-id PNGs hold at most 255"),
        (AVIS_CONFIG, [*AVIS_OVERRIDES, "DATASETS.TEST", "('avsbench_ov_test',)"], "no instance-track label space"),
        (OV_CONFIG, ["--video-id", "3"], "--video-id is for AVIS configs"),
        (OV_CONFIG, ["MODEL.META_ARCHITECTURE", "NoSuchModel"], "'NoSuchModel' has no demo; demos exist for"),
    ],
)
def test_bad_requests_exit_2_with_one_error_line(video, tmp_path, capsys, config, args, message):
    code = demo.main(["--config-file", config, "--no-progress", "--input", video, "--output", str(tmp_path / "out"),
                      *args])
    assert code == 2
    (line,) = _error_lines(capsys)
    assert message in line
    assert not (tmp_path / "out").exists()


def test_default_vocabulary_is_the_test_datasets():
    cfg = get_cfg()
    cfg.merge_from_file(OV_CONFIG)
    cfg.merge_from_list(["DATASETS.TEST", "('avsbench_s4_test',)"])
    segment_demo = build_demo(cfg, DemoRequest())
    metadata = get_dataset_metadata("avsbench_s4_test")
    assert segment_demo.vocabulary == list(metadata.vocabulary)
    assert segment_demo.audio_padding == metadata.audio_padding == "repeat_last"
    assert build_demo(cfg, DemoRequest(vocabulary=["dog"])).vocabulary == ["dog"]
