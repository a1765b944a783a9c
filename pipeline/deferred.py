"""Index in one process, write in another: for stores only one process may open (Qdrant Edge).

:func:`prepare_items` runs :func:`~pipeline.indexing.index_items` unchanged (read, parse, chunk,
embed, per-document failures) with a stand-in store that keeps each document's points instead of
writing them; :func:`write_prepared` writes them later, in the process that holds the store, through
the store's own ``replace_document``: new points first, then the document's old ones deleted,
manifest and fingerprint as in any run, so a run killed at any point is still completed by the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

from chunkwise.pipeline.embedding import ChunkEmbedder
from chunkwise.pipeline.errors import StoreError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.indexing import READ_AHEAD_DOCUMENTS, index_items
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.protocols import Chunker, Encoder, Parser, Source, SparseEncoder, VectorStore
from chunkwise.pipeline.report import RunReport
from chunkwise.pipeline.source import SourceItem


@dataclass(frozen=True, slots=True)
class DocumentPoints:
    """One document's points, ready for ``store.replace_document`` (``new``: nothing of it was stored).

    Example::

        document = DocumentPoints(document_id("notes/tides.md"), points, new=True)
        write_prepared(store, "docs", [document])   # store.replace_document(..., known_new=True)
    """

    document_id: str
    points: list[Point]
    new: bool


@dataclass(frozen=True, slots=True)
class DocumentRefresh:
    """A document kept as stored whose source names or describes it anew: ``store.refresh_document``."""

    document_id: str
    source_version: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class PreparedBatch:
    """What :func:`prepare_items` made of some documents: the report and each document's points (or
    the payload refresh of a document whose bytes did not change).

    Example::

        prepared = prepare_items(source, items, parser, chunker, encoder, stored={}, fingerprint=fp)
        prepared.report.indexed                         # documents whose points were made
        write_prepared(store, "docs", prepared.documents)
    """

    report: RunReport
    documents: list[DocumentPoints | DocumentRefresh] = field(default_factory=list)


class _Recorder:
    """Stands in for the store in :func:`index_items`, which, given the manifest and the fingerprint,
    only calls ``replace_document`` and ``refresh_document``; anything else is a mistake and says so."""

    def __init__(self) -> None:
        self.documents: list[DocumentPoints | DocumentRefresh] = []

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        self.documents.append(DocumentPoints(document_id, list(points), known_new))

    def refresh_document(
        self, collection: str, document_id: str, source_version: str, metadata: Mapping[str, Any]
    ) -> None:
        self.documents.append(DocumentRefresh(document_id, source_version, dict(metadata)))

    def __getattr__(self, name: str) -> NoReturn:
        raise StoreError(f"{name}: points prepared apart are written by the process that holds the store")


def prepare_items(
    source: Source,
    items: Sequence[SourceItem],
    parser: Parser,
    chunker: Chunker,
    encoder: Encoder | ChunkEmbedder,
    *,
    stored: Mapping[str, StoredDocument],
    fingerprint: Fingerprint,
    sparse_encoder: SparseEncoder | None = None,
    batch_chunks: int = 512,
    skip_unchanged: bool = True,
    reindex: bool = False,
    read_ahead: int = READ_AHEAD_DOCUMENTS,
) -> PreparedBatch:
    """Read, parse, chunk and embed ``items`` as :func:`index_items` does, writing nothing.

    ``stored`` is the collection's manifest for ``items`` and ``fingerprint`` the pipeline's (the
    caller opened the collection with it); the report counts a document indexed once its points
    are made, and :func:`write_prepared` stores them.

    Example::

        prepared = prepare_items(source, items, parser, chunker, encoder,
                                 stored=store.stored_documents("docs"), fingerprint=fingerprint)
        write_prepared(store, "docs", prepared.documents)   # in the process that holds the store
    """
    recorder = _Recorder()
    report = index_items(
        source,
        items,
        parser,
        chunker,
        encoder,
        cast(VectorStore, recorder),
        "",
        sparse_encoder=sparse_encoder,
        batch_chunks=batch_chunks,
        skip_unchanged=skip_unchanged,
        reindex=reindex,
        stored=stored,
        fingerprint=fingerprint,
        read_ahead=read_ahead,
    )
    return PreparedBatch(report, recorder.documents)


def write_prepared(
    store: VectorStore, collection: str, documents: Iterable[DocumentPoints | DocumentRefresh]
) -> int:
    """Write each document's points as an indexing run would (``replace_document``, or
    ``refresh_document`` for one kept as stored); returns how many documents were written.

    Example::

        write_prepared(store, "docs", prepared.documents)
    """
    written = 0
    for document in documents:
        if isinstance(document, DocumentRefresh):
            store.refresh_document(
                collection, document.document_id, document.source_version, document.metadata
            )
            continue
        store.replace_document(collection, document.document_id, document.points, known_new=document.new)
        written += 1
    return written


__all__ = ["DocumentPoints", "PreparedBatch", "prepare_items", "write_prepared"]
