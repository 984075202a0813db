"""Weight files given as ``http(s)://`` addresses: downloaded once into a cache folder, then read
like local files (``read_checkpoint_file``: the allow-list unpickler for ``.pkl``,
``torch.load(weights_only=True)`` otherwise).

The cache is detectron2's: ``$FVCORE_CACHE`` if set, else ``~/.torch/iopath_cache``, with the
same layout (``<cache>/<path of the address>``), so a file detectron2 already downloaded is
reused. As in detectron2 the host is not part of the cache path: two addresses on different
hosts with the same path share one cached file (the log names the address and the cache file).
A cache folder that cannot be written is an error naming it, not a fallback elsewhere.

A download is written through ``atomic_open`` (a temporary file beside the cache path, renamed
into place only when complete) while holding an exclusive lock on ``<cache path>.lock``, so
processes that fetch the same address at once (ranks started by torchrun) download it once: the
others wait and then find it cached. "Complete" means: the body's size equals the announced
``Content-Length``; with chunked transfer, HTTP itself reports a cut body; with neither (the body
ends when the connection closes), the file is read through once with the reader that will load it.
A response that does not start like a weight file (a torch zip archive or a pickle) is refused.
An interrupted download therefore never leaves a file that a later run takes as complete.

iopath's ``HTTPURLHandler`` (detectron2's downloader) is not used: it writes every download of a
file to the same ``<file>.tmp``, caches whatever the server answered (an HTML page included) as
the weight file, falls back to ``/tmp`` when the cache folder is not writable, and raises
urllib's exceptions as they are.
"""
from __future__ import annotations

import contextlib
import fcntl
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Iterator, Optional

import torch

from ov_avss.utils.file_io import atomic_open

from .safe_pickle import load_safe_pickle

logger = logging.getLogger(__name__)

URL_SCHEMES = ("http://", "https://")
# torch.save writes a zip archive; detectron2 .pkl files and torch's legacy format are pickles:
# protocol 2+ starts with the PROTO opcode, protocols 0/1 (old .pkl files) with an opcode such as
# '(' (MARK), '}' (EMPTY_DICT) or ']' (EMPTY_LIST).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_STARTS = (b"\x80", b"(", b"}", b"]")
DEFAULT_CACHE_DIR = "~/.torch/iopath_cache"
_CHUNK_BYTES = 1 << 20
_HEAD_BYTES = 1024  # enough to recognise a weight file's magic bytes or an HTML page
DEFAULT_TIMEOUT_S = 60.0


class WeightDownloadError(OSError):
    """A weight address could not be downloaded into a complete weight file (unreachable,
    an HTTP error, an interrupted transfer, or a response that is no weight file)."""


def is_url(path: str) -> bool:
    """Whether ``path`` is an ``http://`` or ``https://`` address."""
    return isinstance(path, str) and path.lower().startswith(URL_SCHEMES)


def cached_weight_path(url: str, cache_dir: Optional[str] = None) -> str:
    """Where ``url`` is cached: ``<cache>/<path of the address>`` (detectron2's layout).

    Raises:
        ValueError: the address names no file, or its path climbs out of the cache (``..``).
    """
    path = urllib.parse.urlparse(url).path
    parts = [urllib.parse.unquote(part) for part in path.split("/") if part]
    if not parts or path.endswith("/"):
        raise ValueError(f"Weight address {url} names no file (its path must end with a file name)")
    if any(part in (".", "..") or os.sep in part for part in parts):
        raise ValueError(f"Weight address {url}: its path may not contain '.', '..' or '{os.sep}' segments")
    return os.path.join(weight_cache_dir(cache_dir), *parts)


def weight_cache_dir(cache_dir: Optional[str] = None) -> str:
    """The cache folder: ``cache_dir``, else ``$FVCORE_CACHE``, else ``~/.torch/iopath_cache``."""
    return os.path.expanduser(cache_dir or os.environ.get("FVCORE_CACHE") or DEFAULT_CACHE_DIR)


def resolve_weight_path(path: str, cache_dir: Optional[str] = None) -> str:
    """``path`` itself when it is local; for an address, the cached file (downloaded first if
    it is not cached yet)."""
    return fetch_weights(path, cache_dir) if is_url(path) else path


