"""Shared pieces of the feed simulators: atomic file delivery, a loopback HTTP
server with injectable transient failures, Kafka publishing."""
from __future__ import annotations

import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from kafka import KafkaProducer

from cityhub.declarations import load
from cityhub.declarations.regions import City


def city(code: str, declarations: Path | None = None) -> City:
    """A declared city (the simulators' worlds are per city); ``declarations``: a folder
    like ``schemas/`` (default: the declarations installed with the hub)."""
    return load(declarations).city(code)


def cities(declarations: Path | None = None) -> dict[str, City]:
    return load(declarations).cities


def write_atomic(path: Path, data: bytes) -> Path:
    """Write via a hidden temp file in the same directory, then rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def unknown_county_code(c) -> str:
    """A county-looking code under the city's prefix that the city does not
    declare (…99 first): the 'unknown region' fault of every simulator."""
    for n in range(99, 0, -1):
        code = f"{c.code[:4]}{n:02d}"
        if code not in c.counties and code != c.code:
            return code
    raise ValueError(f"no undeclared county code left under {c.code}")


Route = Callable[[dict[str, str]], tuple[int, bytes, str]]
"""query parameters -> (status, body, content type)"""


def serve_http(routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0,
               fail_every: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``routes`` (path -> handler) on loopback in a daemon thread; returns
    the server and its base URL. With ``fail_every=N`` every N-th request gets a
    503 first, as flaky department platforms do (a retry then succeeds)."""
    counter = {"n": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            route = routes.get(url.path)
            if route is None:
                return self._reply(404, f"no route {url.path}\n".encode(), "text/plain; charset=utf-8")
            with lock:
                counter["n"] += 1
                flaky = fail_every and counter["n"] % fail_every == 0
            if flaky:
                return self._reply(503, b"busy, try again\n", "text/plain; charset=utf-8")
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, body, ctype = route(query)
            self._reply(status, body, ctype)

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="simulator-http", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"


def publish(lines: list[tuple[bytes | None, bytes]], bootstrap: str, topic: str) -> int:
    """Publish (key, value) pairs to Kafka in order; returns the count sent."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, acks="all")
    try:
        for key, value in lines:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()
    return len(lines)
