"""Shared pieces of the feed simulators: atomic file delivery, a loopback HTTP
server with injectable transient failures, Kafka publishing, and the township-level
units items are located in."""
from __future__ import annotations

import csv
import functools
import os
import tempfile
import threading
from importlib import resources
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


# ------------------------------------------------------------------ township-level units
#
# A township-level unit's statistical division code (统计用区划代码) is the county's six
# digits and three of its own, whose range says what it is. ``data/townships_37.csv`` has
# Shandong's units (code and name, 2022), without those of the functional zones
# (county-level codes with 5th digit 7), which are not GB/T 2260 counties.

STREET, TOWN, TOWNSHIP, TOWN_LIKE = "street", "town", "township", "town_like"
UNIT_KINDS = (STREET, TOWN, TOWNSHIP, TOWN_LIKE)
"""001-099 街道, 100-199 镇, 200-399 乡, 400-599 town-like unit (开发区, 农场 ...)."""
NO_TOWNSHIP_SHARE = 0.03
"""Items whose source did not record a township code."""
# Where to look when a county has no unit of a kind: a county without streets has its
# seat in a town (the lowest-coded one), a township falls back to a town and so on.
_FALLBACK = {STREET: (TOWN, TOWN_LIKE, TOWNSHIP), TOWN: (TOWNSHIP, TOWN_LIKE, STREET),
             TOWNSHIP: (TOWN, TOWN_LIKE, STREET), TOWN_LIKE: (TOWN, TOWNSHIP, STREET)}


def unit_kind(code: str) -> str | None:
    """The kind of the township-level unit a 9- or 12-digit code names (None: no unit)."""
    n = int(code[6:9]) if len(code) >= 9 and code[6:9].isdigit() else 0
    return (STREET if 1 <= n <= 99 else TOWN if 100 <= n <= 199 else TOWNSHIP if 200 <= n <= 399
            else TOWN_LIKE if 400 <= n <= 599 else None)


@functools.cache
def townships() -> dict[str, dict[str, str]]:
    """Shandong's township-level units: county code -> {9-digit code: name}, codes in order."""
    text = resources.files("cityhub_sim").joinpath("data/townships_37.csv").read_text(encoding="utf-8")
    out: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(text.splitlines()):
        out.setdefault(row["code"][:6], {})[row["code"]] = row["name"]
    return out


class Townships:
    """One county's township-level units, for placing its items.

    ``pool(kind)`` is never empty when the county has any unit: a kind the county lacks
    falls back (the seat town for streets, a town for a township ...). A county the data
    does not know (a declaration's own test city) has none, and its items no code.
    """

    def __init__(self, county: str):
        self.county = county
        self.names: dict[str, str] = townships().get(county, {})
        by_kind: dict[str, tuple[str, ...]] = {
            k: tuple(c for c in self.names if unit_kind(c) == k) for k in UNIT_KINDS}
        self._pools: dict[str, tuple[str, ...]] = {}
        for kind in UNIT_KINDS:
            pool = by_kind[kind]
            for other in _FALLBACK[kind] if not pool else ():
                if by_kind[other]:
                    # only the seat when streets are missing: the lowest-coded town
                    pool = by_kind[other][:1] if kind == STREET else by_kind[other]
                    break
            self._pools[kind] = pool
        # towns and townships; a county with neither has turned them into streets (whose
        # health centres kept the name 卫生院), rather than development zones
        self._pools["rural"] = by_kind[TOWN] + by_kind[TOWNSHIP] or by_kind[STREET] or by_kind[TOWN_LIKE]

    def __bool__(self) -> bool:
        return bool(self.names)

    def pool(self, kind: str) -> tuple[str, ...]:
        """The units an item of ``kind`` may lie in (``rural``: towns and townships)."""
        return self._pools[kind]

    def draw(self, r: Callable[[], float], table: tuple[str, ...]) -> str | None:
        """Where an item really is, drawn with ``r`` (a ``random()``): a kind from ``table`` (a
        weighted lookup table of kinds, see :func:`kind_table`), then one of the county's
        units of that kind (None when the county has none at all)."""
        if not self.names:
            return None
        pool = self._pools[table[int(r() * len(table))]]
        return pool[int(r() * len(pool))]

    def pick(self, r: Callable[[], float], table: tuple[str, ...]) -> str | None:
        """The township code a source records for an item: :meth:`draw`, or None for the
        share whose source has no code."""
        return None if r() < NO_TOWNSHIP_SHARE else self.draw(r, table)


def recorded(r: Callable[[], float], code: str | None) -> str | None:
    """``code`` as a source records it: missing for the share that has no code."""
    return None if r() < NO_TOWNSHIP_SHARE else code


def kind_table(street: int, town: int, township: int, town_like: int) -> tuple[str, ...]:
    """Integer weights per unit kind as a lookup table: one ``random()`` per weighted pick."""
    return (STREET,) * street + (TOWN,) * town + (TOWNSHIP,) * township + (TOWN_LIKE,) * town_like


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
        # keep-alive, as department platforms' web servers answer (HTTP/1.0 opened a
        # connection, and a server thread, per page)
        protocol_version = "HTTP/1.1"

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
