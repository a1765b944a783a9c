"""WebSource against a small site served on 127.0.0.1, ingested with the real parser, chunker,
encoder and embedded store."""

from __future__ import annotations

import gc
import gzip
import hashlib
import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.connectors.web_pages import name_for, normalize_url, parse_sitemap
from chunkwise.connectors.web_safety import AddressGuard, AddressRefused, guarded_client, refusal
from chunkwise.connectors.web_source import WebSource
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.indexing import index_documents
from chunkwise.pipeline.source import SourceItem

COLLECTION = "web"
TIMEOUT = 0.5  # the request timeout of these tests; the slow page takes longer
MAX_BYTES = 10_000  # the hostile site's oversized pages are larger


# --- the site ---------------------------------------------------------------------------------


def html(title: str, text: str, *links: str) -> bytes:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f"<p>{text}</p><ul>{anchors}</ul></body></html>"
    ).encode()


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer (Helvetica needs no embedded font)."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass(frozen=True)
class Page:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: bool = True  # an ETag from the body, answered 304 to a matching If-None-Match
    last_modified: str | None = None  # answered 304 to the same If-Modified-Since
    location: str | None = None
    delay: float = 0.0
    length: bool = True  # send Content-Length (else the body ends when the connection closes)


SITE_PAGES = ["index.html", "guide.html", "faq.html", "loop/a.html", "loop/b.html", "manual.pdf"]
SITE_PAGES += ["deep/one.html", "deep/two.html"]


