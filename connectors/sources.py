"""One source over every location a run is given: local paths, ``s3://``, ``http(s)://`` and git.

``open_source`` looks at each location's form, builds one source per kind, and joins them: the
pipeline sees one :class:`~chunkwise.pipeline.protocols.ScopedSource` whatever the mix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.source import SourceItem

DEFAULT_MAX_PAGES = 1000
DEFAULT_MAX_DEPTH = 10
DEFAULT_MAX_CRAWL_SECONDS = 1800.0
Kind = Literal["file", "s3", "web", "git"]
KINDS: tuple[Kind, ...] = ("file", "s3", "web", "git")


@dataclass(frozen=True)
class SourceOptions:
    """What the sources take besides their locations.

    ``ref`` reads git repositories (a ``git+URL``, or a local repository path when ``ref`` is
    given) at that branch, tag or commit. ``cache_dir`` holds git clones and what a crawl
    remembers for its conditional requests (default: ``$CHUNKWISE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/chunkwise``). ``allow_private_network`` lets the web source fetch
    loopback, private and link-local addresses, which it refuses by default. ``max_pages``,
    ``max_depth`` and ``max_seconds`` bound a crawl.

    Example::

        SourceOptions(include=("*.md",), ref="v2.1", max_pages=200)
    """

    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    ref: str | None = None
    allow_private_network: bool = False
    max_pages: int = DEFAULT_MAX_PAGES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_seconds: float = DEFAULT_MAX_CRAWL_SECONDS
    cache_dir: str | None = None


def location_kind(location: str, *, ref: str | None = None) -> Kind:
    """The kind of source that reads ``location``: ``s3://...`` is object storage, ``http(s)://`` a
    website, ``git+...`` a git repository (as is a local path when a ``ref`` is given); anything
    else is a local file or folder.

    Example::

        location_kind("s3://docs/manuals/")         # "s3"
        location_kind("/srv/repo", ref="main")     # "git"
    """
    lowered = location.lower()
    if lowered.startswith("s3://"):
        return "s3"
    if lowered.startswith(("http://", "https://")):
        return "web"
    if lowered.startswith("git+") or ref is not None:
        return "git"
    return "file"


def normalize_location(location: str, *, ref: str | None = None) -> str:
    """``location`` as the same run in another process reads it: local paths made absolute."""
    if location_kind(location, ref=ref) in ("file", "git") and "://" not in location:
        return os.path.abspath(location)
    return location


def open_source(locations: Sequence[str], options: SourceOptions | None = None) -> Any:
    """The source that lists and reads every one of ``locations``.

    Example::

        source = open_source(["docs/", "s3://bucket/manuals/", "https://docs.example.org/"])
        for item in source.items():
            data = source.read(item)
    """
    options = options or SourceOptions()
    if not locations:
        raise ConfigurationError("no location given: name at least one folder, file or URL")
    grouped: dict[Kind, list[str]] = {}
    for location in locations:
        grouped.setdefault(location_kind(location, ref=options.ref), []).append(location)
    sources = {kind: _open(kind, grouped[kind], options) for kind in KINDS if kind in grouped}
    if len(sources) == 1:
        return next(iter(sources.values()))
    return CombinedSource(sources)


def _open(kind: Kind, locations: list[str], options: SourceOptions) -> Any:
    if kind == "file":
        return FileSystemSource(
            locations, include=options.include, exclude=options.exclude, max_bytes=options.max_bytes
        )
    if kind == "s3":
        from chunkwise.connectors.s3_source import S3Source

        return S3Source(
            locations, include=options.include, exclude=options.exclude, max_bytes=options.max_bytes
        )
    if kind == "web":
        from chunkwise.connectors.web_source import WebSource

        return WebSource(
            locations,
            include=options.include,
            exclude=options.exclude,
            max_bytes=options.max_bytes,
            max_pages=options.max_pages,
            max_depth=options.max_depth,
            max_seconds=options.max_seconds,
            allow_private_network=options.allow_private_network,
            cache_dir=_under(options.cache_dir, "web"),
        )
    from chunkwise.connectors.git_source import GitSource

    return GitSource(
        locations,
        ref=options.ref,
        include=options.include,
        exclude=options.exclude,
        max_bytes=options.max_bytes,
        cache_dir=_under(options.cache_dir, "git"),
    )


def _under(folder: str | None, name: str) -> str | None:
    """Each kind's own subfolder of a shared cache folder (``None``: each kind's default)."""
    return os.path.join(folder, name) if folder else None


class CombinedSource:
    """Several sources of different kinds as one: items of each in turn, each read, covered and
    pruned by the source of its kind.

    Example::

        source = CombinedSource({"file": FileSystemSource(["docs/"]), "s3": S3Source(["s3://b/p/"])})
    """

    def __init__(self, sources: dict[Kind, Any]) -> None:
        self.sources = sources

    def items(self) -> Iterator[SourceItem]:
        for source in self.sources.values():
            yield from source.items()

    def read(self, item: SourceItem) -> bytes:
        return self._source_of(item.uri).read(item)

    def root_of(self, uri: str) -> str | None:
        source = self.sources.get(_uri_kind(uri))
        if source is None:
            return None
        root_of = getattr(source, "root_of", None)
        if root_of is not None:
            return root_of(uri)
        return uri if source.covers(uri) else None

    def covers(self, uri: str) -> bool:
        return self.root_of(uri) is not None

    def close(self) -> None:
        for source in self.sources.values():
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _source_of(self, uri: str) -> Any:
        source = self.sources.get(_uri_kind(uri))
        if source is None:
            raise ConfigurationError(f"no source of this run reads {uri}")
        return source


def _uri_kind(uri: str) -> Kind:
    """The kind of source whose documents have URIs like ``uri`` (a git document's URI starts with
    ``git+``, whatever the location was given as)."""
    return location_kind(uri)
