"""Weight files given as ``http(s)://`` addresses: downloaded once into a cache folder, then read
like local files (``read_checkpoint_file``: the allow-list unpickler for ``.pkl``,
``torch.load(weights_only=True)`` otherwise).

The cache is detectron2's: ``$FVCORE_CACHE`` if set, else ``~/.torch/iopath_cache`` (iopath's
``get_cache_dir``), with the same layout (``<cache>/<path of the address>``), so a file
detectron2 already downloaded is reused. A download goes into a hidden temporary file beside its
cache path and is renamed into place only once it is complete (its size equals the
``Content-Length`` the server announced; without one, a zip archive must end with its central
directory and a pickle with its STOP opcode) and starts like a weight file (a torch zip archive
or a pickle). An interrupted download therefore never leaves a file that a later run takes as
complete. Processes downloading the same address at once (e.g. ranks started by torchrun) each
write their own temporary file and rename a complete copy.

iopath's ``HTTPURLHandler`` (detectron2's downloader) is not used: it writes every download of a
file to the same ``<file>.tmp`` (concurrent processes write into one file, serialised only by an
optional ``portalocker`` lock), caches whatever the server answered (an HTML page included) as
the weight file, and raises urllib's exceptions as they are.
"""
from __future__ import annotations

import contextlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Optional

from iopath.common.file_io import get_cache_dir

logger = logging.getLogger(__name__)

URL_SCHEMES = ("http://", "https://")
# torch.save writes a zip archive; detectron2 .pkl files (and torch's legacy format) are pickles,
# which start with the PROTO opcode and end with STOP.
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"
_PICKLE_STOP = b"."
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
    return os.path.join(get_cache_dir(cache_dir), *parts)


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
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    logger.info("Downloading %s into %s", url, target)
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            size = _download_into(url, f, timeout)
            f.flush()
            os.fsync(f.fileno())
        _check_complete_without_length(url, temp_path, size)
        os.chmod(temp_path, 0o644)
        # Several processes may download the same file at once; each renames a complete copy.
        os.replace(temp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)
        raise
    logger.info("Downloaded %s (%d bytes) to %s", url, os.path.getsize(target), target)
    return target


def _download_into(url: str, out, timeout: float) -> Optional[int]:
    """Stream the body of ``url`` into ``out``; returns the announced ``Content-Length`` (None
    when the server sent none), which the written size has been checked against."""
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
    return expected


def _check_weight_start(url: str, head: bytes, content_type: str) -> None:
    """A weight file is a torch zip archive or a pickle; anything else (an HTML page from a
    sharing site's confirmation step, a JSON error) is refused with what came instead."""
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO):
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


def _check_complete_without_length(url: str, path: str, length: Optional[int]) -> None:
    """Without a ``Content-Length`` a transfer cut short looks complete to HTTP; check that the
    file ends as its format ends."""
    if length is not None:
        return
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
    complete = zipfile.is_zipfile(path) if head.startswith(_ZIP_MAGIC) else last == _PICKLE_STOP
    if not complete:
        raise WeightDownloadError(
            f"Download of {url} ended early: the server sent no Content-Length and the "
            f"{'zip archive has no central directory' if head.startswith(_ZIP_MAGIC) else 'pickle has no STOP opcode'} "
            "at its end; nothing was cached, run again to retry"
        )