def baseline() -> dict[str, Page]:
    # The server writes its own address for HOST; robots.txt keeps out secret.html, the folder other.invalid.
    locs = ["index.html", "faq.html", "manual.pdf", "private/secret.html"]
    urlset = "".join(f"<url><loc>http://HOST/site/{loc}</loc></url>" for loc in locs)
    urlset += "<url><loc>http://other.invalid/x.html</loc></url>"
    return {
        "/robots.txt": Page(b"User-agent: *\nDisallow: /site/private/\n", "text/plain"),
        "/site/index.html": Page(
            html(
                "Harbor handbook",
                "The harbor handbook explains mooring, tides and the ferry timetable.",
                "guide.html",
                "faq.html#answers",
                "loop/a.html",
                "manual.pdf",
                "private/secret.html",
                "logo.png",
                "photo",
                "/outside.html",
                "http://other.invalid/x.html",
                "mailto:harbor@example.org",
                "#top",
            )
        ),
        "/site/guide.html": Page(
            html(
                "Mooring guide",
                "Boats moor at the east pier; lines are checked at every tide.",
                "index.html",
                "deep/one.html",
            )
        ),
        "/site/faq.html": Page(
            html("Questions", "The ferry leaves at nine and returns at five."),
            etag=False,
            last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
        ),
        "/site/loop/a.html": Page(html("Loop A", "Page A links to page B.", "b.html")),
        "/site/loop/b.html": Page(html("Loop B", "Page B links back to page A.", "a.html", "../index.html")),
        "/site/deep/one.html": Page(html("Deep one", "The lighthouse keeper logs storms.", "two.html")),
        "/site/deep/two.html": Page(html("Deep two", "Storm logs are kept for ten years.", "../index.html")),
        "/site/manual.pdf": Page(tiny_pdf("The harbor manual lists fuel prices."), "application/pdf"),
        "/site/private/secret.html": Page(html("Secret", "Robots may not read this.")),
        "/site/photo": Page(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
        "/site/logo.png": Page(b"\x89PNG\r\n\x1a\n", "image/png"),
        "/site/sitemap.xml": Page(
            b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<sitemap><loc>sitemap-pages.xml</loc></sitemap></sitemapindex>",
            "application/xml",
        ),
        "/site/sitemap-pages.xml": Page(
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + urlset.encode()
            + b"</urlset>",
            "application/xml",
        ),
        "/hostile/index.html": Page(
            html(
                "Hostile",
                "Most links of this page fail, each in its own way.",
                "ok.html",
                "slow.html",
                "big.html",
                "drip.html",
                "meta.html",
                "spin.html",
                "broken.html",
            )
        ),
        "/hostile/ok.html": Page(html("Fine", "This page of the hostile site is fine.")),
        "/hostile/slow.html": Page(html("Slow", "Too late."), delay=TIMEOUT * 4),
        "/hostile/big.html": Page(html("Big", "x" * (3 * MAX_BYTES))),
        "/hostile/drip.html": Page(html("Drip", "y" * (3 * MAX_BYTES)), length=False),
        "/hostile/meta.html": Page(status=302, location="http://169.254.169.254/latest/meta-data/"),
        "/hostile/spin.html": Page(status=302, location="/hostile/spin.html"),
        "/hostile/broken.html": Page(b"oops", "text/plain", status=500),
    }


class Site:
    """What the server serves (tests edit it) and what it answered, per path and status."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, Page] = {}
        self.answers: Counter[tuple[str, int]] = Counter()
        self.host = ""

    def reset(self) -> None:
        with self.lock:
            self.pages = baseline()
            self.answers.clear()

    def forget(self) -> None:
        """Count requests from zero."""
        with self.lock:
            self.answers.clear()

    def set(self, path: str, page: Page | None) -> None:
        with self.lock:
            if page is None:
                self.pages.pop(path, None)
            else:
                self.pages[path] = page

    def answered(self, path: str, status: int | None = None) -> int:
        with self.lock:
            return sum(n for (p, s), n in self.answers.items() if p == path and status in (None, s))


class Handler(BaseHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:
        site = self.server.site
        with site.lock:
            page = site.pages.get(self.path)
        status = 404 if page is None else page.status
        headers: dict[str, str] = {}
        body = b"not found"
        if page is not None:
            body = page.body.replace(b"http://HOST", site.host.encode())
            headers["Content-Type"] = page.content_type
            if page.location:
                headers["Location"] = page.location
            if page.etag:
                headers["ETag"] = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                if self.headers.get("If-None-Match") == headers["ETag"]:
                    status = 304
            if page.last_modified:
                headers["Last-Modified"] = page.last_modified
                if self.headers.get("If-Modified-Since") == page.last_modified and not page.etag:
                    status = 304
            time.sleep(page.delay)
        with site.lock:
            site.answers[self.path, status] += 1
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status != 304 and (page is None or page.length):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)
        except ConnectionError:
            pass  # the client gave up (a refused size, a timeout)

    def log_message(self, format: str, *args: object) -> None:
        pass


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.site = site


@pytest.fixture(scope="module")
def server() -> Iterator[SiteServer]:
    site = Site()
    httpd = SiteServer(site)
    site.host = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def site(server: SiteServer) -> Site:
    """The site as the baseline serves it, with no request counted yet."""
    server.site.reset()
    return server.site


@pytest.fixture
def base(site: Site) -> str:
    return site.host


@pytest.fixture
def web(tmp_path: Path):
    """``web(urls, **options)``: a WebSource allowed to fetch 127.0.0.1, with this test's cache."""
    sources: list[WebSource] = []

    def make(*urls: str, **options: object) -> WebSource:
        settings: dict[str, object] = {
            "allow_private_network": True,
            "cache_dir": tmp_path / "cache",
            "timeout": TIMEOUT,
        }
        settings.update(options)
        source = WebSource(urls, **settings)  # type: ignore[arg-type]
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()


# --- the pipeline -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parser() -> UnstructuredParser:
    return UnstructuredParser()


@pytest.fixture
def ingest(tmp_path, parser, tiktoken_tokenizer, encoder):
    """``ingest(source, **options)`` indexes into this test's embedded store: the run's report."""
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=128, chunk_overlap=16, limit=limit)
    stores = {}

    def run(source: WebSource, store: str = "store", **options):
        if store not in stores:
            stores[store] = QdrantEdgeStore(tmp_path / store)
        report = index_documents(source, parser, chunker, encoder, stores[store], COLLECTION, **options)
        run.stored = {document.source for document in stores[store].stored_documents(COLLECTION).values()}
        return report

    yield run
    for store in stores.values():
        store.close()


