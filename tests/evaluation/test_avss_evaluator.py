"""AVSSEvaluator against hand-computed confusion matrices, F-scores, the label-noise filter,
exported predictions and a 2-process gloo reduction."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from helpers import evaluation_window
from ov_avss.config import get_cfg
from ov_avss.data.categories import CATEGORIES, CATEGORY_TO_INDEX
from ov_avss.data.image_io import read_palette_mask
from ov_avss.evaluation import AVSSEvaluator, build_evaluator

DOG, CAR, CAT, VIOLIN = (CATEGORY_TO_INDEX[n] for n in ("dog", "car", "cat", "violin"))


def blocks(layout, size: int = 112) -> torch.Tensor:
    """A [1, 2*size, 2*size] label map from a 2x2 block layout."""
    grid = torch.tensor(layout, dtype=torch.int64)
    return grid.repeat_interleave(size, 0).repeat_interleave(size, 1)[None]


def f_measure(tp, predicted, actual, beta2=0.3):
    p, r = tp / predicted, tp / actual
    return (1 + beta2) * p * r / (beta2 * p + r)


def windows():
    """Two windows in the full 70-name vocabulary (label = palette index)."""
    gt1 = blocks([[DOG, DOG], [0, CAR]])
    pred1 = blocks([[DOG, 0], [CAR, CAR]])
    gt2 = torch.cat([blocks([[VIOLIN, VIOLIN], [0, 0]]), torch.full((1, 224, 224), 255)])  # frame 2 not annotated
    gt2[0, -10:, -10:] = CAT  # label noise: cat does not sound in window b; predicted background there
    pred2 = torch.cat([blocks([[VIOLIN, 0], [0, 0]]), blocks([[DOG, DOG], [DOG, DOG]])])
    inputs = [
        evaluation_window("a", gt1, frame_indices=[0], vocabulary=CATEGORIES, sounding_categories=["dog", "car"]),
        evaluation_window("b", gt2, frame_indices=[3, 4], vocabulary=CATEGORIES, sounding_categories=["violin"]),
    ]
    outputs = [{"sem_seg": pred1}, {"sem_seg": pred2}]
    return inputs, outputs


def expected_metrics():
    # Blocks (1 block = 112x112 px): window a: (dog,dog) (dog,bg) (bg,car) (car,car); window b frame 1:
    # (violin,violin) (violin,bg) (bg,bg) x2, with stray cat pixels inside a (bg,bg) block. Frame
    # b/2 is ignored.
    iou = {"background": 2 / (3 + 4 - 2), "dog": 1 / 2, "car": 1 / 2, "violin": 1 / 2}
    f = {
        "background": (0.0 + f_measure(2, 3, 2)) / 2,
        "dog": f_measure(1, 1, 2),
        "car": f_measure(1, 2, 1),
        "violin": f_measure(1, 1, 2),
    }
    return iou, f


def _check(results, output_dir):
    iou, f = expected_metrics()
    metrics = results["sem_seg"]
    assert metrics["protocol"] == "ov_avss"
    assert metrics["mIoU"] == pytest.approx(np.mean(list(iou.values())))
    assert metrics["mIoU_base"] == pytest.approx(0.5)  # dog and car; cat never occurs after filtering
    assert metrics["mIoU_novel"] == pytest.approx(0.5)
    assert metrics["mIoU_harmonic"] == pytest.approx(0.5)
    assert metrics["F_score"] == pytest.approx(np.mean(list(f.values())))
    with open(os.path.join(output_dir, "avss_metrics.json")) as fh:
        written = json.load(fh)
    assert written["protocol"] == "ov_avss"
    assert set(written["per_class"]) == set(iou)
    for name in iou:
        assert written["per_class"][name]["iou"] == pytest.approx(iou[name])
        assert written["per_class"][name]["f_score"] == pytest.approx(f[name])
    assert os.path.getsize(os.path.join(output_dir, "per_class_iou.png")) > 1000


def test_hand_computed_metrics(tmp_path):
    evaluator = build_evaluator(get_cfg(), "avsbench_ov_test", str(tmp_path))
    assert isinstance(evaluator, AVSSEvaluator)
    evaluator.reset()
    inputs, outputs = windows()
    for video_input, window_output in zip(inputs, outputs):
        evaluator.process([video_input], [window_output])
    _check(evaluator.evaluate(), str(tmp_path))


def test_resizes_to_224_and_maps_vocabulary_by_name(tmp_path):
    """Predictions in a sub-vocabulary's labels (label k = vocabulary[k-1]) against ground truth in
    the dataset's labels, at 448x448, give the same scores."""
    evaluator = AVSSEvaluator("avsbench_ov_test", get_cfg(), str(tmp_path))
    vocabulary = ["violin", "car", "dog"]
    to_vocabulary = torch.zeros(256, dtype=torch.int64)
    to_vocabulary[VIOLIN], to_vocabulary[CAR], to_vocabulary[DOG] = 1, 2, 3
    inputs, outputs = windows()
    for video_input, window_output in zip(inputs, outputs):
        gt = video_input["sem_seg_gt"].repeat_interleave(2, 1).repeat_interleave(2, 2)
        video_input = dict(video_input, vocabulary=vocabulary, sem_seg_gt=gt)
        pred = window_output["sem_seg"].repeat_interleave(2, 1).repeat_interleave(2, 2)
        evaluator.process([video_input], [{"sem_seg": to_vocabulary[pred]}])
    _check(evaluator.evaluate(), str(tmp_path))


