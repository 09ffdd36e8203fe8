"""What a page fetch keeps of the answer: the URL asked for (query included, as quarantine
names the page), the charset the Content-Type declares, the content decoded where the
server compressed it, and a refusal for anything but a 2xx answer (a redirect is not
followed: a feed's address is declared)."""
from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cityhub.connectors.sources.http import StatusError, _get, pool_manager


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/page")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", 'application/xml; charset="GB18030"')
        if self.path.startswith("/gz"):  # compressed, where the client says it can read that
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            else:
                body = b"not compressed: gzip was not asked for"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_page_is_named_by_the_url_asked_for_with_its_query(base):
    with pool_manager(5, 2) as pool:
        r = _get(pool, f"{base}/catalog", {"page": 2, "q": "a b"})
        assert r.url == f"{base}/catalog?page=2&q=a+b"
        assert r.content == b"/catalog?page=2&q=a+b"  # what the server was asked
        # a next link that has a query of its own gets the parameters after it
        r = _get(pool, f"{base}/fhir?_getpages=x", {"_count": 500})
        assert r.url == f"{base}/fhir?_getpages=x&_count=500" and r.content == b"/fhir?_getpages=x&_count=500"


def test_the_declared_charset_is_kept_unquoted(base):
    with pool_manager(5, 2) as pool:
        assert _get(pool, f"{base}/page", None).charset == "gb18030"


def test_a_compressed_answer_is_asked_for_and_decoded(base):
    with pool_manager(5, 2) as pool:
        assert _get(pool, f"{base}/gz", {"page": 1}).content == b"/gz?page=1"


def test_a_redirect_is_refused_not_followed(base):
    with pool_manager(5, 2) as pool, pytest.raises(StatusError, match="answered 302") as e:
        _get(pool, f"{base}/moved", None)
    assert e.value.response.status == 302
