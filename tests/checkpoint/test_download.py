"""Weights from http(s) addresses, against a real HTTP server on the loopback address: one
download into the cache, the local files' safety rules, atomic downloads and clear errors."""
from __future__ import annotations

import io
import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from ov_avss.checkpoint import Checkpointer, UnsafePickleError, WeightDownloadError, fetch_weights
from ov_avss.checkpoint.download import cached_weight_path

from weight_server import Route, closed_port_url, weight_server


class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)


class _RunsShell:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class NotATensor:
    """An arbitrary class: ``weights_only`` loading must refuse to construct it."""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The weight cache, set as detectron2 users set it: ``$FVCORE_CACHE``."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FVCORE_CACHE", str(folder))
    return folder


@pytest.fixture
def server():
    with weight_server() as running:
        yield running


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _files_under(folder) -> list[str]:
    """Every file under ``folder``, hidden temporary ones included, except the empty ``.lock``
    files that serialise downloads of one address (they stay, as portalocker's do)."""
    return sorted(
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, names in os.walk(folder)
        for name in names
        if not name.endswith(".lock")
    )


def test_url_weights_are_downloaded_once_and_load_as_a_local_file(cache, server):
    source = TinyModel()
    server.routes["/weights/v1/model_final.pth"] = Route(_torch_bytes({"model": source.state_dict()}))
    url = server.url("/weights/v1/model_final.pth")

    for _ in range(2):
        model = TinyModel()
        Checkpointer(model, save_to_disk=False).load(url)
        for name, value in source.state_dict().items():
            assert torch.equal(model.state_dict()[name], value)
    assert server.requests["/weights/v1/model_final.pth"] == 1
    # detectron2's cache layout: <cache>/<path of the address>; nothing else left behind.
    assert _files_under(cache) == [os.path.join("weights", "v1", "model_final.pth")]
    assert cached_weight_path(url) == str(cache / "weights" / "v1" / "model_final.pth")


def test_cache_folder_given_as_an_argument(tmp_path, server):
    server.routes["/m.pth"] = Route(_torch_bytes(TinyModel().state_dict()))
    path = fetch_weights(server.url("/m.pth"), cache_dir=str(tmp_path / "elsewhere"))
    assert path == str(tmp_path / "elsewhere" / "m.pth") and os.path.isfile(path)


def test_detectron2_pickle_from_a_url_loads_through_the_allow_list(cache, server):
    source = TinyModel()
    weights = {name: value.numpy() for name, value in source.state_dict().items()}
    server.routes["/R-50.pkl"] = Route(pickle.dumps({"model": weights, "__author__": "test"}))
    model = TinyModel()
    Checkpointer(model, save_to_disk=False).load(server.url("/R-50.pkl"))
    assert torch.equal(model.head.weight, source.head.weight)


def test_url_weights_keep_the_safety_rules_of_local_files(cache, server, tmp_path):
    marker = tmp_path / "pwned"
    server.routes["/evil.pkl"] = Route(
        pickle.dumps({"model": {"w": np.zeros(2)}, "payload": _RunsShell(str(marker))})
    )
    with pytest.raises(UnsafePickleError, match="system"):
        Checkpointer(TinyModel(), save_to_disk=False).load(server.url("/evil.pkl"))
    assert not marker.exists()

    server.routes["/suspicious.pth"] = Route(_torch_bytes({"model": TinyModel().state_dict(), "x": NotATensor()}))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        Checkpointer(TinyModel(), save_to_disk=False).load(server.url("/suspicious.pth"))


