"""The small interfaces that pipeline components implement.

A component satisfies a protocol by shape alone; nothing needs to inherit from these classes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Chunk, Document, EncoderSpec, Fusion, SearchHit, SparseVector


@runtime_checkable
class Source(Protocol):
    """Lists documents and reads their bytes."""

    def items(self) -> Iterable[SourceItem]: ...

    def read(self, item: SourceItem) -> bytes: ...


@runtime_checkable
class ScopedSource(Source, Protocol):
    """A source that can tell which stored documents it is responsible for (needed to prune).

    A source that also has ``root_of(uri) -> str | None`` (the path given to it that ``uri`` falls
    under) gets its prune safeguards per path, as :class:`FileSystemSource` does.
    """

    def covers(self, uri: str) -> bool:
        """Whether a document at ``uri`` would be listed by this source if it still existed."""
        ...


@runtime_checkable
class Parser(Protocol):
    """Turns a document's bytes into text and structural elements."""

    @property
    def settings(self) -> str:
        """Everything that changes the parser's output, as a stable string (part of content hashes)."""
        ...

    def parse(self, item: SourceItem, data: bytes) -> Document: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Splits text into tokens and tells where each token lies in the text."""

    @property
    def name(self) -> str: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_starts(self, text: str) -> list[int]:
        """Character offset where each token of ``encode(text)`` starts, in order."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens of ``text``, special tokens excluded."""
        ...


@runtime_checkable
class Chunker(Protocol):
    """Decides where a document is cut; ``config`` identifies its settings."""

    @property
    def config(self) -> dict[str, Any]: ...

    def chunk(self, document: Document) -> list[Chunk]: ...


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into vectors. Documents and queries may be encoded differently."""

    @property
    def spec(self) -> EncoderSpec: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


@runtime_checkable
class SparseEncoder(Protocol):
    """Turns texts into sparse term weights (for keyword and hybrid search); ``config`` identifies it."""

    @property
    def config(self) -> dict[str, Any]: ...

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...


@runtime_checkable
class StoreWriter(Protocol):
    """The writing role of a store: collections stamped with the fingerprint of the pipeline that
    fills them, and documents replaced whole. Stores never embed.

    Example::

        store.ensure_collection("docs", fingerprint)
        store.replace_document("docs", document_id, points)   # new points first, then the stale ones go
    """

    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        """Create ``collection`` for ``fingerprint``'s vectors, or check that it holds such vectors
        (:class:`~pipeline.errors.FingerprintMismatchError` if not; the collection is left as it was)."""
        ...

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        """Stamp an existing collection with a new fingerprint (a rebuild with other chunking options)."""
        ...

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        """Write a document's points, then delete its other points (none to look for if ``known_new``)."""
        ...

    def refresh_document(
        self, collection: str, document_id: str, source_version: str, metadata: Mapping[str, Any]
    ) -> None:
        """Set ``source_version`` on every point of ``document_id`` and merge ``metadata`` into their
        ``metadata``; vectors and other keys stay (the source renamed the same bytes: not re-embedded)."""
        ...

    def delete_document(self, collection: str, document_id: str) -> None:
        """Delete every point of ``document_id`` (nothing happens if it has none)."""
        ...

    def write_points(self, collection: str, points: Sequence[Point]) -> None:
        """Upsert points as they are (copying a collection); indexing goes through ``replace_document``."""
        ...

    def drop_collection(self, collection: str) -> None:
        """Delete a collection and everything in it (nothing happens if it does not exist)."""
        ...


@runtime_checkable
class StoreReader(Protocol):
    """The reading role of a store: what it holds, point by point and document by document.

    ``filters`` map a payload key (dotted for nested keys, as ``metadata.lang``) to the value
    it must equal, or to a list of values it must be one of. Reading a collection that does not
    exist raises :class:`~pipeline.errors.StoreError`.

    Example::

        stored = store.stored_documents("docs")          # {document_id: StoredDocument}
        sources = store.field_values("docs", "source", exact=False)
    """

    def collections(self) -> list[str]:
        """The names of the collections the store holds, sorted."""
        ...

    def fingerprint(self, collection: str) -> Fingerprint | None:
        """The fingerprint ``collection`` was stamped with; ``None`` if there is no such collection
        (or it was not made by chunkwise)."""
        ...

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        """How many points match ``filters`` (every point without)."""
        ...

    def stored_documents(
        self, collection: str, *, document_ids: Collection[str] | None = None
    ) -> dict[str, StoredDocument]:
        """Every document in the collection (or just those of ``document_ids``), with its points
        counted per version."""
        ...

    def points(
        self, collection: str, *, with_vectors: bool = True, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Point]:
        """Every point of the collection (matching ``filters``), page by page."""
        ...

    def field_values(self, collection: str, key: str, *, exact: bool = True) -> list[Any]:
        """The distinct values of an indexed payload field (``source`` or ``document_id``).

        ``exact=False`` may also list values whose points were deleted, and is faster (a store may
        keep the list until its next write).
        """
        ...


@runtime_checkable
class StoreSearcher(Protocol):
    """The searching role of a store: the chunks, or the documents, closest to a query.

    A query is a dense ``vector``, ``sparse`` terms, or both fused (hybrid); neither is a
    :class:`~pipeline.errors.ConfigurationError`. ``filters`` are as :class:`StoreReader`'s. Equal
    scores come back ordered by id: the same query always gives the same list.

    Example::

        hits = store.search("docs", query_vector, k=5, sparse=query_terms, filters={"source": "/a.md"})
    """

    def search(
        self,
        collection: str,
        vector: np.ndarray | None,
        k: int,
        filters: Mapping[str, Any] | None = None,
        *,
        sparse: SparseVector | None = None,
        score_threshold: float | None = None,
        with_vectors: bool = False,
        fusion: Fusion | None = None,
        exact: bool = False,
        using: Sequence[str] = ("dense",),
    ) -> list[SearchHit]:
        """The ``k`` closest chunks by ``vector``, by ``sparse`` terms, or both fused (hybrid).

        ``with_vectors`` brings each hit's dense vector along (``SearchHit.vector``); ``fusion``
        says how hybrid search fuses the rankings (default: reciprocal rank fusion); ``exact``
        compares with every vector instead of searching the approximate (HNSW) index. ``using``
        names the dense vectors ``vector`` is compared with: ``"dense"``, and any dense vector of
        the collection's :attr:`Fingerprint.vectors`; each gives a ranking, and all are fused.
        """
        ...

    def search_documents(
        self,
        collection: str,
        vector: np.ndarray | None,
        k: int,
        filters: Mapping[str, Any] | None = None,
        *,
        sparse: SparseVector | None = None,
        fusion: Fusion | None = None,
        using: Sequence[str] = ("dense",),
    ) -> list[SearchHit]:
        """The ``k`` best documents, each as its best chunk, by the same modes as ``search``.

        A document ranks where its best chunk ranks in the chunk ranking of ``search``.
        """
        ...


@runtime_checkable
class VectorStore(StoreWriter, StoreReader, StoreSearcher, Protocol):
    """A whole store: its three roles (:class:`StoreWriter`, :class:`StoreReader`,
    :class:`StoreSearcher`) and ``close``. What the pipeline and the retriever need, and all a new
    store must offer; ``chunkwise.testing`` checks that it behaves as chunkwise's own stores do.

    Example::

        with open_store(".chunkwise/qdrant") as store:   # any VectorStore
            index_documents(source, parser, chunker, encoder, store, "docs")
    """

    def close(self) -> None:
        """Release what the store holds open (files, locks, connections); it may be used again."""
        ...
