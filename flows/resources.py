"""What flow tasks open for themselves: the store and the source (once per process) and the pipeline
(once per thread).

Tasks receive paths, options and ids, never models or clients; they get those from here. An
embedded store takes a lock per process, so the tasks of one process share its one open store;
tokenizers are not safe to share between threads, so each worker thread builds its own pipeline.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.learned_sparse_encoder import LearnedSparseEncoder
from chunkwise.connectors.stores import LOCAL_PREFIX, Store
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.components import (
    Embedder,
    build_chunker,
    build_embedder,
    build_parser,
    build_source,
    build_sparse_encoder,
    build_store,
)
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.chunking.sentence_chunker import SentenceChunker
from chunkwise.pipeline.chunking.token_chunker import TokenChunker
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.indexing import pipeline_fingerprint
from chunkwise.pipeline.source import SourceItem

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PipelineParts:
    """The parser, chunker and encoders built from one set of ingest options."""

    parser: UnstructuredParser
    chunker: TokenChunker | SentenceChunker
    embedder: Embedder
    sparse_encoder: Bm25Encoder | LearnedSparseEncoder | None

    @property
    def fingerprint(self) -> Fingerprint:
        return pipeline_fingerprint(self.embedder, self.chunker, self.sparse_encoder)


_thread = threading.local()


def pipeline_parts(options: IngestOptions) -> PipelineParts:
    """This thread's pipeline for ``options``, built (and its model loaded) on first use."""
    built: dict[IngestOptions, PipelineParts] = _thread.__dict__.setdefault("parts", {})
    parts = built.get(options)
    if parts is None:
        embedder = build_embedder(options)
        parts = built[options] = PipelineParts(
            parser=build_parser(options),
            chunker=build_chunker(options, embedder),
            embedder=embedder,
            sparse_encoder=build_sparse_encoder(options),
        )
    return parts


class _Shared(Generic[T]):
    """Things built once per process by key, counted by their users and closed when the last leaves."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[T, int]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def use(self, key: str, build: Callable[[], T], close: Callable[[T], None]) -> Iterator[T]:
        """The thing of ``key``, built by ``build`` if nobody holds it; ``close`` after its last user."""
        with self._lock:
            held, users = self._held.get(key) or (None, 0)
            if held is None:
                held = build()
            self._held[key] = (held, users + 1)
        try:
            yield held
        finally:
            with self._lock:
                held, users = self._held[key]
                if users == 1:
                    del self._held[key]
                    close(held)
                else:
                    self._held[key] = (held, users - 1)


_stores: _Shared[Store] = _Shared()


@contextmanager
def shared_store(location: str, quantization: str | None = None) -> Iterator[Store]:
    """The store at ``location``, opened once in this process and closed when its last user leaves;
    ``quantization`` for the collections it creates (the first opener's applies).

    Example::

        with shared_store("/srv/chunkwise/qdrant") as store:   # a flow holds it for its tasks
            ...
    """
    with _stores.use(
        location, lambda: build_store(location, quantization=quantization), lambda store: store.close()
    ) as store:
        yield store


class SharedSource:
    """A run's source, shared by the tasks of one process, and the URIs its last listing gave.

    A website's listing fetches every page: the bodies it keeps are what this process's batch
    tasks read, and its URIs are what ``settle`` prunes by, so one flow run crawls once.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.listed: list[str] | None = None  # None: not listed in this process
        self._lock = threading.Lock()

    def items(self) -> list[SourceItem]:
        """List the source now (its pages fetched, for a website) and remember the URIs."""
        with self._lock:
            items = list(self.source.items())
            self.listed = [item.uri for item in items]
        return items

    def uris(self) -> list[str]:
        """The URIs of this process's listing, else of a listing made now."""
        return list(self.listed) if self.listed is not None else [item.uri for item in self.items()]


_sources: _Shared[SharedSource] = _Shared()


@contextmanager
def shared_source(paths: list[str], options: IngestOptions) -> Iterator[SharedSource]:
    """The source of ``paths`` with ``options``, built once in this process and closed when its last
    user leaves (a flow holds it for its tasks, as :func:`shared_store` the store).

    Example::

        with shared_source(["https://docs.example.org/"], options) as shared:
            items = shared.items()
    """
    key = json.dumps([paths, options.model_dump(mode="json")], sort_keys=True)
    with _sources.use(key, lambda: SharedSource(build_source(paths, options)), _close_source) as shared:
        yield shared


def _close_source(shared: SharedSource) -> None:
    close = getattr(shared.source, "close", None)
    if close is not None:
        close()


def absolute_location(location: str) -> str:
    """``location`` with a folder made absolute, so tasks in other working directories agree on it."""
    if location.startswith(("http://", "https://")) or location == ":memory:":
        return location
    if location.startswith(LOCAL_PREFIX):
        return LOCAL_PREFIX + os.path.abspath(location[len(LOCAL_PREFIX) :])
    return os.path.abspath(location)