def test_interrupted_download_leaves_nothing_and_the_next_run_downloads_again(cache, server):
    body = _torch_bytes({"model": TinyModel().state_dict()})
    server.routes["/model.pth"] = Route(body, cut_after=len(body) // 2)
    url = server.url("/model.pth")
    with pytest.raises(WeightDownloadError, match=rf"interrupted after \d+ of {len(body)} bytes"):
        fetch_weights(url)
    assert _files_under(cache) == []  # no partial file, hidden or not

    server.routes["/model.pth"] = Route(body)
    assert open(fetch_weights(url), "rb").read() == body
    assert server.requests["/model.pth"] == 2


def test_cut_download_without_content_length_is_not_cached(cache, server):
    body = _torch_bytes({"model": TinyModel().state_dict()})
    server.routes["/model.pth"] = Route(body[: len(body) // 2], send_length=False)
    with pytest.raises(WeightDownloadError, match="not a readable weight file.*sent no Content-Length"):
        fetch_weights(server.url("/model.pth"))
    assert _files_under(cache) == []

    server.routes["/whole.pth"] = Route(body, send_length=False)
    assert open(fetch_weights(server.url("/whole.pth")), "rb").read() == body


def test_without_content_length_every_weight_format_is_read_through(cache, server):
    """A cut pickle is refused even when its last byte is the STOP opcode's '.', and whole files
    of torch's legacy (non-zip) format and of pickle protocol 0 are accepted."""
    state = {"model": TinyModel().state_dict()}
    legacy = io.BytesIO()
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    server.routes["/legacy.pth"] = Route(legacy.getvalue(), send_length=False)
    assert open(fetch_weights(server.url("/legacy.pth")), "rb").read() == legacy.getvalue()

    protocol0 = pickle.dumps({"model": {"w": np.arange(3.0)}}, protocol=0)
    server.routes["/old.pkl"] = Route(protocol0, send_length=False)
    assert open(fetch_weights(server.url("/old.pkl")), "rb").read() == protocol0

    whole = pickle.dumps({"model": {"w": np.arange(4.0), "name": "a.b"}}, protocol=2)
    cut = whole[: whole.index(b"a.b") + 2]  # ends with b"." but is not a whole pickle
    assert cut.endswith(b".")
    server.routes["/cut.pkl"] = Route(cut, send_length=False)
    with pytest.raises(WeightDownloadError, match="not a readable weight file"):
        fetch_weights(server.url("/cut.pkl"))
    assert _files_under(cache) == ["legacy.pth", "old.pkl"]


def test_concurrent_fetches_of_one_address_download_it_once(cache, server):
    body = _torch_bytes({"model": TinyModel().state_dict()})
    server.routes["/slow.pth"] = Route(body, delay_s=0.5)
    url = server.url("/slow.pth")
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: fetch_weights(url), range(3)))
    assert len(set(paths)) == 1 and open(paths[0], "rb").read() == body
    assert server.requests["/slow.pth"] == 1


def test_unwritable_cache_folder_is_named(tmp_path, server, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FVCORE_CACHE", str(blocker / "cache"))
    server.routes["/model.pth"] = Route(_torch_bytes({"model": TinyModel().state_dict()}))
    with pytest.raises(WeightDownloadError, match=rf"Cannot write the weight cache folder {blocker}"):
        fetch_weights(server.url("/model.pth"))


def test_html_page_is_refused_and_not_cached(cache, server):
    server.routes["/share/model.pth"] = Route(
        b"<!DOCTYPE html><html><body>Confirm download</body></html>", content_type="text/html; charset=utf-8"
    )
    with pytest.raises(WeightDownloadError, match=r"returned an HTML page \(Content-Type text/html; charset=utf-8\), not a weight file"):
        Checkpointer(TinyModel(), save_to_disk=False).load(server.url("/share/model.pth"))
    assert _files_under(cache) == []


def test_other_non_weight_response_is_refused_with_what_came(cache, server):
    server.routes["/api/model.pth"] = Route(b'{"error": "quota exceeded"}', content_type="application/json")
    with pytest.raises(WeightDownloadError) as info:
        fetch_weights(server.url("/api/model.pth"))
    assert """returned b'{"error": "quota'... (Content-Type application/json), not a weight file""" in str(info.value)
    assert _files_under(cache) == []


def test_http_error_and_unreachable_address(cache, server):
    with pytest.raises(WeightDownloadError, match="HTTP 404"):
        fetch_weights(server.url("/missing.pth"))
    url = closed_port_url()
    with pytest.raises(WeightDownloadError, match=rf"Cannot reach {url}.*refused"):
        Checkpointer(TinyModel(), save_to_disk=False).load(url)
    assert _files_under(cache) == []


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:9/weights/", "names no file"),
    ("http://127.0.0.1:9/a/../../etc/model.pth", r"may not contain '\.', '\.\.'"),
])
def test_addresses_that_name_no_cache_file_are_refused(cache, url, message):
    with pytest.raises(ValueError, match=message):
        fetch_weights(url)