def urls(base: str, *paths: str) -> set[str]:
    return {f"{base}/site/{path}" for path in paths}


def failures(report) -> dict[str, str]:
    return {failure.source: failure.error for failure in report.errors}


def test_crawl_ingests_every_page_once_and_a_rerun_is_answered_304(site, base, web, ingest) -> None:
    report = ingest(web(f"{base}/site/index.html"), prune=True)
    assert report.errors == []
    assert report.indexed == len(SITE_PAGES)
    assert ingest.stored == urls(base, *SITE_PAGES)
    # Links loop (index <-> guide, a <-> b, two -> index): every page was asked for once.
    assert all(site.answered(f"/site/{page}") == 1 for page in SITE_PAGES)
    assert site.answered("/robots.txt") == 1
    assert site.answered("/site/private/secret.html") == 0  # robots.txt disallows it
    assert site.answered("/site/logo.png") == 0  # an image, by its extension: never fetched
    assert site.answered("/site/photo", 200) == 1  # fetched, but an image: not listed
    assert site.answered("/outside.html") == 0  # outside the start URL's folder

    site.forget()
    again = web(f"{base}/site/index.html")
    report = ingest(again, prune=True)
    assert (report.indexed, report.unchanged, report.deleted, report.errors) == (0, len(SITE_PAGES), 0, [])
    assert all(site.answered(f"/site/{page}", 304) == 1 for page in SITE_PAGES)
    assert sum(site.answered(f"/site/{page}", 200) for page in SITE_PAGES) == 0
    assert again.root_of(f"{base}/site/gone.html") == f"{base}/site/index.html"  # complete: it may prune


def test_items_name_version_and_metadata(base, web) -> None:
    items = {item.uri: item for item in web(f"{base}/site/index.html").items()}
    index, faq = items[f"{base}/site/index.html"], items[f"{base}/site/faq.html"]
    pdf = items[f"{base}/site/manual.pdf"]
    assert (index.name, pdf.name) == ("index.html", "manual.pdf")
    assert index.version is not None and index.version.startswith('"')  # the ETag
    assert index.metadata == {
        "url": f"{base}/site/index.html",
        "content_type": "text/html",
        "etag": index.version,
    }
    assert faq.version == "Mon, 01 Jan 2024 00:00:00 GMT"  # no ETag: Last-Modified
    assert pdf.metadata["content_type"] == "application/pdf"
    assert pdf.size == len(tiny_pdf("The harbor manual lists fuel prices."))


def test_an_edited_page_is_reindexed_alone(site, base, web, ingest) -> None:
    ingest(web(f"{base}/site/index.html"))
    moved = html("Mooring guide", "Boats now moor at the west pier.", "index.html", "deep/one.html")
    site.set("/site/guide.html", Page(moved))  # a new ETag
    later = html("Questions", "The ferry now leaves at ten.")  # and a new Last-Modified
    faq = replace(baseline()["/site/faq.html"], body=later, last_modified="Tue, 02 Jan 2024 00:00:00 GMT")
    site.set("/site/faq.html", faq)
    report = ingest(web(f"{base}/site/index.html"))
    assert (report.indexed, report.unchanged) == (2, len(SITE_PAGES) - 2)
    assert site.answered("/site/guide.html", 200) == 2 and site.answered("/site/faq.html", 200) == 2


def test_a_new_validator_for_the_same_bytes_is_recorded_and_not_read_again(site, base, web, ingest) -> None:
    ingest(web(f"{base}/site/index.html"))
    touched = replace(baseline()["/site/faq.html"], last_modified="Tue, 02 Jan 2024 00:00:00 GMT")
    site.set("/site/faq.html", touched)  # a new Last-Modified (faq.html's version), the same body
    report = ingest(web(f"{base}/site/index.html"))
    assert (report.indexed, report.unchanged) == (0, len(SITE_PAGES))  # same bytes: not re-embedded
    assert site.answered("/site/faq.html", 200) == 2
    site.forget()
    report = ingest(web(f"{base}/site/index.html"))
    assert (report.indexed, report.unchanged) == (0, len(SITE_PAGES))
    # The new version was recorded: the third run's 304 is enough, the page is not fetched again.
    assert (site.answered("/site/faq.html", 304), site.answered("/site/faq.html", 200)) == (1, 0)