def test_closed_set_reports_avsbench_protocol_beside_ov(tmp_path):
    evaluator = AVSSEvaluator("avsbench_semantic_test", get_cfg(), str(tmp_path))
    inputs, outputs = windows()
    evaluator.process(inputs, outputs)
    results = evaluator.evaluate()
    assert results["sem_seg"].keys() == {"protocol", "mIoU", "F_score"}
    assert results["sem_seg"]["protocol"] == "avsbench_avss"
    assert results["sem_seg_ov_avss"]["protocol"] == "ov_avss"
    iou, _ = expected_metrics()
    assert results["sem_seg_ov_avss"]["mIoU"] == pytest.approx(np.mean(list(iou.values())))


def test_export_predictions(tmp_path):
    cfg = get_cfg()
    cfg.TEST.EXPORT_PREDICTIONS = True
    evaluator = AVSSEvaluator("avsbench_ov_test", cfg, str(tmp_path))
    inputs, outputs = windows()
    evaluator.process(inputs, outputs)
    for video_input, window_output in zip(inputs, outputs):
        for slot, frame in enumerate(video_input["frame_indices"]):
            path = tmp_path / "predictions" / video_input["uid"] / f"{frame}.png"
            assert np.array_equal(read_palette_mask(str(path), 71), window_output["sem_seg"][slot].numpy())


def _worker(rank: int, init_file: str, output_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        evaluator = AVSSEvaluator("avsbench_ov_test", get_cfg(), output_dir)
        inputs, outputs = windows()
        evaluator.process(inputs[rank : rank + 1], outputs[rank : rank + 1])
        results = evaluator.evaluate()
        if rank == 0:
            with open(os.path.join(output_dir, "rank0.json"), "w") as f:
                json.dump(results, f)
        else:
            assert results is None
    finally:
        dist.destroy_process_group()


def test_two_process_reduction_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    with open(tmp_path / "rank0.json") as f:
        _check(json.load(f), str(tmp_path))


@pytest.mark.parametrize("bad_label", [256, 924, -1])
def test_out_of_range_ground_truth_is_refused_naming_the_window(bad_label):
    """Also at a size other than 224x224, where the PIL resize works on uint8 (256 would wrap
    around to background)."""
    evaluator = AVSSEvaluator("avsbench_ov_test")
    gt = torch.zeros(1, 100, 150, dtype=torch.int64)
    gt[0, :10, :10] = bad_label
    window = evaluation_window("clip_z", gt, frame_indices=[0], vocabulary=CATEGORIES, sounding_categories=["dog"])
    with pytest.raises(ValueError, match=rf"Window clip_z: ground-truth labels must lie in \[0, 255\], got \[{min(bad_label, 0)}, {max(bad_label, 0)}\]"):
        evaluator.process([window], [{"sem_seg": torch.zeros(1, 100, 150, dtype=torch.int64)}])
