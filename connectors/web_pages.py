"""What the web source knows of URLs and pages: normal forms, file names, links and sitemaps."""

from __future__ import annotations

import codecs
import gzip
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit
from xml.parsers import expat

from chunkwise.connectors.source_rules import DEFAULT_MAX_BYTES, check_size
from chunkwise.pipeline.errors import SourceError

_READ_SIZE = 1 << 16

_DEFAULT_PORTS = {"http": 80, "https": 443}


# A document's extension by its content type; a URL whose own extension is of the same family keeps it.
_TYPE_EXTENSIONS = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


EXTENSION_FAMILIES = {
    ".html": frozenset({".html", ".htm", ".xhtml"}),
    ".pdf": frozenset({".pdf"}),
    ".md": frozenset({".md", ".markdown"}),
    ".txt": frozenset({".txt", ".text", ".rst", ".md", ".markdown"}),
    ".docx": frozenset({".docx"}),
}


_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})


_DOCUMENT_EXTENSIONS = frozenset().union(*EXTENSION_FAMILIES.values())


# Links to these are never fetched: they are not documents, and a page links many of them.
_SKIPPED_EXTENSIONS = frozenset(
    {
        *(".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp", ".tif", ".tiff"),
        *(".css", ".js", ".mjs", ".map", ".json", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".wasm"),
        *(".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".jar", ".deb", ".rpm", ".apk"),
        *(".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".webm", ".avi", ".mov", ".mkv", ".flac"),
        *(".exe", ".msi", ".dmg", ".iso", ".bin"),
    }
)


def normalize_url(url: str, base: str | None = None) -> str | None:
    """``url`` (resolved against ``base``) as the web source names pages, or ``None`` when it is not
    an http(s) URL with a host and no credentials: scheme and host lowercased, default port, dot
    segments and fragment dropped, unsafe characters percent-encoded, the query kept.

    Example::

        normalize_url("../b/./c.html?x=1#top", "HTTP://Example.org:80/a/d/")  # "http://example.org/a/b/c.html?x=1"
    """
    url = url.strip()
    try:
        parts = urlsplit(urljoin(base, url) if base is not None else url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(_remove_dot_segments(parts.path or "/"), safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return urlunsplit((scheme, netloc, path, query, ""))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986's ``remove_dot_segments`` for an absolute path."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/".join(output)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


def is_sitemap(url: str) -> bool:
    """Whether a location is a sitemap: its last path segment ends in .xml or .xml.gz and names one."""
    segment = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    return "sitemap" in segment and segment.endswith((".xml", ".xml.gz"))


def name_for(url: str, media_type: str) -> str | None:
    """The file name of a page at ``url`` served as ``media_type``, or ``None`` when it is not a
    document. The URL's last segment (``index`` for a folder) keeps its extension when that matches
    the content type, else the type's extension is added; an untyped page keeps a document extension.

    Example::

        name_for("https://site/docs/", "text/html")             # "index.html"
        name_for("https://site/docs/intro", "text/html")        # "intro.html"
        name_for("https://site/notes.md", "text/plain")         # "notes.md"
        name_for("https://site/logo.png", "image/png")          # None
    """
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1]).replace("\\", "_").replace("/", "_") or "index"
    extension = posixpath.splitext(segment)[1].lower()
    typed = _TYPE_EXTENSIONS.get(media_type)
    if typed is None:
        return segment if media_type in _UNTYPED and extension in _DOCUMENT_EXTENSIONS else None
    return segment if extension in EXTENSION_FAMILIES[typed] else segment + typed


def guessed_name(url: str) -> str:
    """The name of a page that could not be fetched: by its URL's extension, else as HTML."""
    return name_for(url, "application/octet-stream") or str(name_for(url, "text/html"))


def is_skipped(url: str) -> bool:
    return posixpath.splitext(urlsplit(url).path)[1].lower() in _SKIPPED_EXTENSIONS


def content_type(header: str) -> tuple[str, str]:
    """The media type (lowercased) and charset (``utf-8`` when not given) of a Content-Type header."""
    media_type, _, parameters = header.partition(";")
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", parameters, re.IGNORECASE)
    return media_type.strip().lower(), match.group(1) if match else "utf-8"


class _LinkParser(HTMLParser):
    """Collects the targets of ``<a href>`` and ``<area href>``, resolved against ``<base href>``."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.based = False
        self.links: dict[str, None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = next((value for key, value in attrs if key == "href" and value is not None), None)
        if href is None:
            return
        if tag == "base" and not self.based:
            self.base, self.based = urljoin(self.base, href.strip()), True
        elif tag in ("a", "area"):
            link = normalize_url(href, self.base)
            if link is not None:
                self.links[link] = None


def links_in(path: Path, base: str, charset: str) -> list[str]:
    """The links of the HTML page spooled at ``path``, in order, each once."""
    try:
        decoder = codecs.getincrementaldecoder(charset)(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parser = _LinkParser(base)
    with open(path, "rb") as file:
        while chunk := file.read(_READ_SIZE):
            parser.feed(decoder.decode(chunk))
    parser.feed(decoder.decode(b"", final=True))
    parser.close()
    return list(parser.links)


class _Refused(Exception):
    pass


def parse_sitemap(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, list[str]]:
    """The root element (``urlset`` or ``sitemapindex``) and the ``<loc>`` texts of a sitemap file
    (gzipped or not). A DTD or an entity declaration is refused, as is more than ``max_bytes`` of
    XML, or XML that is not well formed: :class:`SourceError`.

    Example::

        kind, locs = parse_sitemap(Path("sitemap.xml"))   # ("urlset", ["https://site/a.html", ...])
    """
    stack: list[str] = []
    locs: list[str] = []
    text: list[str] = []
    roots: list[str] = []  # the root element's name

    def start(name: str, attributes: object) -> None:
        stack.append(name.rsplit(" ", 1)[-1])
        if not roots:
            roots.append(stack[0])
        text.clear()

    def end(name: str) -> None:
        if stack[-1] == "loc" and len(stack) >= 2 and stack[-2] in ("url", "sitemap"):
            locs.append("".join(text).strip())
        stack.pop()

    def refuse(*args: object) -> int:
        raise _Refused("the sitemap declares a DTD or entities: refused")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            read = gzip.GzipFile(fileobj=raw).read if gzipped else raw.read
            size = 0
            while chunk := read(_READ_SIZE):
                size += len(chunk)
                check_size(size, max_bytes, at_least=True)
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Refused as error:
        raise SourceError(str(error)) from error
    except (expat.ExpatError, OSError, EOFError) as error:
        raise SourceError(f"the sitemap is not well-formed XML: {error}") from error
    root = roots[0] if roots else None
    if root not in ("urlset", "sitemapindex"):
        raise SourceError(f"not a sitemap: its root element is {root!r}, not urlset or sitemapindex")
    return root, locs
