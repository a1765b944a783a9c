"""``index_documents``: read, parse, chunk, embed and write every document of a source."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipeline.embedding import ChunkEmbedder, as_embedder
from pipeline.errors import DocumentError, ParseError, StoreError
from pipeline.fingerprint import Fingerprint
from pipeline.ids import content_hash, document_id
from pipeline.points import Point, chunk_payload
from pipeline.protocols import Chunker, Encoder, Parser, Source, VectorStore
from pipeline.report import RunReport
from pipeline.source import SourceItem
from pipeline.types import Chunk, Document

logger = logging.getLogger(__name__)

ProgressCallback = Callable[["Progress"], None]


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a run: ``source`` reached ``status`` (parsed, unchanged, failed, indexed).

    ``seen`` documents of ``total`` have been read so far, and ``done`` are finished (indexed,
    unchanged or failed); parsed documents wait for their batch to be embedded and written.
    """

    seen: int
    done: int
    total: int
    source: str
    status: str


@dataclass(frozen=True, slots=True)
class _Parsed:
    document: Document
    chunks: list[Chunk]


def pipeline_fingerprint(encoder: Encoder | ChunkEmbedder, chunker: Chunker) -> Fingerprint:
    """The fingerprint of vectors made by ``encoder`` over chunks cut by ``chunker``."""
    embedder = as_embedder(encoder)
    spec = embedder.spec
    return Fingerprint(
        model=spec.model, dimension=spec.dimension, chunking={**embedder.config, **chunker.config}
    )


def index_documents(
    source: Source,
    parser: Parser,
    chunker: Chunker,
    encoder: Encoder | ChunkEmbedder,
    store: VectorStore,
    collection: str,
    *,
    batch_chunks: int = 512,
    skip_unchanged: bool = True,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Index every document ``source`` lists into ``collection`` and report what happened.

    Documents are processed as a stream: at most ``batch_chunks`` chunks (plus one
    document's) are held before they are embedded together and written. A document that
    fails to read, parse, chunk or embed gets an entry in ``report.errors``; the others go on.
    ``encoder`` is an :class:`Encoder` (each chunk embedded alone) or a :class:`ChunkEmbedder`
    such as a late-chunking encoder (chunks pooled from their document's token vectors).
    A store failure raises :class:`~pipeline.errors.StoreError` after what was written stays.

    Example::

        report = index_documents(FileSystemSource(["docs/"]), UnstructuredParser(),
                                 chunker, encoder, QdrantStore(".chunkwise/qdrant"), "docs")
    """
    run = _Run(parser, chunker, encoder, store, collection, batch_chunks, skip_unchanged, progress)
    return run.execute(source)


class _Run:
    """The state of one ``index_documents`` call."""

    def __init__(
        self,
        parser: Parser,
        chunker: Chunker,
        encoder: Encoder | ChunkEmbedder,
        store: VectorStore,
        collection: str,
        batch_chunks: int,
        skip_unchanged: bool,
        progress: ProgressCallback | None,
    ) -> None:
        self.parser, self.chunker, self.store = parser, chunker, store
        self.embedder = as_embedder(encoder)
        self.collection = collection
        self.batch_chunks = max(1, batch_chunks)
        self.skip_unchanged = skip_unchanged
        self.progress = progress
        self.report = RunReport()
        self.pending: list[_Parsed] = []
        self.total = 0

    def execute(self, source: Source) -> RunReport:
        started = time.perf_counter()
        self.fingerprint = pipeline_fingerprint(self.embedder, self.chunker)
        self.store.ensure_collection(self.collection, self.fingerprint)
        items = list(source.items())
        self.total = len(items)
        self._tell("", "started")
        for item in items:
            self.report.seen += 1
            parsed = self._prepare(source, item)
            if parsed is not None:
                self.pending.append(parsed)
                if sum(len(p.chunks) for p in self.pending) >= self.batch_chunks:
                    self._flush()
        self._flush()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _prepare(self, source: Source, item: SourceItem) -> _Parsed | None:
        """Read, parse and chunk one document; ``None`` when it failed or is unchanged."""
        stage = "read"
        try:
            data = source.read(item)
            digest = content_hash(data, self.parser.settings)
            if self.skip_unchanged and self._is_unchanged(item, digest):
                self.report.unchanged += 1
                self._tell(item.uri, "unchanged")
                return None
            stage = "parse"
            document = self.parser.parse(item, data)
            document = replace(document, id=document_id(item.uri), source=item.uri, content_hash=digest)
            if not document.text.strip():
                raise ParseError("no text could be extracted (empty document?)")
            stage = "chunk"
            chunks = self.chunker.chunk(document)
            self._tell(item.uri, "parsed")
        except StoreError:
            raise  # the store failing is not this document's fault: stop the run
        except Exception as error:  # noqa: BLE001 - any failure of one document is reported
            self._fail(item.uri, stage, error)
            return None
        return _Parsed(document, chunks)

    def _is_unchanged(self, item: SourceItem, digest: str) -> bool:
        stored = self.store.stored_hashes(self.collection, [document_id(item.uri)])
        return stored.get(document_id(item.uri)) == digest

    def _flush(self) -> None:
        """Embed every pending chunk together, then write each document's points."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            vectors = self.embedder.embed([(p.document, p.chunks) for p in batch])
        except DocumentError:
            for parsed in batch:  # isolate the document the encoder refused
                self._flush_one(parsed)
            return
        for parsed, document_vectors in zip(batch, vectors, strict=True):
            self._write(parsed, document_vectors)

    def _flush_one(self, parsed: _Parsed) -> None:
        try:
            [vectors] = self.embedder.embed([(parsed.document, parsed.chunks)])
        except DocumentError as error:
            self._fail(parsed.document.source, "embed", error)
            return
        self._write(parsed, vectors)

    def _write(self, parsed: _Parsed, vectors: Sequence[Any]) -> None:
        document = parsed.document
        points = [
            Point(id=chunk.id, vector=vector, payload=chunk_payload(document, chunk, self.fingerprint))
            for chunk, vector in zip(parsed.chunks, vectors, strict=True)
        ]
        self.store.replace_document(self.collection, document.id, points)
        self.report.indexed += 1
        self.report.chunks += len(points)
        self.report.tokens += sum(chunk.token_count for chunk in parsed.chunks)
        self._tell(document.source, "indexed")

    def _fail(self, source: str, stage: str, error: BaseException) -> None:
        logger.warning("%s failed at %s: %s", source, stage, error)
        self.report.fail(source, stage, error)
        self._tell(source, "failed")

    def _tell(self, source: str, status: str) -> None:
        if self.progress is not None:
            done = self.report.indexed + self.report.unchanged + self.report.failed
            self.progress(
                Progress(seen=self.report.seen, done=done, total=self.total, source=source, status=status)
            )