def test_a_deleted_page_is_pruned(site, base, web, ingest) -> None:
    ingest(web(f"{base}/site/index.html"), prune=True)
    site.set("/site/loop/b.html", None)  # 404, though loop/a.html still links to it
    report = ingest(web(f"{base}/site/index.html"), prune=True)
    assert (report.deleted, report.unchanged, report.errors) == (1, len(SITE_PAGES) - 1, [])
    assert ingest.stored == urls(base, *SITE_PAGES) - urls(base, "loop/b.html")


def test_a_failing_page_is_reported_but_not_pruned(site, base, web, ingest) -> None:
    ingest(web(f"{base}/site/index.html"), prune=True)
    site.set("/site/guide.html", Page(b"down", "text/plain", status=500))
    source = web(f"{base}/site/index.html")
    report = ingest(source, prune=True)
    assert report.deleted == 0
    assert failures(report) == {
        f"{base}/site/guide.html": "the server answered HTTP 500 Internal Server Error"
    }
    # guide.html's links came from the cache: deep/one.html and deep/two.html are still reached.
    assert ingest.stored == urls(base, *SITE_PAGES)
    assert source.covers(f"{base}/site/guide.html")


def test_a_fresh_store_reads_pages_answered_304(base, web, ingest) -> None:
    ingest(web(f"{base}/site/index.html"))
    report = ingest(web(f"{base}/site/index.html"), store="other")  # the cache is warm, the store empty
    assert (report.indexed, report.errors) == (len(SITE_PAGES), [])


def test_sitemap_ingest_and_rerun(site, base, web, ingest) -> None:
    report = ingest(web(f"{base}/site/sitemap.xml"), prune=True)
    assert report.errors == []
    # The index names sitemap-pages.xml; robots.txt and the folder keep out the other two.
    assert ingest.stored == urls(base, "index.html", "faq.html", "manual.pdf")
    assert site.answered("/site/guide.html") == 0  # links are not followed
    site.forget()
    report = ingest(web(f"{base}/site/sitemap.xml"), prune=True)
    assert (report.indexed, report.unchanged) == (0, 3)
    assert site.answered("/site/sitemap.xml", 304) == 1 and site.answered("/site/sitemap-pages.xml", 304) == 1


def test_hostile_pages_fail_alone_and_the_crawl_prunes_nothing(base, web, ingest) -> None:
    source = web(f"{base}/hostile/index.html", max_bytes=MAX_BYTES)
    started = time.monotonic()
    report = ingest(source, prune=True)
    assert time.monotonic() - started < 15
    assert report.indexed == 2  # index.html and ok.html
    errors = failures(report)
    hostile = f"{base}/hostile"
    assert set(errors) == {
        f"{hostile}/{page}.html" for page in ["slow", "big", "drip", "meta", "spin", "broken"]
    }
    assert "timed out" in errors[f"{hostile}/slow.html"]
    assert "over the limit of 10,000 (max_bytes)" in errors[f"{hostile}/big.html"]
    assert "more than 10,000 bytes" in errors[f"{hostile}/drip.html"]
    assert "169.254.169.254 is a cloud metadata address" in errors[f"{hostile}/meta.html"]
    assert "more than 5 redirects" in errors[f"{hostile}/spin.html"]
    assert "HTTP 500" in errors[f"{hostile}/broken.html"]
    # Failed HTML pages may have linked to others: the crawl is incomplete, so it covers nothing.
    assert source.root_of(f"{hostile}/ok.html") is None


def test_robots_txt_missing_allows_all_and_unreadable_stops_the_crawl(site, base, web) -> None:
    site.set("/robots.txt", None)  # 404: everything allowed
    assert f"{base}/site/private/secret.html" in {item.uri for item in web(f"{base}/site/index.html").items()}

    site.set("/robots.txt", Page(b"busy", "text/plain", status=503))  # nothing may be fetched
    site.forget()
    source = web(f"{base}/site/index.html")
    items = list(source.items())
    assert [item.uri for item in items] == [f"{base}/site/index.html"]  # reported, so the run says why
    with pytest.raises(SourceError, match=r"robots.txt could not be read.*HTTP 503"):
        source.read(items[0])
    assert site.answered("/site/index.html") == 0
    assert not source.covers(f"{base}/site/index.html")


