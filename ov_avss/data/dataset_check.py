"""Check every file of every video of a dataset before training reads it.

A missing frame, an unreadable wav or a mask of the wrong size would otherwise stop training
at the iteration that first samples the video. The check reads no pixels and no samples: one
directory listing per folder of a video, image sizes from their headers (PIL opens lazily) and
wav headers through ``wav_io.read_wav_info``. It cannot see damage after a header (a JPEG cut
short in its pixel data); such a file still fails, naming itself, when it is read.

Problems are collected for all videos (up to ``max_problems``), each naming the video, the file
and what was expected, so that one run of ``tools/check_dataset.py`` lists what to fix.
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence

from PIL import Image, UnidentifiedImageError

from ov_avss.utils import comm

from ..audio.wav_io import WavFormatError, is_wav_path, read_wav_info

__all__ = ["DatasetCheckError", "check_video_files", "check_records"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PROBLEMS = 100
_SHOWN_IN_ERROR = 20
_IO_THREADS = 4


class DatasetCheckError(ValueError):
    """Files of registered videos are missing or malformed; ``problems`` lists them."""

    def __init__(self, problems: Sequence[str], num_videos: int, truncated: bool) -> None:
        self.problems = list(problems)
        more = "at least " if truncated else ""
        # One line, for the end of a command line's report (after the problems).
        self.summary = (
            f"{more}{len(self.problems)} problems in {num_videos} videos "
            "(set DATALOADER.CHECK_FILES False to skip this check)"
        )
        shown = "\n  ".join(self.problems[:_SHOWN_IN_ERROR])
        hidden = len(self.problems) - _SHOWN_IN_ERROR
        tail = f"\n  ... and {hidden} more" if hidden > 0 else ""
        super().__init__(f"{self.summary}:\n  {shown}{tail}")


def _image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` from the image header."""
    with Image.open(path) as image:
        return image.size


def _record_files(record: dict) -> tuple[str, list[str], list[str | None], str | None, tuple[int, int] | None]:
    """``(where, frame paths, mask paths, audio path, (width, height) or None)`` of a record
    (docs/architecture.md, "Records"): label-map records list ``mask_paths``; instance records
    (with ``tracks``) hold masks as RLE in the annotation file and state their size. The audio is
    the record's precomputed embedding file when it ships one, else the wav (as the reader checks).
    """
    frame_paths = list(record["frame_paths"])
    embeddings = list(record["audio_embedding_paths"].values())
    audio_path = embeddings[0] if embeddings else record["audio_path"]
    if "tracks" not in record:
        mask_paths = list(record.get("mask_paths") or [None] * len(frame_paths))
        return f"{record['dataset_name']} video {record['uid']}", frame_paths, mask_paths, audio_path, None
    size = (int(record["width"]), int(record["height"]))
    return f"{record['dataset_name']} video {record['uid']}", frame_paths, [None] * len(frame_paths), audio_path, size


def _check_video(record: dict) -> list[str]:
    """This record's problems: ``<dataset> video <uid>: <file> <what is wrong>``."""
    problems: list[str] = []
    where, frame_paths, mask_paths, audio_path, stated_size = _record_files(record)
    paths = [*frame_paths, *(p for p in mask_paths if p is not None), *([audio_path] if audio_path else [])]
    listings: dict[str, set[str]] = {}
    for folder in {os.path.dirname(p) for p in paths}:
        try:
            listings[folder] = set(os.listdir(folder))
        except OSError as error:
            problems.append(f"{where}: folder {folder} cannot be listed ({error.strerror or error})")
            listings[folder] = set()
    present = {p for p in paths if os.path.basename(p) in listings[os.path.dirname(p)]}
    for path in paths:
        if path not in present and os.path.isdir(os.path.dirname(path)):
            problems.append(f"{where}: {path} is missing")

    frame_sizes: list[tuple[int, int] | None] = []
    for path in frame_paths:
        size = None
        if path in present:
            try:
                size = _image_size(path)
            except (UnidentifiedImageError, OSError) as error:
                problems.append(f"{where}: frame {path} is not a readable image ({error})")
        frame_sizes.append(size)
    known = [s for s in frame_sizes if s is not None]
    if known and any(s != known[0] for s in known):
        sizes = sorted({f"{w}x{h}" for w, h in known})
        problems.append(f"{where}: frames differ in size ({', '.join(sizes)}); a video's frames must share one size")
    elif known and stated_size is not None and known[0] != stated_size:
        problems.append(
            f"{where}: frames are {known[0][0]}x{known[0][1]} but the annotation file states "
            f"{stated_size[0]}x{stated_size[1]} (width x height); its masks are of that size"
        )

    for t, path in enumerate(mask_paths):
        if path is None or path not in present:
            continue
        try:
            width, height = _image_size(path)
        except (UnidentifiedImageError, OSError) as error:
            problems.append(f"{where}: mask {path} is not a readable image ({error})")
            continue
        frame_size = frame_sizes[t] if t < len(frame_sizes) else None
        if frame_size is not None and (width, height) != frame_size:
            problems.append(
                f"{where}: mask {path} is {width}x{height} but its frame {frame_paths[t]} is "
                f"{frame_size[0]}x{frame_size[1]}"
            )

    if audio_path and audio_path in present and is_wav_path(audio_path):
        try:
            info = read_wav_info(audio_path)
        except (WavFormatError, OSError) as error:
            problems.append(f"{where}: audio {error}")
        else:
            if info.num_frames == 0:
                problems.append(f"{where}: audio {audio_path} has no samples")
    return problems


def check_records(records: Iterable[dict], max_problems: int = DEFAULT_MAX_PROBLEMS) -> tuple[list[str], int, bool]:
    """Check the files of ``records`` (dataset records as ``get_dataset_records`` returns: the
    AVSBench videos' or the AVISeg videos').

    Videos are checked by ``_IO_THREADS`` threads: the time goes into waiting for the disk
    (directory listings and header reads of files not in the page cache); 4 threads took 10k
    uncached videos from 29 s to 12 s on a 2-core machine (docs/training.md).

    Returns:
        ``(problems, num_videos_checked, truncated)``, problems in record order; ``truncated``
        when checking stopped after ``max_problems`` problems.
    """
    problems: list[str] = []
    num_videos = 0
    pool = ThreadPoolExecutor(max_workers=_IO_THREADS)
    try:
        for video_problems in pool.map(_check_video, records):
            num_videos += 1
            problems.extend(video_problems)
            if len(problems) >= max_problems:
                return problems[:max_problems], num_videos, True
    finally:
        pool.shutdown(cancel_futures=True)  # after the cap, the videos not started are skipped
    return problems, num_videos, False


def check_video_files(records: Sequence[dict], description: str, max_problems: int = DEFAULT_MAX_PROBLEMS) -> None:
    """Check ``records`` (every rank passes the same ones); the main process checks, every
    rank raises.

    Raises:
        DatasetCheckError: listing the problems found (all of them, up to ``max_problems``).
    """
    result: tuple[list[str], int, bool] | None = None
    if comm.is_main_process():
        start = time.perf_counter()
        result = check_records(records, max_problems)
        logger.info(
            "Checked the files of %d videos of %s in %.1f s: %d problems%s",
            result[1], description, time.perf_counter() - start, len(result[0]),
            " (stopped at the limit)" if result[2] else "",
        )
    problems, num_videos, truncated = comm.all_gather(result)[0]
    if problems:
        raise DatasetCheckError(problems, num_videos, truncated)
