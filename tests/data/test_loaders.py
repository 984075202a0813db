"""Train / test loaders: seeded, sharded and resumable sampling; windows; audio ablations."""
from __future__ import annotations

import itertools
import shutil
import wave

import torch

from ov_avss.audio.log_mel import silence_log_mel
from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records
from ov_avss.data.build import (
    TrainingSampler,
    build_test_loader,
    build_train_loader,
)


def _signature(batch):
    return [(window["uid"], tuple(window["frame_indices"]), window["frames"].shape, int(window["frames"].float().sum())) for window in batch]


def test_training_sampler_shards_and_resumes():
    full = [b for b in itertools.islice(iter(TrainingSampler(7, 2, seed=3)), 12)]
    resumed = [b for b in itertools.islice(iter(TrainingSampler(7, 2, seed=3, start_iter=5)), 7)]
    assert resumed == full[5:]
    # Every epoch of the global stream visits each sample once.
    indices = [i for batch in full for i, _ in batch]
    assert sorted(indices[:7]) == list(range(7))
    ranks = [list(itertools.islice(iter(TrainingSampler(7, 2, seed=3, rank=r, world_size=2)), 4)) for r in (0, 1)]
    global_stream = [x for batch in itertools.islice(iter(TrainingSampler(7, 4, seed=3)), 4) for x in batch]
    interleaved = [x for pair in zip(*[[x for b in rank for x in b] for rank in ranks]) for x in pair]
    assert interleaved == global_stream  # rank r holds positions r, r + 2, ...: disjoint shards
    assert list(itertools.islice(iter(TrainingSampler(7, 2, seed=4)), 3)) != full[:3]


def test_train_loader_resumes_exactly(data_cfg):
    data_cfg.SOLVER.IMS_PER_BATCH = 2
    data_cfg.INPUT.LONG_CLIP_MODE = "windows"
    first = [_signature(b) for b in itertools.islice(build_train_loader(data_cfg), 4)]
    resumed = [_signature(b) for b in itertools.islice(build_train_loader(data_cfg, start_iter=2), 2)]
    assert resumed == first[2:]
    assert all(len(b) == 2 for b in first)
    assert all(len(sig[1]) == 5 for batch in first for sig in batch)


def test_train_loader_with_worker_matches_main_process(data_cfg):
    serial = [_signature(b) for b in itertools.islice(build_train_loader(data_cfg), 2)]
    data_cfg.DATALOADER.NUM_WORKERS = 1
    parallel = [_signature(b) for b in itertools.islice(build_train_loader(data_cfg), 2)]
    assert parallel == serial


def test_test_loader_windows_and_full(data_cfg):
    loader = build_test_loader(data_cfg, "avsbench_ov_test")
    batches = list(loader)
    assert all(len(b) == 1 for b in batches)
    uids = [b[0]["uid"] for b in batches]
    assert [_signature(b) for b in build_test_loader(data_cfg, "avsbench_ov_test")] == [_signature(b) for b in batches]
    data_cfg.INPUT.LONG_CLIP_MODE = "full"
    full = list(build_test_loader(data_cfg, "avsbench_ov_test"))
    assert len(full) == len(set(uids)) <= len(batches)
    assert {b[0]["frames"].shape[0] for b in full} <= {5, 10}


def test_audio_ablations(data_cfg):
    normal = [b[0] for b in build_test_loader(data_cfg, "avsbench_ov_test")]
    data_cfg.TEST.AUDIO_ABLATION = "zero"
    zero = [b[0] for b in build_test_loader(data_cfg, "avsbench_ov_test")]
    assert all(torch.equal(c["audio"], silence_log_mel(c["audio"].shape[0])) for c in zero)
    assert all(torch.equal(a["frames"], b["frames"]) for a, b in zip(normal, zero))
    data_cfg.TEST.AUDIO_ABLATION = "shuffle"
    shuffled = [b[0] for b in build_test_loader(data_cfg, "avsbench_ov_test")]
    again = [b[0] for b in build_test_loader(data_cfg, "avsbench_ov_test")]
    by_uid = {}
    for window in normal:
        by_uid.setdefault(window["uid"], []).append(window["audio"])
    for window, repeat in zip(shuffled, again):
        assert torch.equal(window["audio"], repeat["audio"])  # a fixed derangement
        assert not any(torch.equal(window["audio"], own) for own in by_uid[window["uid"]])


def _truncate_wav(path: str, seconds: float) -> None:
    with wave.open(path, "rb") as r:
        params, pcm = r.getparams(), r.readframes(int(seconds * r.getframerate()))
    with wave.open(path, "wb") as w:
        w.setparams(params)
        w.writeframes(pcm)


def test_shuffled_audio_is_padded_as_the_donors_own_on_a_repeat_last_dataset(data_cfg, tmp_path):
    """S4 repeats a short track's last example; a window given a short donor's audio gets that
    donor's audio exactly as the donor's own window does (before: zero-padded)."""
    root = tmp_path / "datasets"
    shutil.copytree(data_cfg.DATASETS.ROOT, root)
    data_cfg.DATASETS.ROOT = str(root)
    records = get_dataset_records("avsbench_s4_test", data_cfg)
    assert get_dataset_metadata("avsbench_s4_test").audio_padding == "repeat_last" and len(records) == 2
    for record in records:
        _truncate_wav(record["audio_path"], 3.2)  # 3 whole examples for 5 frames
    normal = {b[0]["uid"]: b[0]["audio"] for b in build_test_loader(data_cfg, "avsbench_s4_test")}
    data_cfg.TEST.AUDIO_ABLATION = "shuffle"
    shuffled = {b[0]["uid"]: b[0]["audio"] for b in build_test_loader(data_cfg, "avsbench_s4_test")}
    first, second = (r["uid"] for r in records)
    assert torch.equal(shuffled[first], normal[second]) and torch.equal(shuffled[second], normal[first])
    for audio in shuffled.values():
        assert torch.equal(audio[3], audio[2]) and torch.equal(audio[4], audio[2]) and audio[4].any()
