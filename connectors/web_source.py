"""Documents from websites: pages found by following links from a start URL, or listed by a sitemap.

Each location is either a start URL, crawled by following ``<a href>`` links, or a sitemap (a
URL whose last path segment ends in ``.xml`` or ``.xml.gz`` and contains ``sitemap``), whose
``<loc>`` pages are taken (sitemap indexes are followed). Only URLs within the location's
*scope* are taken: same scheme, host and port, and a path under the location's folder.
The folder is the URL's path up to its last ``/``, except for a start URL whose last segment has
no dot, which is taken as a folder: ``https://site/docs`` and ``https://site/docs/`` both crawl
``https://site/docs/...``, ``https://site/docs/intro.html`` crawls ``https://site/docs/...`` and
``https://site/docs/sitemap.xml`` takes the pages it lists under ``https://site/docs/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import shutil
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from chunkwise.connectors.model_description import default_cache_folder
from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES, check_size, wanted
from chunkwise.connectors.web_pages import (
    EXTENSION_FAMILIES,
    content_type,
    guessed_name,
    is_sitemap,
    is_skipped,
    links_in,
    name_for,
    normalize_url,
    parse_sitemap,
)
from chunkwise.connectors.web_safety import ALLOW_FLAG, AddressGuard, AddressRefused, guarded_client
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem

logger = logging.getLogger(__name__)

USER_AGENT = "chunkwise"
DISALLOWED = "disallowed by robots.txt"
MAX_REDIRECTS = 5
MAX_SITEMAPS = 100  # sitemap files read for one location (an index and the sitemaps it names)
MAX_SITEMAP_LEVELS = 3  # sitemap indexes naming sitemap indexes, at most this deep
MAX_ROBOTS_BYTES = 500 * 1024  # what robots.txt parsers must read at least (RFC 9309)
_CACHE_FORMAT = 1
_READ_SIZE = 1 << 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GONE = frozenset({404, 410})
_ACCEPT = "text/html,application/xhtml+xml,application/pdf,text/markdown,text/plain;q=0.9,*/*;q=0.5"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SITEMAP_TYPE = "sitemap"  # the content type a sitemap's cache entry records


class _OutOfTime(Exception):
    """The crawl's ``max_seconds`` (or one read's) ran out."""


@dataclass(frozen=True)
class _Location:
    url: str  # normalized start URL or sitemap URL
    prefix: str  # URLs starting with it are in scope
    sitemap: bool
    cache_file: Path

    def holds(self, url: str) -> bool:
        return url == self.url or url.startswith(self.prefix)


@dataclass
class _Visit:
    """What fetching one URL during a listing gave."""

    item: SourceItem | None = None  # what is listed (None: nothing)
    links: list[str] | None = None  # its links (None: unknown, the page could not be read)
    entry: dict[str, Any] | None = None  # what the cache keeps of it (None: forget it)
    gone: bool = False  # 404 or 410
    cut: bool = False  # the crawl's time ran out before it was answered


class WebSource:
    """Lists and reads the pages of websites: crawled from start URLs, or listed by sitemaps.

    **Listing.** ``items()`` fetches every page (it needs their links), breadth first, obeying
    each host's robots.txt (fetched once per listing; a disallowed URL is skipped and logged).
    A crawl follows ``<a href>`` links within the location's scope (see the module's docstring)
    up to ``max_depth`` hops from the start page; a sitemap's pages are fetched but their links
    are not followed. URLs are normalized: fragments dropped, relative links resolved, scheme
    and host lowercased, default ports and dot segments removed, the query kept
    (``/a/`` and ``/a/index.html`` are two pages). Links to images, scripts, archives and media
    (by their extension) are never fetched; a page whose content type is not a document
    (HTML, XHTML, PDF, Markdown, plain text, DOCX; an untyped one by its URL's extension) is
    skipped, and so is a page that no ``include`` glob or some ``exclude`` glob matches (globs
    match the path below the scope's folder, with the item's name as last segment); an excluded
    HTML page is still crawled through.

    Pages are fetched with the validators a small cache kept from the previous listing
    (``<cache_dir>/<sha256 of the location>/pages.json``, ``cache_dir`` defaulting to
    ``$CHUNKWISE_CACHE_DIR/web``, else ``$XDG_CACHE_HOME/chunkwise/web``: per URL its ETag,
    Last-Modified, links and content type). A page that
    answers 304 is listed with its cached validator as ``version`` and its links come from the
    cache; a page that answers 200 is spooled to a temporary file for :meth:`read`, its
    ``version`` being its ETag, else its Last-Modified, else ``sha256:`` and the body's digest.

    **Items.** ``uri`` is the normalized URL asked for; ``name`` its last path segment (``index``
    for a folder), with the content type's extension (.html, .pdf, .md, .txt, .docx) added unless
    it already has one of that type; ``metadata`` holds ``url`` (the URL answered, after
    redirects), ``content_type`` and, when the server gave them, ``etag`` and ``last_modified``.
    A page that answers 404 or 410 is not listed. A page that fails otherwise (another status, a
    timeout, a connection error, a body over ``max_bytes``, a redirect to a refused address, too
    many redirects) is still listed, so that a stored copy is not pruned, and reading it raises
    :class:`SourceError` naming the cause.

    **Safety.** Only http(s) URLs are fetched, never through a proxy from the environment, and
    only at public addresses unless ``allow_private_network`` (see
    :mod:`chunkwise.connectors.web_safety`): every address a host resolves to is checked, on
    every redirect hop (redirects are followed here, at most 5) and when a connection opens.
    A refused start URL or sitemap raises :class:`ConfigurationError`; a refused link or redirect
    fails that page alone, as above. Each request waits at most ``timeout`` seconds to connect
    or for more bytes; a body is read up to ``max_bytes`` (a larger Content-Length is refused
    before reading); the whole listing takes at most ``max_seconds`` (pages not reached by
    then are not listed), and so does each read. Requests name ``user_agent``, which is also
    the name robots.txt rules are matched against.

    **Pruning.** ``root_of(uri)`` is the location whose scope holds ``uri``, once that location
    was listed completely: its start page (or sitemap) was fetched and allowed by robots.txt, no
    bound cut its crawl short (``max_pages``, ``max_depth``, ``max_seconds``: a page left
    unfetched may exist), and the links of every page it fetched are known (an HTML page that
    failed, without links cached from the previous listing, might have led to others). A
    location listed incompletely covers nothing, so an incomplete crawl never prunes. A complete
    crawl prunes what it no longer reaches: pages gone (404, 410), no longer linked, newly
    disallowed by robots.txt, or excluded.

    Example::

        with WebSource(["https://docs.example.org/guide/"], max_pages=200) as source:
            for item in source.items():
                data = source.read(item)
    """

    def __init__(
        self,
        locations: Iterable[str],
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pages: int = 1000,
        max_depth: int = 10,
        max_seconds: float = 1800.0,
        allow_private_network: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        given = list(locations)
        if not given:
            raise ConfigurationError("locations is empty: give at least one http(s) URL")
        if max_bytes <= 0 or max_pages <= 0 or max_depth < 0:
            raise ConfigurationError(
                f"max_bytes ({max_bytes}) and max_pages ({max_pages}) must be > 0, "
                f"max_depth ({max_depth}) >= 0"
            )
        if max_seconds <= 0 or timeout <= 0:
            raise ConfigurationError(f"max_seconds ({max_seconds}) and timeout ({timeout}) must be > 0")
        cache_root = Path(cache_dir) if cache_dir is not None else default_cache_folder() / "web"
        self.locations = [_location(url, cache_root) for url in given]
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.max_seconds = max_seconds
        self.allow_private_network = allow_private_network
        self.timeout = timeout
        self.user_agent = user_agent
        self._guard = AddressGuard(allow_private_network)
        self._client: httpx.Client | None = None
        self._spool_dir: Path | None = None
        self._cleanup: weakref.finalize | None = None
        self._spooled: dict[str, Path] = {}  # bodies fetched by the last listing, not read yet
        self._unreadable: dict[str, str] = {}  # listed pages that failed, and why
        self._complete: set[str] = set()  # locations the last listing covered completely
        self._visits: dict[str, _Visit] = {}
        self._robots: dict[str, tuple[RobotFileParser, str | None]] = {}

    # --- the Source protocol --------------------------------------------------------------

    def items(self) -> Iterator[SourceItem]:
        """Every page of every location, each once, in crawl (or sitemap) order."""
        self._discard_spool()
        self._unreadable, self._complete, self._visits, self._robots = {}, set(), {}, {}
        for location in self.locations:
            self._check_start(location.url)
        deadline = time.monotonic() + self.max_seconds
        listed: set[str] = set()
        for location in self.locations:
            cache = _load_cache(location)
            fresh: dict[str, dict[str, Any] | None] = {}
            list_pages = self._sitemap_pages if location.sitemap else self._crawl
            complete = yield from list_pages(location, cache, fresh, deadline, listed)
            _save_cache(location, cache, fresh, complete)
            if complete:
                self._complete.add(location.url)
            else:
                logger.warning(
                    "%s was not listed completely: none of its stored pages are pruned", location.url
                )

    def read(self, item: SourceItem) -> bytes:
        """The page's bytes: those the listing spooled, else fetched now (after a 304, or in a source
        that did not list), with the same checks and bounds as the listing."""
        if item.uri in self._unreadable:
            raise SourceError(self._unreadable[item.uri])
        spooled = self._spooled.pop(item.uri, None)
        if spooled is not None:
            try:
                with open(spooled, "rb") as file:
                    data = file.read(self.max_bytes + 1)
            except OSError as error:
                raise SourceError(f"the spooled copy of the page could not be read: {error}") from error
            finally:
                spooled.unlink(missing_ok=True)
            check_size(len(data), self.max_bytes, at_least=True)
            return data
        url = normalize_url(item.uri)
        if url is None or not any(location.holds(url) for location in self.locations):
            raise SourceError(f"{item.uri} is not within any location of this source: not fetched")
        deadline = time.monotonic() + self.max_seconds
        try:
            with self._network_errors(), self._request(url, {}, deadline) as (response, _final):
                status = response.status_code
                if not 200 <= status < 300:
                    raise SourceError(f"the server answered HTTP {status} {response.reason_phrase}".rstrip())
                self._check_length(response)
                sink = _Sink()
                self._stream(response, sink, deadline)
                return sink.data()
        except _OutOfTime as error:
            raise SourceError(
                f"reading the page took longer than {self.max_seconds:g} s (max_seconds)"
            ) from error

    def root_of(self, uri: str) -> str | None:
        """The location whose scope holds ``uri`` (the deepest), when every location holding it was
        listed completely by the last ``items()``; ``None`` otherwise (see the class docstring)."""
        url = normalize_url(uri)
        if url is None:
            return None
        holding = [location for location in self.locations if location.holds(url)]
        if not holding or any(location.url not in self._complete for location in holding):
            return None
        return max(holding, key=lambda location: len(location.prefix)).url

    def covers(self, uri: str) -> bool:
        """Whether a stored page at ``uri`` is this source's to prune (see :meth:`root_of`)."""
        return self.root_of(uri) is not None

    def close(self) -> None:
        """Remove the spooled pages and close the connections (done at garbage collection too)."""
        self._discard_spool()
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> WebSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- listing ----------------------------------------------------------------------------

    def _crawl(
        self,
        location: _Location,
        cache: dict[str, dict[str, Any]],
        fresh: dict[str, dict[str, Any] | None],
        deadline: float,
        listed: set[str],
    ) -> Generator[SourceItem, None, bool]:
        """Breadth first from the start URL; whether the crawl was complete."""
        complete, count = True, 0
        queue = deque([(location.url, 0)])
        seen = {location.url}
        while queue:
            if time.monotonic() >= deadline:
                logger.warning("%s: max_seconds (%g) ran out", location.url, self.max_seconds)
                return False
            if count >= self.max_pages:
                logger.warning("%s: max_pages (%d) reached", location.url, self.max_pages)
                return False
            url, depth = queue.popleft()
            verdict = self._robots_verdict(url, deadline)
            if verdict is not None:
                complete = complete and url != location.url
                if url == location.url and verdict != DISALLOWED:  # unreadable robots.txt: reported
                    failed = self._failed(url, cache.get(url), location, verdict, html=True)
                    if failed.item is not None and url not in listed:
                        listed.add(url)
                        yield failed.item
                continue
            visit = self._visit(url, location, cache, deadline)
            if visit.cut:
                logger.warning("%s: max_seconds (%g) ran out", location.url, self.max_seconds)
                return False
            fresh[url] = visit.entry
            if url == location.url and visit.gone:
                logger.warning("%s: the start page is gone (HTTP 404/410)", location.url)
                complete = False
            if visit.item is not None:
                count += 1
                if url not in listed:
                    listed.add(url)
                    yield visit.item
            if visit.links is None:
                complete = False
                continue
            for link in visit.links:
                if link in seen or not location.holds(link) or is_skipped(link):
                    continue
                if depth >= self.max_depth:
                    logger.info("%s: not followed, beyond max_depth (%d)", link, self.max_depth)
                    complete = False
                    continue
                seen.add(link)
                queue.append((link, depth + 1))
        return complete

    def _sitemap_pages(
        self,
        location: _Location,
        cache: dict[str, dict[str, Any]],
        fresh: dict[str, dict[str, Any] | None],
        deadline: float,
        listed: set[str],
    ) -> Generator[SourceItem, None, bool]:
        """The pages the sitemap (and the sitemaps its index names) list; whether all were listed."""
        complete, pages = True, []
        pending = deque([(location.url, 0)])
        sitemaps = {location.url}
        while pending:
            sitemap, level = pending.popleft()
            if not self._allowed(sitemap, deadline):
                complete = False
                continue
            try:
                kind, locs, entry = self._read_sitemap(sitemap, cache.get(sitemap), deadline)
            except _OutOfTime:
                return False
            except SourceError as error:
                logger.warning("sitemap %s could not be read: %s", sitemap, error)
                complete = False
                fresh[sitemap] = cache.get(sitemap)
                continue
            fresh[sitemap] = entry
            for loc in locs:
                if not location.holds(loc):
                    logger.info("%s: outside %s, skipped", loc, location.prefix)
                elif kind != "sitemapindex":
                    pages.append(loc)
                elif loc in sitemaps:
                    continue
                elif level + 1 >= MAX_SITEMAP_LEVELS or len(sitemaps) >= MAX_SITEMAPS:
                    logger.warning("sitemap %s not read: too many or too deeply nested sitemaps", loc)
                    complete = False
                else:
                    sitemaps.add(loc)
                    pending.append((loc, level + 1))
        count = 0
        for url in dict.fromkeys(pages):
            if time.monotonic() >= deadline or count >= self.max_pages:
                logger.warning("%s: max_seconds or max_pages reached", location.url)
                return False
            if is_skipped(url) or not self._allowed(url, deadline):
                continue
            visit = self._visit(url, location, cache, deadline)
            if visit.cut:
                return False
            fresh[url] = visit.entry
            if visit.item is not None:
                count += 1
                if url not in listed:
                    listed.add(url)
                    yield visit.item
        return complete

    def _visit(
        self, url: str, location: _Location, cache: dict[str, dict[str, Any]], deadline: float
    ) -> _Visit:
        """Fetch one page (conditionally, when the cache knows it); a page fetched earlier in this
        listing (by another location) is not fetched again."""
        if url in self._visits:
            return self._visits[url]
        entry = cache.get(url)
        headers = {"Accept": _ACCEPT}
        if entry is not None and entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry is not None and entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        try:
            with self._network_errors(), self._request(url, headers, deadline) as (response, final):
                visit = self._answered(url, final, response, entry, location, deadline)
        except _OutOfTime:
            return _Visit(cut=True)
        except SourceError as error:
            if time.monotonic() >= deadline:
                return _Visit(cut=True)
            visit = self._failed(url, entry, location, str(error), html=None)
        self._visits[url] = visit
        return visit

    def _answered(
        self,
        url: str,
        final: str,
        response: httpx.Response,
        entry: dict[str, Any] | None,
        location: _Location,
        deadline: float,
    ) -> _Visit:
        status = response.status_code
        if status == 304 and entry is not None:
            item = self._item(url, entry) if self._wanted(url, entry["name"], location) else None
            return _Visit(item=item, links=list(entry.get("links", [])), entry=entry)
        if status in _GONE:
            logger.info("%s: HTTP %d, not listed", url, status)
            return _Visit(gone=True, links=[])
        if not 200 <= status < 300:
            raise SourceError(f"the server answered HTTP {status} {response.reason_phrase}".rstrip())
        media_type, charset = content_type(response.headers.get("content-type", ""))
        name = name_for(url, media_type)
        if name is None:
            logger.info("%s: not a document (%s), skipped", url, media_type or "no content type")
            return _Visit(links=[])
        html = media_type in _HTML_TYPES
        take = self._wanted(url, name, location)
        if not take and not html:
            logger.info("%s: not included (include/exclude), skipped", url)
            return _Visit(links=[])
        try:
            self._check_length(response)
            path, size, digest = self._spool(response, deadline)
        except SourceError as error:
            return self._failed(url, entry, location, str(error), html=html)
        links = links_in(path, final, charset) if html else []
        etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
        fetched = {
            "url": final,
            "name": name,
            "content_type": media_type,
            "size": size,
            "etag": etag,
            "last_modified": last_modified,
            "version": etag or last_modified or f"sha256:{digest}",
            "links": links,
        }
        if not take:
            path.unlink(missing_ok=True)
            return _Visit(links=links, entry=fetched)
        self._spooled[url] = path
        return _Visit(item=self._item(url, fetched), links=links, entry=fetched)

    def _failed(
        self, url: str, entry: dict[str, Any] | None, location: _Location, problem: str, *, html: bool | None
    ) -> _Visit:
        """A page that could not be fetched: listed (unless excluded), its read raising ``problem``.
        Its links are those cached, else unknown for an HTML page (by its content type, else its
        URL: a PDF link names no other page)."""
        logger.info("%s: %s", url, problem)
        if entry is not None:
            name = str(entry["name"])
            links: list[str] | None = list(entry.get("links", []))
        else:
            name = guessed_name(url)
            html = html if html is not None else posixpath.splitext(name)[1] in EXTENSION_FAMILIES[".html"]
            links = None if html else []
        if not self._wanted(url, name, location):
            return _Visit(links=links, entry=entry)
        self._unreadable[url] = problem
        return _Visit(item=SourceItem(uri=url, name=name, metadata={"url": url}), links=links, entry=entry)

    def _read_sitemap(
        self, url: str, entry: dict[str, Any] | None, deadline: float
    ) -> tuple[str, list[str], dict[str, Any]]:
        """The sitemap's kind (``urlset`` or ``sitemapindex``), its ``<loc>`` URLs and its cache entry."""
        headers = {"Accept": "application/xml,text/xml;q=0.9,*/*;q=0.5"}
        if entry is not None and entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry is not None and entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        with self._network_errors(), self._request(url, headers, deadline) as (response, final):
            status = response.status_code
            if status == 304 and entry is not None:
                return str(entry.get("kind")), list(entry.get("links", [])), entry
            if not 200 <= status < 300:
                raise SourceError(f"the server answered HTTP {status} {response.reason_phrase}".rstrip())
            self._check_length(response)
            path, size, _digest = self._spool(response, deadline)
        try:
            kind, raw = parse_sitemap(path, self.max_bytes)
        finally:
            path.unlink(missing_ok=True)
        locs = [url for url in (normalize_url(loc, final) for loc in raw) if url is not None]
        fetched = {
            "url": final,
            "name": posixpath.basename(urlsplit(url).path),
            "kind": kind,
            "content_type": _SITEMAP_TYPE,
            "size": size,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "links": locs,
        }
        return kind, locs, fetched

    def _item(self, url: str, entry: dict[str, Any]) -> SourceItem:
        metadata = {"url": entry.get("url", url), "content_type": entry.get("content_type", "")}
        metadata.update({key: entry[key] for key in ("etag", "last_modified") if entry.get(key)})
        return SourceItem(
            uri=url,
            name=entry["name"],
            size=entry.get("size"),
            version=entry.get("version"),
            metadata=metadata,
        )

    def _wanted(self, url: str, name: str, location: _Location) -> bool:
        path = urlsplit(url).path
        folder = urlsplit(location.prefix).path
        relative = unquote(path[len(folder) :] if path.startswith(folder) else "")
        return wanted(posixpath.join(posixpath.dirname(relative), name), self.include, self.exclude)

    def _allowed(self, url: str, deadline: float) -> bool:
        return self._robots_verdict(url, deadline) is None

    def _robots_verdict(self, url: str, deadline: float) -> str | None:
        """``None`` when robots.txt lets ``url`` be fetched (it is read once per host per listing);
        else :data:`DISALLOWED`, or why robots.txt could not be read (then nothing is fetched there)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin, deadline)
        robots, problem = self._robots[origin]
        if robots.can_fetch(self.user_agent, url):
            return None
        logger.info("%s: skipped, %s", url, problem or DISALLOWED)
        return problem or DISALLOWED

    def _read_robots(self, origin: str, deadline: float) -> tuple[RobotFileParser, str | None]:
        """The origin's robots.txt, and why it could not be read. As RFC 9309 says, a 4xx allows
        everything; a 5xx or an unreachable server disallows everything."""
        robots = RobotFileParser(f"{origin}/robots.txt")
        try:
            with self._network_errors(), self._request(f"{origin}/robots.txt", {}, deadline) as (response, _):
                status = response.status_code
                if 200 <= status < 300:
                    sink = _Sink()
                    self._stream(response, sink, deadline, limit=MAX_ROBOTS_BYTES, cut=True)
                    robots.parse(sink.data().decode("utf-8", "replace").splitlines())
                    return robots, None
                if 400 <= status < 500:
                    robots.parse([])  # no rules: everything allowed
                    return robots, None
                problem = f"the server answered HTTP {status} {response.reason_phrase}".rstrip()
        except (SourceError, _OutOfTime) as error:
            problem = str(error) or "max_seconds ran out"
        problem = f"{origin}/robots.txt could not be read, so nothing is fetched there: {problem}"
        logger.warning("%s", problem)
        robots.parse(["User-agent: *", "Disallow: /"])
        return robots, problem

    # --- fetching ---------------------------------------------------------------------------

    def _check_start(self, url: str) -> None:
        try:
            self._guard.check_url(url)
        except AddressRefused as error:
            how = (
                f"allow loopback and private addresses with {ALLOW_FLAG}"
                if error.allowable
                else "this address is never fetched"
            )
            raise ConfigurationError(f"{url} is refused: {error}; {how}") from error

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = guarded_client(self._guard, timeout=self.timeout, user_agent=self.user_agent)
        return self._client

    @contextmanager
    def _request(
        self, url: str, headers: dict[str, str], deadline: float
    ) -> Iterator[tuple[httpx.Response, str]]:
        """GET ``url``, following redirects (each hop checked): the open response and its URL."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _OutOfTime
            try:
                self._guard.check_url(current)
                request = self.client.build_request(
                    "GET", current, headers=headers, timeout=min(self.timeout, remaining)
                )
                response = self.client.send(request, stream=True)
            except AddressRefused as error:
                hint = f" (allowed with {ALLOW_FLAG})" if error.allowable else ""
                via = f"it redirects to {current}, and " if current != url else ""
                raise SourceError(f"refused: {via}{error}{hint}") from error
            target = response.headers.get("location")
            if response.status_code in _REDIRECTS and target:
                response.close()
                following = normalize_url(target, current)
                if following is None:
                    raise SourceError(f"{current} redirects to {target!r}, not an http(s) URL")
                current = following
                continue
            try:
                yield response, current
            finally:
                response.close()
            return
        raise SourceError(f"more than {MAX_REDIRECTS} redirects, the last to {current}")

    @contextmanager
    def _network_errors(self) -> Iterator[None]:
        """httpx's failures as :class:`SourceError` naming the cause."""
        try:
            yield
        except httpx.TimeoutException as error:
            raise SourceError(
                f"timed out: no answer within {self.timeout:g} s ({type(error).__name__})"
            ) from error
        except httpx.HTTPError as error:
            raise SourceError(f"the request failed: {type(error).__name__}: {error}") from error
        except OSError as error:
            raise SourceError(f"the page could not be spooled: {error}") from error

    def _check_length(self, response: httpx.Response) -> None:
        """Refuse a body whose announced length is over ``max_bytes``, before reading it."""
        length = response.headers.get("content-length", "")
        if length.isdigit():
            check_size(int(length), self.max_bytes)

    def _stream(
        self,
        response: httpx.Response,
        sink: IO[bytes] | _Sink,
        deadline: float,
        *,
        limit: int = 0,
        cut: bool = False,
    ) -> tuple[int, str]:
        """Copy the (decoded) body to ``sink``, up to ``limit`` (``max_bytes``) bytes: one more
        fails (``cut``: the rest is dropped). Its size and sha256."""
        limit = limit or self.max_bytes
        size, digest = 0, hashlib.sha256()
        for chunk in response.iter_bytes(_READ_SIZE):
            if size + len(chunk) > limit:
                if cut:
                    chunk = chunk[: limit - size]
                else:
                    check_size(size + len(chunk), limit, at_least=True)
            sink.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if cut and size >= limit:
                break
            if time.monotonic() > deadline:
                raise _OutOfTime
        return size, digest.hexdigest()

    def _spool(self, response: httpx.Response, deadline: float) -> tuple[Path, int, str]:
        """The body in a temporary file of this source's: its path, size and sha256."""
        if self._spool_dir is None:
            self._spool_dir = Path(tempfile.mkdtemp(prefix="chunkwise-web-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._spool_dir, ignore_errors=True)
        descriptor, name = tempfile.mkstemp(dir=self._spool_dir, suffix=".body")
        path = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as file:
                size, digest = self._stream(response, file, deadline)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, size, digest

    def _discard_spool(self) -> None:
        self._spooled = {}
        if self._cleanup is not None:
            self._cleanup()
        self._spool_dir, self._cleanup = None, None


class _Sink:
    """Bytes collected in memory (robots.txt, and :meth:`WebSource.read`'s fresh fetches)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    def data(self) -> bytes:
        return b"".join(self.parts)


# --- URLs and names ---------------------------------------------------------------------------


def _location(given: str, cache_root: Path) -> _Location:
    url = normalize_url(given)
    if url is None:
        raise ConfigurationError(f"{given!r} is not an http(s) URL with a host (and no user or password)")
    sitemap = is_sitemap(url)
    parts = urlsplit(url)
    last = parts.path.rsplit("/", 1)[-1]
    folder = (
        parts.path + "/"
        if last and "." not in last and not sitemap
        else parts.path[: parts.path.rfind("/") + 1]
    )
    prefix = urlunsplit((parts.scheme, parts.netloc, folder, "", ""))
    cache_file = cache_root / hashlib.sha256(url.encode("utf-8")).hexdigest() / "pages.json"
    return _Location(url=url, prefix=prefix, sitemap=sitemap, cache_file=cache_file)


# --- page contents ----------------------------------------------------------------------------


# --- the cache of the previous listing ---------------------------------------------------------


def _load_cache(location: _Location) -> dict[str, dict[str, Any]]:
    try:
        saved = json.loads(location.cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logger.warning(
            "the cache %s could not be read (%s): every page is fetched whole", location.cache_file, error
        )
        return {}
    pages = saved.get("pages") if isinstance(saved, dict) and saved.get("format") == _CACHE_FORMAT else None
    if not isinstance(pages, dict):
        return {}
    return {
        url: entry
        for url, entry in pages.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("links", []), list)
    }


def _save_cache(
    location: _Location,
    cache: dict[str, dict[str, Any]],
    fresh: dict[str, dict[str, Any] | None],
    complete: bool,
) -> None:
    """Keep what this listing learned: after a complete one, only its pages; else merged with the
    previous. Written whole, then renamed over the old file."""
    pages = {} if complete else dict(cache)
    for url, entry in fresh.items():
        if entry is None:
            pages.pop(url, None)
        else:
            pages[url] = entry
    saved = {"format": _CACHE_FORMAT, "location": location.url, "pages": pages}
    try:
        location.cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = location.cache_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(saved, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(temporary, location.cache_file)
    except OSError as error:
        logger.warning("the cache %s could not be written: %s", location.cache_file, error)