def test_a_private_start_url_is_refused_by_default(base, tmp_path) -> None:
    for url in [f"{base}/site/", base.replace("127.0.0.1", "localhost") + "/site/"]:
        source = WebSource([url], cache_dir=tmp_path)
        with pytest.raises(ConfigurationError, match=r"loopback address.*--allow-private-network"):
            list(source.items())
    metadata = WebSource(["http://169.254.169.254/latest/"], allow_private_network=True, cache_dir=tmp_path)
    with pytest.raises(ConfigurationError, match=r"cloud metadata address.*never fetched"):
        list(metadata.items())


def test_connections_themselves_are_checked(base) -> None:
    """Even a request that skipped the URL check cannot connect to a refused address."""
    with (
        guarded_client(AddressGuard(), timeout=TIMEOUT, user_agent="test") as client,
        pytest.raises(AddressRefused, match="loopback"),
    ):
        client.get(f"{base}/site/index.html")
    with guarded_client(
        AddressGuard(allow_private_network=True), timeout=TIMEOUT, user_agent="test"
    ) as client:
        assert client.get(f"{base}/site/index.html").status_code == 200


@pytest.mark.parametrize(
    ("address", "default", "allowed"),
    [
        ("8.8.8.8", None, None),
        ("2606:4700:4700::1111", None, None),
        ("127.0.0.1", "a loopback address", None),
        ("::1", "a loopback address", None),
        ("::ffff:127.0.0.1", "a loopback address", None),
        ("10.1.2.3", "a private address", None),
        ("192.168.0.10", "a private address", None),
        ("fd12::1", "a private address", None),
        ("169.254.10.1", "a link-local address", None),
        ("100.64.0.1", "a non-public address", None),
        (
            "169.254.169.254",
            "a cloud metadata address, never fetched",
            "a cloud metadata address, never fetched",
        ),
        (
            "fd00:ec2::254",
            "a cloud metadata address, never fetched",
            "a cloud metadata address, never fetched",
        ),
        ("0.0.0.0", "an unspecified address", "an unspecified address"),
        ("224.0.0.1", "a multicast address", "a multicast address"),
        ("240.0.0.1", "a reserved address", "a reserved address"),
    ],
)
def test_address_refusals(address: str, default: str | None, allowed: str | None) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip) == default
    assert refusal(ip, allow_private_network=True) == allowed


def test_bounds_end_the_crawl_and_an_incomplete_crawl_covers_nothing(base, web) -> None:
    start = f"{base}/site/index.html"
    few = web(start, max_pages=3)
    assert len(list(few.items())) == 3
    assert not few.covers(f"{base}/site/gone.html") and not few.covers(f"{base}/site/index.html")

    shallow = web(start, max_depth=1)
    assert {item.uri for item in shallow.items()} == urls(
        base, "index.html", "guide.html", "faq.html", "loop/a.html", "manual.pdf"
    )
    assert shallow.root_of(f"{base}/site/gone.html") is None

    enough = web(start, max_depth=3)
    assert len(list(enough.items())) == len(SITE_PAGES)
    assert enough.root_of(f"{base}/site/gone.html") == start
    assert enough.root_of(f"{base}/elsewhere.html") is None


def test_max_seconds_ends_the_listing_without_listing_what_was_not_reached(base, web) -> None:
    source = web(f"{base}/hostile/index.html", max_seconds=1.0, timeout=30)
    started = time.monotonic()
    listed = [item.uri for item in source.items()]
    assert time.monotonic() - started < 1.8
    assert listed == [f"{base}/hostile/index.html", f"{base}/hostile/ok.html"]  # slow.html was cut
    assert source.root_of(f"{base}/hostile/ok.html") is None


