"""A small HTTP server on 127.0.0.1 (an ephemeral port) that serves weight files, started and
stopped by the tests; each route is a way a real server answers."""
from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Route:
    """``body`` sent with ``status``; ``cut_after`` bytes sent before the connection is closed
    (the announced Content-Length stays the whole body's); ``send_length`` False sends no
    Content-Length (the end of the body is the end of the connection)."""

    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    cut_after: int | None = None
    send_length: bool = True
    delay_s: float = 0.0


@dataclass
class WeightServer:
    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@contextlib.contextmanager
def weight_server() -> Iterator[WeightServer]:
    """Serve ``server.routes`` (path -> Route, filled by the test) until the block ends."""
    state = WeightServer(base_url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests[self.path] += 1
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            time.sleep(route.delay_s)
            body = route.body if route.cut_after is None else route.body[: route.cut_after]
            self.wfile.write(body)
            self.wfile.flush()
            if route.cut_after is not None or not route.send_length:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url(path: str = "/model.pth") -> str:
    """An address on 127.0.0.1 where nothing listens (a port bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