def fetch_weights(url: str, cache_dir: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """The local path of the weight file at ``url``, downloading it once into the cache.

    Args:
        url: an ``http(s)://`` address.
        cache_dir: the cache folder; default ``$FVCORE_CACHE`` or ``~/.torch/iopath_cache``.
        timeout: seconds to wait for the connection and for each read.

    Raises:
        WeightDownloadError: the address cannot be reached, answers with an HTTP error, the
            transfer stops early, or the response is no weight file (e.g. an HTML page).
        ValueError: the address names no file.
    """
    target = cached_weight_path(url, cache_dir)
    if os.path.isfile(target):
        logger.info("Weights of %s: cached in %s", url, target)
        return target
    with _download_lock(target):
        if os.path.isfile(target):  # another process finished it while this one waited
            logger.info("Weights of %s: downloaded by another process into %s", url, target)
            return target
        logger.info("Downloading %s into %s", url, target)
        with atomic_open(target, "wb") as f:
            length_checked = _download_into(url, f, timeout)
            if not length_checked:
                f.flush()
                _check_readable(url, f.name, target)
    logger.info("Downloaded %s (%d bytes) to %s", url, os.path.getsize(target), target)
    return target


@contextlib.contextmanager
def _download_lock(target: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``<target>.lock`` (created in the cache folder, which must be
    writable: the error names it)."""
    directory = os.path.dirname(target)
    try:
        os.makedirs(directory, exist_ok=True)
        lock = open(target + ".lock", "a")
    except OSError as error:
        raise WeightDownloadError(
            f"Cannot write the weight cache folder {directory} ({error.strerror or error}); "
            "set $FVCORE_CACHE to a writable folder"
        ) from error
    with lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _download_into(url: str, out, timeout: float) -> bool:
    """Stream the body of ``url`` into ``out``. Returns whether HTTP itself vouches that the body
    is whole: its size equals the announced ``Content-Length``, or it came in chunks (whose end
    http.client checks); False when the body simply ended with the connection."""
    request = urllib.request.Request(url, headers={"User-Agent": "ov_avss"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise WeightDownloadError(f"Cannot download weights from {url}: HTTP {error.code} {error.reason}") from error
    except (http.client.HTTPException, OSError) as error:  # URLError, timeout, reset
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise WeightDownloadError(f"Cannot reach {url} to download weights: {reason}") from error
    with response:
        content_type = response.headers.get("Content-Type", "")
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        written = 0
        head = b""  # the first bytes, until there are enough to recognise the format
        while True:
            try:
                chunk = response.read(_CHUNK_BYTES)
            except (http.client.HTTPException, OSError) as error:  # IncompleteRead, reset, timeout
                raise WeightDownloadError(
                    f"Download of {url} was interrupted after {written} of "
                    f"{expected if expected is not None else 'an unknown number of'} bytes "
                    f"({type(error).__name__}); nothing was cached, run again to retry"
                ) from error
            if not chunk:
                break
            if len(head) < _HEAD_BYTES:
                head += chunk[: _HEAD_BYTES - len(head)]
                if len(head) == _HEAD_BYTES:
                    _check_weight_start(url, head, content_type)
            out.write(chunk)
            written += len(chunk)
    if written == 0:
        raise WeightDownloadError(f"{url} answered with an empty body, not a weight file")
    if len(head) < _HEAD_BYTES:
        _check_weight_start(url, head, content_type)
    if expected is not None and written != expected:
        raise WeightDownloadError(
            f"Download of {url} was interrupted after {written} of {expected} bytes (the connection "
            "closed before the announced Content-Length); nothing was cached, run again to retry"
        )
    return expected is not None or bool(getattr(response, "chunked", False))


def _check_weight_start(url: str, head: bytes, content_type: str) -> None:
    """A weight file is a torch zip archive or a pickle; anything else (an HTML page from a
    sharing site's confirmation step, a JSON error) is refused with what came instead."""
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_STARTS):
        return
    kind = f"Content-Type {content_type}" if content_type else "no Content-Type"
    if b"<html" in head.lower() or b"<!doctype" in head.lower() or "html" in content_type:
        what = f"an HTML page ({kind})"
    else:
        what = f"{head[:16]!r}... ({kind})"
    raise WeightDownloadError(
        f"{url} returned {what}, not a weight file (a torch .pth zip archive or a .pkl pickle); "
        "use the address of the file itself (a direct download link)"
    )


def _check_readable(url: str, path: str, target: str) -> None:
    """Without a length or chunking, a body cut short looks complete to HTTP: read the file
    through once as it will be loaded (a zip archive must have its central directory; a pickle
    or a legacy torch file must unpickle to its end)."""
    try:
        if zipfile.is_zipfile(path):
            return
        if target.endswith(".pkl"):
            load_safe_pickle(path)
        else:
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read means the file is not whole
        raise WeightDownloadError(
            f"Download of {url} is not a readable weight file ({type(error).__name__}: {error}); the "
            "server sent no Content-Length, so the transfer was probably cut short; nothing was "
            "cached, run again to retry"
        ) from error