def test_read_fetches_again_in_a_source_that_did_not_list(base, web) -> None:
    source = web(f"{base}/site/index.html")
    assert b"ferry leaves at nine" in source.read(SourceItem(uri=f"{base}/site/faq.html", name="faq.html"))
    with pytest.raises(SourceError, match="not within any location"):
        source.read(SourceItem(uri=f"{base}/hostile/ok.html", name="ok.html"))
    with pytest.raises(SourceError, match="HTTP 404"):
        source.read(SourceItem(uri=f"{base}/site/missing.html", name="missing.html"))


def test_close_and_garbage_collection_remove_spooled_pages(base, web, tmp_path) -> None:
    source = web(f"{base}/site/index.html")
    list(source.items())
    folder = source._spool_dir
    assert folder is not None and len(list(folder.iterdir())) == len(SITE_PAGES)
    source.close()
    assert not folder.exists()

    other = WebSource([f"{base}/site/index.html"], allow_private_network=True, cache_dir=tmp_path / "cold")
    list(other.items())
    folder = other._spool_dir
    assert folder is not None and folder.exists()
    del other
    gc.collect()
    assert not folder.exists()


# --- URLs, names and sitemaps -----------------------------------------------------------------


def test_normalize_url() -> None:
    base = "http://Example.ORG:80/a/d/page.html"
    assert normalize_url("../b/./c.html?x=1&y=2#top", base) == "http://example.org/a/b/c.html?x=1&y=2"
    assert normalize_url("#top", base) == "http://example.org/a/d/page.html"
    assert normalize_url("/a/", base) != normalize_url("/a/index.html", base)
    assert normalize_url("HTTPS://example.org:443") == "https://example.org/"
    assert normalize_url("http://example.org:8080/x y") == "http://example.org:8080/x%20y"
    for bad in ["mailto:a@b.c", "javascript:void(0)", "ftp://example.org/", "http://user:pw@example.org/"]:
        assert normalize_url(bad, base) is None


def test_scope_of_a_location(tmp_path: Path) -> None:
    def prefix(url: str) -> str:
        return WebSource([url], cache_dir=tmp_path).locations[0].prefix

    assert prefix("https://site/docs") == "https://site/docs/"
    assert prefix("https://site/docs/") == "https://site/docs/"
    assert prefix("https://site/docs/intro.html?lang=en") == "https://site/docs/"
    assert prefix("https://site/docs/sitemap.xml") == "https://site/docs/"
    assert prefix("HTTPS://Site:443") == "https://site/"
    with pytest.raises(ConfigurationError, match="not an http"):
        WebSource(["ftp://site/docs/"])


def test_name_for() -> None:
    assert name_for("https://site/docs/", "text/html") == "index.html"
    assert name_for("https://site/docs/intro", "text/html") == "intro.html"
    assert name_for("https://site/docs/page.php", "text/html") == "page.php.html"
    assert name_for("https://site/notes.md", "text/plain") == "notes.md"
    assert name_for("https://site/notes", "text/markdown") == "notes.md"
    assert name_for("https://site/get?id=3", "application/pdf") == "get.pdf"
    assert name_for("https://site/paper.pdf", "application/octet-stream") == "paper.pdf"
    assert name_for("https://site/logo.png", "image/png") is None
    assert name_for("https://site/bundle.zip", "application/zip") is None


def test_sitemap_parsing_refuses_entities(tmp_path: Path) -> None:
    plain = tmp_path / "sitemap.xml"
    plain.write_bytes(b"<urlset xmlns='x'><url><loc> https://site/a.html </loc></url></urlset>")
    assert parse_sitemap(plain) == ("urlset", ["https://site/a.html"])
    zipped = tmp_path / "sitemap.xml.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert parse_sitemap(zipped) == ("urlset", ["https://site/a.html"])
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<urlset><url><loc>&lol2;</loc></url></urlset>"
    )
    with pytest.raises(SourceError, match="DTD or entities"):
        parse_sitemap(bomb)
    with pytest.raises(SourceError, match="not a sitemap"):
        plain.write_bytes(b"<html><body/></html>")
        parse_sitemap(plain)
