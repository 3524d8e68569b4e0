"""Feeds: feeds.yaml, safe fetching against real loopback servers, and parsing from bytes.

Every server here listens on 127.0.0.1 only; every slow or endless response is bounded by the
handler itself, so a regression fails a test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from outreach.adapters.feeds import (
    FetchPolicy,
    FetchState,
    address_kind,
    addresses,
    fetch,
    load_feed_sources,
    normalise_link,
    parse_feed,
    parsing,
)
from outreach.adapters.feeds.messages import feed_key, safe_url
from outreach.adapters.sources.files import Boundary

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Nordic business</title><link>https://news.example/</link>
<item>
  <title>Össur opens a plant in Reykjavik</title>
  <link>https://news.example/ossur-plant/?utm_source=rss</link>
  <guid isPermaLink="false">news-1</guid>
  <pubDate>Tue, 02 Jun 2026 08:30:00 +0200</pubDate>
  <description>&lt;p&gt;The &lt;b&gt;prosthetics&lt;/b&gt; maker &amp;amp; partners.&lt;/p&gt;
  </description>
</item>
</channel></rss>""".encode()
ETAG, LAST_MODIFIED = '"v1"', "Tue, 02 Jun 2026 06:30:00 GMT"
FAST = FetchPolicy(connect_timeout=2, read_timeout=2, total_timeout=5, allow_private=True)


# --- a loopback server ---------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, dict[str, str]]]
    stop: threading.Event
    sent: int  # body bytes the endless handlers managed to write


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        route = ROUTES.get(self.path.partition("?")[0])
        if route is None:
            self.send_error(404)
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            route(self)

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def endless(self, chunk: bytes, pause: float, limit: int) -> None:
        """Write `chunk` up to `limit` times: long enough to fail a test, never forever."""
        for _ in range(limit):
            if self.server.stop.is_set():
                return
            self.wfile.write(chunk)
            self.wfile.flush()
            self.server.sent += len(chunk)
            time.sleep(pause)


def _feed(h: _Handler) -> None:
    if h.headers.get("If-None-Match") == ETAG:
        h.send_response(304)
        h.send_header("ETag", ETAG)
        h.end_headers()
        return
    h.reply(200, RSS, Content_Type="application/rss+xml", ETag=ETAG, Last_Modified=LAST_MODIFIED)


def _huge(h: _Handler) -> None:  # 50 MB, length not announced
    h.send_response(200)
    h.end_headers()
    h.endless(b"x" * 65536, 0, 800)


def _huge_declared(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(50_000_000))
    h.end_headers()
    h.endless(b"x" * 65536, 0, 800)


def _trickle(h: _Handler) -> None:  # headers, then one byte a second "forever"
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.flush()
    h.endless(b"<", 1.0, 30)


def _slow_headers(h: _Handler) -> None:  # the status line, then a header a byte at a time
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    h.endless(b"a", 0.5, 60)


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/feed.xml": _feed,
    "/to-feed": lambda h: h.reply(302, Location="/feed.xml"),
    "/loop": lambda h: h.reply(302, Location="/loop"),
    "/broken": lambda h: h.reply(500, b"oops"),
    "/huge": _huge,
    "/huge-declared": _huge_declared,
    "/trickle": _trickle,
    "/slow-headers": _slow_headers,
}


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.stop, httpd.sent = [], threading.Event(), 0
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def url(server: _Server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def no_network() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request should be sent, got {request.url}")

    return httpx.MockTransport(handler)


# --- fetching ------------------------------------------------------------------------------


def test_fetch_a_feed_when_private_addresses_are_allowed(server: _Server, tmp_path: Path) -> None:
    result = fetch(url(server, "/feed.xml"), FetchState(), FAST, tmp_path)

    assert result.status == "fetched", result.error
    assert result.content == RSS
    assert (result.etag, result.last_modified) == (ETAG, LAST_MODIFIED)
    assert result.final_url == url(server, "/feed.xml")
    assert "outreach" in server.requests[0][1]["User-Agent"]


def test_loopback_is_refused_by_default_and_nothing_is_sent(
    server: _Server, tmp_path: Path
) -> None:
    result = fetch(url(server, "/feed.xml"), FetchState(), FetchPolicy(), tmp_path)

    assert result.status == "error"
    assert result.error == (
        f"refused {url(server, '/feed.xml')}: 127.0.0.1 is a loopback address; "
        "set network.allow_private: true in outreach.yaml to allow it"
    )
    assert server.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/feed",
        "http://[::1]/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "https://[::ffff:169.254.169.254]/feed",
        "http://0.0.0.0/feed",
        "http://localhost/feed",
    ],
)
def test_private_addresses_are_refused_before_connecting(target: str, tmp_path: Path) -> None:
    result = fetch(target, FetchState(), FetchPolicy(), tmp_path, transport=no_network())

    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith(f"refused {target}: ")
    assert "network.allow_private: true" in result.error


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("192.168.1.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("100.64.0.1", "a non-public address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("::", "unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("::ffff:10.0.0.1", "a private address in IPv6 form"),
        ("2002:a9fe:a9fe::", "a link-local address in IPv6 form"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "a loopback address in IPv6 form"),  # NAT64 of 127.0.0.1
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def _public(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> None:
    """Make `news.example` resolve to the given answers, one per lookup, the last repeated."""
    real, queue = addresses._resolve, list(answers)

    def resolve(host: str, port: int) -> list[addresses.IPAddress]:
        if host != "news.example":
            return real(host, port)
        found = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ipaddress.ip_address(a) for a in found]

    monkeypatch.setattr(addresses, "_resolve", resolve)


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{port}/feed.xml", "http://169.254.169.254/", "file:///etc/passwd"],
)
def test_a_redirect_to_a_private_address_is_refused(
    location: str, server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _public(monkeypatch, ["93.184.216.34"])
    target = location.format(port=server.server_address[1])
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(302, headers={"Location": target})

    transport = httpx.MockTransport(handler)
    result = fetch("https://news.example/feed", FetchState(), FetchPolicy(), tmp_path, transport)

    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith(f"refused {target.replace('///', '/')}: ")
    assert sent == ["https://news.example/feed"]
    assert server.requests == []


def test_dns_rebinding_between_check_and_connect_is_refused(
    server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The check sees a public address; the connection would see loopback: the socket is only
    # opened to addresses checked at connect time, so nothing reaches the server.
    _public(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    target = f"http://news.example:{server.server_address[1]}/feed.xml"

    result = fetch(target, FetchState(), FetchPolicy(), tmp_path)

    assert result.status == "error"
    assert result.error is not None
    assert "127.0.0.1 is a loopback address" in result.error
    assert server.requests == []


def test_redirects_are_followed(server: _Server, tmp_path: Path) -> None:
    result = fetch(url(server, "/to-feed"), FetchState(), FAST, tmp_path)

    assert result.status == "fetched", result.error
    assert result.final_url == url(server, "/feed.xml")


def test_redirect_loops_are_capped(server: _Server, tmp_path: Path) -> None:
    policy = FetchPolicy(max_redirects=3, allow_private=True)

    result = fetch(url(server, "/loop"), FetchState(), policy, tmp_path)

    assert result.status == "error"
    assert result.error == (
        f"{url(server, '/loop')} redirected more than 3 times; put the final address in feeds.yaml"
    )
    assert len(server.requests) == 4


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_a_huge_response_stops_at_the_cap(path: str, server: _Server, tmp_path: Path) -> None:
    result = fetch(url(server, path), FetchState(), FAST, tmp_path)

    assert result.status == "error"
    assert result.error == (f"{url(server, path)} is larger than 10 MiB; stopped (is it a feed?)")
    server.stop.set()
    assert server.sent < 20 * 1024 * 1024  # far from the 50 MB on offer


@pytest.mark.parametrize("path", ["/trickle", "/slow-headers"])
def test_a_server_that_never_finishes_is_stopped_by_the_total_timeout(
    path: str, server: _Server, tmp_path: Path
) -> None:
    policy = FetchPolicy(connect_timeout=1, read_timeout=1.5, total_timeout=2, allow_private=True)

    result = fetch(url(server, path), FetchState(), policy, tmp_path)

    assert result.status == "error"
    assert result.error == (
        f"{url(server, path)} took more than 2 s in all; stopped (the server is too slow)"
    )
    assert server.sent < 10


def test_conditional_get_gives_not_modified(server: _Server, tmp_path: Path) -> None:
    first = fetch(url(server, "/feed.xml"), FetchState(), FAST, tmp_path)
    state = FetchState(first.etag, first.last_modified)

    second = fetch(url(server, "/feed.xml"), state, FAST, tmp_path)

    assert second.status == "not_modified"
    assert second.content is None
    assert second.etag == ETAG
    headers = server.requests[1][1]
    assert (headers["If-None-Match"], headers["If-Modified-Since"]) == (ETAG, LAST_MODIFIED)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/missing", "HTTP 404 Not Found; check the feed's address in feeds.yaml"),
        ("/broken", "HTTP 500 Internal Server Error; the server is struggling"),
    ],
)
def test_http_errors(path: str, expected: str, server: _Server, tmp_path: Path) -> None:
    result = fetch(url(server, path), FetchState(), FAST, tmp_path)

    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith(f"{url(server, path)} answered {expected}")


def test_a_closed_port_is_an_error_not_an_exception(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = fetch(f"http://127.0.0.1:{port}/feed", FetchState(), FAST, tmp_path)

    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith(f"cannot fetch http://127.0.0.1:{port}/feed: ")
    assert "\n" not in result.error


def test_passwords_in_urls_stay_out_of_messages(tmp_path: Path) -> None:
    result = fetch("http://me:secret@127.0.0.1/feed", FetchState(), FetchPolicy(), tmp_path)

    assert result.error is not None
    assert "secret" not in result.error


# --- file feeds ----------------------------------------------------------------------------


def test_a_file_feed_then_not_modified(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/news.xml").write_bytes(RSS)

    first = fetch("data/news.xml", FetchState(), FetchPolicy(), tmp_path)
    second = fetch("data/news.xml", FetchState(None, first.last_modified), FetchPolicy(), tmp_path)

    assert (first.status, first.content) == ("fetched", RSS)
    assert second.status == "not_modified"
    later = time.time() + 10
    os.utime(tmp_path / "data/news.xml", (later, later))
    third = fetch("data/news.xml", FetchState(None, first.last_modified), FetchPolicy(), tmp_path)
    assert third.status == "fetched"


def test_a_file_feed_over_the_cap(tmp_path: Path) -> None:
    (tmp_path / "news.xml").write_bytes(RSS)

    result = fetch("news.xml", FetchState(), FetchPolicy(max_bytes=100), tmp_path)

    assert result.error == (
        f"feed file news.xml: {len(RSS)} bytes, over the limit of 100 bytes; "
        "raise network.max_feed_mb in outreach.yaml if it is the right file"
    )


@pytest.mark.parametrize("ref", ["../outside.xml", "data/../../outside.xml", "{outside}"])
def test_a_path_escaping_the_workspace_is_refused(ref: str, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside.xml"
    outside.write_bytes(RSS)
    ref = ref.format(outside=outside)

    result = fetch(ref, FetchState(), FetchPolicy(), root)

    assert result.status == "error"
    assert result.error == (
        f"feed file {ref}: outside the workspace; move it into the workspace, "
        "or list its folder under `outside_workspace:` in outreach.yaml"
    )


def test_a_symlink_out_of_the_workspace_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside.xml").write_bytes(RSS)
    (root / "news.xml").symlink_to(tmp_path / "outside.xml")

    result = fetch("news.xml", FetchState(), FetchPolicy(), root)

    assert result.status == "error"
    assert "outside the workspace" in (result.error or "")


def test_an_absolute_path_inside_the_workspace_is_fine(tmp_path: Path) -> None:
    (tmp_path / "news.xml").write_bytes(RSS)

    result = fetch(str(tmp_path / "news.xml"), FetchState(), FetchPolicy(), tmp_path)

    assert result.status == "fetched"


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    result = fetch("data/none.xml", FetchState(), FetchPolicy(), tmp_path)

    assert result.status == "error"
    assert result.error == (
        "cannot read feed file data/none.xml: No such file or directory; check feeds.yaml"
    )


# --- parsing -------------------------------------------------------------------------------


def test_parse_rss2() -> None:
    parsed = parse_feed(RSS, "https://news.example/rss", "en")

    assert parsed.warning is None
    [entry] = parsed.entries
    assert entry.id == "news-1"
    assert entry.title == "Össur opens a plant in Reykjavik"
    assert entry.link == "https://news.example/ossur-plant"
    assert entry.published == datetime(2026, 6, 2, 6, 30, tzinfo=UTC)
    assert entry.summary == "The prosthetics maker & partners."


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:feed</id>
<updated>2026-06-01T10:00:00Z</updated>
<entry>
  <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
  <title type="html">Delta &lt;b&gt;wins&lt;/b&gt; &amp;amp; more</title>
  <link rel="alternate" href="/2026/delta"/>
  <updated>2026-06-01T10:00:00+02:00</updated>
  <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>One</p><p>Two</p></div></content>
</entry>
</feed>"""


def test_parse_atom() -> None:
    [entry] = parse_feed(ATOM, "https://news.example/atom.xml", "en").entries

    assert entry.id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert entry.title == "Delta wins & more"
    assert entry.link == "https://news.example/2026/delta"  # resolved against the source
    assert entry.published == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert entry.summary == "One Two"


RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example/"><title>RDF</title><link>https://news.example/</link>
  <items><rdf:Seq><rdf:li resource="https://news.example/a"/></rdf:Seq></items></channel>
<item rdf:about="https://news.example/a">
  <title>Acme results</title><link>https://News.Example:443/a#top</link>
  <description>Up 5%</description><dc:date>2026-05-30T12:00:00Z</dc:date>
</item>
</rdf:RDF>"""


def test_parse_rss1() -> None:
    [entry] = parse_feed(RSS1, "data/rdf.xml", "en").entries

    assert entry.title == "Acme results"
    assert entry.link == "https://news.example/a"
    assert entry.id == "https://news.example/a"
    assert entry.published == datetime(2026, 5, 30, 12, 0, tzinfo=UTC)
    assert entry.summary == "Up 5%"


def test_a_malformed_feed_keeps_what_it_can() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Second &bogus; one</title></item>")

    parsed = parse_feed(broken, "https://news.example/rss", "en")

    assert parsed.warning is not None
    assert parsed.warning.startswith("https://news.example/rss is not a well-formed feed (")
    assert "\n" not in parsed.warning
    assert parsed.entries[0].title == "Össur opens a plant in Reykjavik"


def test_html_is_stripped_and_scripts_dropped() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title><item><title>x</title>
    <description><![CDATA[<div><p>Hello&nbsp;<a href='x' onclick='steal()'>world</a></p>
    <script>alert('x')</script><style>p{}</style><ul><li>one</li><li>two</li></ul>
    &lt;not a tag&gt;</div>]]></description></item></channel></rss>"""

    [entry] = parse_feed(feed, "https://news.example/rss", "en").entries

    assert entry.summary == "Hello world one two <not a tag>"


def test_entries_without_id_link_or_date() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>Only a title</title><description>and a summary</description></item>
    <item><title>A link</title><link>javascript:alert(1)</link></item>
    <item><link>https://news.example/x?utm_medium=rss</link></item>
    </channel></rss>"""

    first, second, third = parse_feed(feed, "feeds/local.xml", "en").entries

    assert first.id.startswith("sha256:") and len(first.id) == len("sha256:") + 64
    assert (first.link, first.published, first.summary) == ("", None, "and a summary")
    assert second.link == ""  # never a javascript: link
    assert second.id != first.id
    assert third.id == third.link == "https://news.example/x"
    assert third.title == ""


def test_text_is_capped() -> None:
    feed = RSS.replace(b"The &lt;b&gt;", b"The " + b"word " * 10_000)

    [entry] = parse_feed(feed, "x", "en").entries

    assert len(entry.summary) == parsing.MAX_TEXT


@pytest.mark.parametrize("content", [b"", b"/etc/passwd", b"https://example.com/feed", b"\0\xff"])
def test_bytes_are_never_a_path_or_a_url(content: bytes) -> None:
    parsed = parse_feed(content, "x", "en")

    assert parsed.entries == []
    assert parsed.warning is not None or not content


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("HTTPS://News.Example.COM/Story/", "https://news.example.com/Story"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("https://news.example:8443/a", "https://news.example:8443/a"),
        ("https://news.example/a#comments", "https://news.example/a"),
        (
            "https://news.example/a?utm_source=x&id=7&UTM_Medium=y&fbclid=1&gclid=2&b=",
            "https://news.example/a?id=7&b=",
        ),
        ("https://news.example/", "https://news.example"),
        ("  https://news.example/a?q=a%20b  ", "https://news.example/a?q=a%20b"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://user:pw@news.example/a", "https://news.example/a"),
        ("http://[broken/a", "http://[broken/a"),
    ],
)
def test_normalise_link(link: str, expected: str) -> None:
    assert normalise_link(link) == expected


# --- feeds.yaml ----------------------------------------------------------------------------

FEEDS_YAML = """\
feeds:
  - url: https://news.example/rss
    language: is
    every: 2h
  - url: data/local.xml
  - {url: ftp://news.example/rss}
  - url: ../outside.xml
  - url: https://news.example/atom
    every: soon
  - url: https://news.example/other
    langauge: en
  - language: en
  - url: https://news.example/rss
  - url: https://news.example/x
    language: "e n"
  - url: "https:///rss"
"""


def test_load_feed_sources(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS_YAML)

    sources, problems = load_feed_sources(path, "data/feeds.yaml", Boundary.of(tmp_path))

    assert [(s.url, s.language, s.every, s.line) for s in sources] == [
        ("https://news.example/rss", "is", timedelta(hours=2), 2),
        ("data/local.xml", "xx", timedelta(minutes=30), 5),
    ]
    shown = [str(p) for p in problems]
    assert shown[0] == (
        "data/feeds.yaml:6:11: feeds[2].url: 'ftp://news.example/rss' is neither an "
        "http(s) URL nor a file path"
    )
    assert [p.location.line for p in problems] == [6, 7, 9, 11, 12, 13, 15, 16]
    assert "outside the workspace" in shown[1]
    assert "'soon' is not a duration" in shown[2]
    assert "unknown key 'langauge'; did you mean 'language'?" in shown[3]
    assert "feeds[6].url: required, but missing" in shown[4]
    assert shown[5] == (
        "data/feeds.yaml:13:5: warning: feed 'https://news.example/rss' is listed twice "
        "(first at line 2); skipped"
    )
    assert "not a language code" in shown[6]
    assert "'https:///rss' has no host name" in shown[7]


def test_load_feed_sources_without_a_list(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: https://news.example/rss\n")

    sources, problems = load_feed_sources(path, "feeds.yaml")

    assert sources == []
    assert [str(p) for p in problems] == ["feeds.yaml:1:1: expected `feeds:` with a list of feeds"]


def test_load_feed_sources_without_root_refuses_escapes_lexically(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: /etc/feed.xml\n  - url: a/../../b.xml\n  - url: a/b.xml\n")

    sources, problems = load_feed_sources(path, "feeds.yaml")

    assert [s.url for s in sources] == ["a/b.xml"]
    assert [p.location.line for p in problems] == [2, 3]


def test_a_trickling_body_is_stopped_with_any_transport(server: _Server, tmp_path: Path) -> None:
    # Without outreach's own transport, the elapsed time is still checked after every chunk.
    policy = FetchPolicy(connect_timeout=1, read_timeout=1.5, total_timeout=2, allow_private=True)

    with httpx.HTTPTransport() as transport:
        result = fetch(url(server, "/trickle"), FetchState(), policy, tmp_path, transport)

    assert result.status == "error"
    assert "took more than 2 s in all" in (result.error or "")


def test_a_feeds_token_never_reaches_a_storys_link_or_id() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>'
        b"<item><title>A</title><link></link><description>x</description></item>"
        b"<item><title>B</title><link>#top</link><description>y</description></item>"
        b"<item><title>C</title><link>/story/3</link><description>z</description></item>"
        b"<item><title>D</title><description>w</description></item>"
        b"</channel></rss>"
    )
    source = "https://reader:pw@news.test/rss?token=S3CRET-token-value#x"
    entries = parse_feed(rss, source, "en").entries
    assert len(entries) == 4
    for entry in entries:
        assert "S3CRET" not in entry.id + entry.link and "pw@" not in entry.id + entry.link
    assert entries[2].link == "https://news.test/story/3", "a relative link still resolves"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://n.test/rss?category=business&lang=en", "https://n.test/rss?category=business&lang=en"),
        ("https://n.test/login?next=/rss?apikey=S3CRET", "https://n.test/login?next=***"),
        ("https://n.test/rss?%74oken=S3CRET;t=S3CRET#k=S3CRET", "https://n.test/rss?%74oken=***;t=***#k=***"),
        ("https://n.test/f/a8f9c0d1e2b3a4c5d6e7f8a9b0c1d2e3/rss", "https://n.test/f/***/rss"),
        ("https://reader:S3CRET@n.test/rss?p=S3CRET", "https://n.test/rss?p=***"),
    ],
)  # fmt: skip
def test_a_feed_url_is_shown_without_anything_that_may_be_a_secret(url: str, shown: str) -> None:
    assert safe_url(url) == shown
    assert "S3CRET" not in feed_key(url) and feed_key(url) != feed_key(url + "x")
