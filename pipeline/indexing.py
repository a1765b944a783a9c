"""``index_documents``: read, parse, chunk, embed and write every document of a source.

``index_items`` and ``settle_unlisted`` are its two halves, for runs split into batches.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from chunkwise.pipeline.embedding import ChunkEmbedder, ChunkVectors, as_embedder, dense_rows, named_vectors
from chunkwise.pipeline.errors import (
    ConfigurationError,
    DocumentError,
    ParseError,
    PruneRefusedError,
    StoreError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.ids import content_hash, document_id
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.memory import release_free_memory
from chunkwise.pipeline.points import Point, chunk_payload
from chunkwise.pipeline.protocols import (
    Chunker,
    Encoder,
    Parser,
    ScopedSource,
    Source,
    SparseEncoder,
    VectorStore,
)
from chunkwise.pipeline.read_ahead import read_ahead
from chunkwise.pipeline.report import RunReport
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Chunk, Document, SparseVector

logger = logging.getLogger(__name__)

ProgressCallback = Callable[["Progress"], None]
READ_AHEAD_DOCUMENTS = 2  # parsed documents waiting for the embedder: parsing overlaps with embedding


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a run: ``source`` reached ``status`` (parsed, unchanged, failed, indexed, deleted).

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
    sparse: list[SparseVector] | None
    new: bool  # nothing of the document was stored when the run began


@dataclass(frozen=True, slots=True)
class _Renamed:
    """A document stored whole from the same bytes, which its source now names or describes otherwise
    (a new version, other metadata): its payload is refreshed, nothing is embedded."""


RENAMED = _Renamed()


@dataclass(frozen=True, slots=True)
class _Failed:
    """A document that could not be read or parsed, and at which stage."""

    stage: str
    error: Exception


def pipeline_fingerprint(
    encoder: Encoder | ChunkEmbedder, chunker: Chunker, sparse_encoder: SparseEncoder | None = None
) -> Fingerprint:
    """The fingerprint of the vectors ``encoder`` and ``sparse_encoder`` make of ``chunker``'s chunks.

    A quantized model (``spec.quantization``, e.g. int8 weights) makes other vectors than the model
    itself, so it is recorded with the embedding options; the model run by another backend at full
    precision (PyTorch or ONNX Runtime fp32) makes the same vectors and the same fingerprint.
    So are vectors cut short (``dimensions``, Matryoshka) and the query and document prompts,
    which a retriever needs to embed queries as the documents were.
    """
    embedder = as_embedder(encoder)
    spec = embedder.spec
    embedding = {
        "model_quantization": spec.quantization,
        "dimensions": spec.dimension if spec.truncated_from is not None else None,
        "query_prompt": spec.query_prompt,
        "document_prompt": spec.document_prompt,
    }
    recorded = {key: value for key, value in embedding.items() if value is not None}
    return Fingerprint(
        model=spec.model,
        dimension=spec.dimension,
        chunking={**embedder.config, **chunker.config, **recorded},
        sparse=sparse_encoder.config if sparse_encoder is not None else None,
        vectors=named_vectors(embedder),
    )


def index_documents(
    source: Source,
    parser: Parser,
    chunker: Chunker,
    encoder: Encoder | ChunkEmbedder,
    store: VectorStore,
    collection: str,
    *,
    sparse_encoder: SparseEncoder | None = None,
    batch_chunks: int = 512,
    skip_unchanged: bool = True,
    prune: bool = False,
    prune_force: bool = False,
    reindex: bool = False,
    progress: ProgressCallback | None = None,
    read_ahead: int = READ_AHEAD_DOCUMENTS,
) -> RunReport:
    """Index every document ``source`` lists into ``collection`` and report what happened.

    Documents are processed as a stream: at most ``batch_chunks`` chunks (plus one
    document's) are held before they are embedded together and written, while the next
    ``read_ahead`` documents are read and parsed in the background (0: one at a time). A document that
    fails to read, parse, chunk or embed gets an entry in ``report.errors``; the others go on.
    ``encoder`` is an :class:`Encoder` (each chunk embedded alone) or a :class:`ChunkEmbedder`
    such as a late-chunking encoder (chunks pooled from their document's token vectors).
    ``sparse_encoder`` adds term weights to every chunk for keyword and hybrid search.

    A document stored whole from the same bytes by the same pipeline is skipped before it is
    parsed (``unchanged``); any other is rewritten: its new points first, then its old ones
    deleted, so it is never missing and a run killed at any point is completed by the next.
    ``prune`` deletes stored documents the source covers (:class:`ScopedSource`) but no longer
    lists; a prune that looks like a folder gone missing is refused (:func:`check_prune`) after
    the listed documents are indexed, unless ``prune_force``. A collection chunked another way
    is refused unless ``reindex``, which re-stamps it and rebuilds every listed document;
    another model or dimension is always refused.
    A store failure raises :class:`~pipeline.errors.StoreError`; what was written stays.

    Example::

        report = index_documents(FileSystemSource(["docs/"]), UnstructuredParser(),
                                 chunker, encoder, QdrantEdgeStore(".chunkwise/qdrant"), "docs",
                                 sparse_encoder=Bm25Encoder())
    """
    if prune and not isinstance(source, ScopedSource):
        raise ConfigurationError(
            f"{type(source).__name__} cannot tell which stored documents are its own: it cannot prune"
        )
    started = time.perf_counter()
    items = list(source.items())  # first: a source that cannot be listed leaves the store as it was
    fingerprint = pipeline_fingerprint(encoder, chunker, sparse_encoder)
    open_collection(store, collection, fingerprint, reindex=reindex)
    stored = store.stored_documents(collection)
    report = index_items(
        source,
        items,
        parser,
        chunker,
        encoder,
        store,
        collection,
        sparse_encoder=sparse_encoder,
        batch_chunks=batch_chunks,
        skip_unchanged=skip_unchanged,
        reindex=reindex,
        progress=progress,
        stored=stored,
        fingerprint=fingerprint,
        read_ahead=read_ahead,
    )
    listed = {document_id(item.uri) for item in items}
    unlisted = [document for key, document in stored.items() if key not in listed]
    report.deleted, report.outdated = settle_unlisted(
        store,
        collection,
        unlisted,
        fingerprint.digest,
        prune=cast(ScopedSource, source) if prune else None,
        listed=[item.uri for item in items],
        force=prune_force,
        on_delete=(lambda document: progress(_deleted(report, document, len(items)))) if progress else None,
    )
    report.seconds = time.perf_counter() - started
    return report


def index_items(
    source: Source,
    items: Sequence[SourceItem],
    parser: Parser,
    chunker: Chunker,
    encoder: Encoder | ChunkEmbedder,
    store: VectorStore,
    collection: str,
    *,
    sparse_encoder: SparseEncoder | None = None,
    batch_chunks: int = 512,
    skip_unchanged: bool = True,
    reindex: bool = False,
    progress: ProgressCallback | None = None,
    stored: Mapping[str, StoredDocument] | None = None,
    fingerprint: Fingerprint | None = None,
    read_ahead: int = READ_AHEAD_DOCUMENTS,
) -> RunReport:
    """Index just ``items`` of ``source``, as :func:`index_documents` would: one batch of a larger run.

    Stored documents that ``items`` do not name are left alone (neither pruned nor counted as
    outdated): :func:`settle_unlisted` does that once the whole listing is known. ``stored``,
    the collection's manifest when the caller has read it, saves reading the items' entries;
    ``fingerprint``, the pipeline's when the caller has opened the collection with it
    (:func:`open_collection`), saves computing it and opening the collection again.

    Example::

        source = FileSystemSource(["docs/"])
        items = list(source.items())
        for start in range(0, len(items), 50):
            report = index_items(source, items[start:start + 50], parser, chunker, encoder, store, "docs")
    """
    started = time.perf_counter()
    run = _Run(
        parser,
        chunker,
        encoder,
        store,
        collection,
        sparse_encoder=sparse_encoder,
        batch_chunks=batch_chunks,
        skip_unchanged=skip_unchanged and not reindex,
        reindex=reindex,
        progress=progress,
        fingerprint=fingerprint,
        read_ahead=read_ahead,
    )
    if fingerprint is None:
        run.open_collection()
    if stored is None:
        stored = store.stored_documents(collection, document_ids=[document_id(item.uri) for item in items])
    run.index(source, items, stored)
    run.report.seconds = time.perf_counter() - started
    return run.report


def _kept(item: SourceItem, stored: StoredDocument) -> _Renamed | None:
    """An unchanged document: ``None`` when its points already name it as the source does now."""
    return None if stored.is_described_by(item.version or "", item.metadata) else RENAMED


def _deleted(report: RunReport, document: StoredDocument, total: int) -> Progress:
    done = report.indexed + report.unchanged + report.failed
    return Progress(seen=report.seen, done=done, total=total, source=document.source, status="deleted")


def open_collection(
    store: VectorStore, collection: str, fingerprint: Fingerprint, *, reindex: bool = False
) -> None:
    """Create the collection, or check it was built by the pipeline of ``fingerprint``.

    With ``reindex``, a collection chunked another way (same model and dimension) is re-stamped
    with ``fingerprint``, so that its documents are rebuilt; otherwise it is refused with
    :class:`~pipeline.errors.FingerprintMismatchError`. A reindex to another vector size (the same
    model's, cut to other ``dimensions``), between BM25 and learned sparse weights, or to other named
    vectors (:attr:`Fingerprint.layout`, fixed at creation) drops the collection and creates it
    again: documents the run does not list are gone then.

    Example::

        open_collection(store, "docs", pipeline_fingerprint(encoder, chunker), reindex=True)
    """
    if reindex:
        stored = store.fingerprint(collection)
        if stored is not None and stored.digest != fingerprint.digest:
            fingerprint.check_compatible(stored, allow_chunking_change=True)
            if stored.layout != fingerprint.layout:
                # vector sizes, BM25 <-> learned sparse (the IDF modifier), named vectors: fixed at creation
                logger.warning("rebuilding %s for %s", collection, fingerprint.to_dict())
                store.drop_collection(collection)
            else:
                store.set_fingerprint(collection, fingerprint)
                logger.info("reindexing %s with %s", collection, fingerprint.chunking)
    store.ensure_collection(collection, fingerprint)


def settle_unlisted(
    store: VectorStore,
    collection: str,
    unlisted: Iterable[StoredDocument],
    fingerprint_digest: str,
    *,
    prune: ScopedSource | None = None,
    listed: Collection[str] | None = None,
    force: bool = False,
    on_delete: Callable[[StoredDocument], None] | None = None,
) -> tuple[int, int]:
    """Deal with stored documents a run's sources did not list: ``(deleted, outdated)``.

    With ``prune``, those the source covers are deleted, unless, for one of its paths, that looks
    like a folder gone missing rather than files removed (:func:`check_prune`, given the URIs the
    source ``listed``; ``force`` deletes anyway). Of the rest, those not stored whole by the
    pipeline of ``fingerprint_digest`` are counted as outdated.

    Example::

        deleted, outdated = settle_unlisted(
            store, "docs", unlisted, fingerprint.digest, prune=source, listed=[item.uri for item in items]
        )
    """
    root_of = _roots(prune) if prune is not None else None
    doomed: dict[str, list[StoredDocument]] = {}
    kept: list[StoredDocument] = []
    for document in unlisted:
        root = root_of(document.source) if root_of is not None else None
        if root is None:
            kept.append(document)
        else:
            doomed.setdefault(root, []).append(document)
    if root_of is not None and doomed:
        if listed is None:
            raise ConfigurationError("a prune needs the URIs the source listed (listed=)")
        listed_under = Counter(root_of(uri) for uri in listed)
        for root, documents in doomed.items():
            check_prune(len(documents), listed_under[root], force=force, paths=root)
    for document in (document for documents in doomed.values() for document in documents):
        store.delete_document(collection, document.document_id)
        if on_delete is not None:
            on_delete(document)
    outdated = [document for document in kept if not document.is_whole_from(fingerprint_digest)]
    return sum(map(len, doomed.values())), len(outdated)


def _roots(source: ScopedSource) -> Callable[[str], str | None]:
    """The given path a URI falls under, by the source's ``root_of``, or all paths as one."""
    root_of = getattr(source, "root_of", None)
    if callable(root_of):
        return cast(Callable[[str], "str | None"], root_of)
    return lambda uri: "the given paths" if source.covers(uri) else None


PRUNE_MAX_SHARE = 0.5  # a prune may delete at most this share of its paths' documents...
PRUNE_SMALL = 10  # ...unless it deletes fewer than this many


def check_prune(doomed: int, listed: int, *, force: bool = False, paths: str = "the given paths") -> None:
    """Refuse a prune of ``doomed`` documents under ``paths`` when they list none now (an unmounted
    or emptied folder looks like that), or when it would delete more than half of what they held
    (and at least :data:`PRUNE_SMALL` documents). ``force`` allows it.

    Example::

        check_prune(doomed=120, listed=0, paths="/mnt/manuals")  # raises PruneRefusedError
    """
    if force or doomed == 0:
        return
    how = "nothing was deleted; delete them anyway with --prune-force (prune_force=True)"
    if listed == 0:
        raise PruneRefusedError(
            f"prune would delete all {doomed} stored documents under {paths}, which list none "
            f"now (an unmounted or emptied folder?): {how}"
        )
    if doomed >= PRUNE_SMALL and doomed > PRUNE_MAX_SHARE * (doomed + listed):
        raise PruneRefusedError(
            f"prune would delete {doomed} of the {doomed + listed} documents under {paths}, "
            f"more than {PRUNE_MAX_SHARE:.0%}: {how}"
        )


class _Run:
    """Indexes documents into one collection, keeping the report."""

    def __init__(
        self,
        parser: Parser,
        chunker: Chunker,
        encoder: Encoder | ChunkEmbedder,
        store: VectorStore,
        collection: str,
        *,
        sparse_encoder: SparseEncoder | None,
        batch_chunks: int,
        skip_unchanged: bool,
        reindex: bool,
        progress: ProgressCallback | None,
        fingerprint: Fingerprint | None = None,
        read_ahead: int = READ_AHEAD_DOCUMENTS,
    ) -> None:
        self.parser, self.chunker, self.store = parser, chunker, store
        self.read_ahead = read_ahead
        self.embedder = as_embedder(encoder)
        self.sparse_encoder = sparse_encoder
        self.collection = collection
        self.batch_chunks = max(1, batch_chunks)
        self.skip_unchanged, self.reindex = skip_unchanged, reindex
        self.progress = progress
        self.report = RunReport()
        self.pending: list[_Parsed] = []
        self.total = 0
        self.fingerprint = fingerprint or pipeline_fingerprint(
            self.embedder, self.chunker, self.sparse_encoder
        )

    def open_collection(self) -> Fingerprint:
        open_collection(self.store, self.collection, self.fingerprint, reindex=self.reindex)
        return self.fingerprint

    def index(
        self, source: Source, items: Sequence[SourceItem], stored: Mapping[str, StoredDocument]
    ) -> None:
        """Read, parse, chunk, embed and write each of ``items``.

        The next documents are read and parsed in a background thread (:func:`read_ahead`) while
        this one chunks, embeds and writes, so parsing overlaps with embedding.
        """
        self.total = len(items)
        self.tell("", "started")

        def load(item: SourceItem) -> Document | _Failed | _Renamed | None:
            return self._load(source, item, stored.get(document_id(item.uri)))

        for item, loaded in read_ahead(load, items, depth=self.read_ahead):
            self.report.seen += 1
            if isinstance(loaded, Exception):
                raise loaded  # a store error: not this document's fault, stop the run
            parsed = self._prepare(item, loaded, new=document_id(item.uri) not in stored)
            if parsed is not None:
                self.pending.append(parsed)
                if sum(len(p.chunks) for p in self.pending) >= self.batch_chunks:
                    self._flush()
        self._flush()

    def _load(
        self, source: Source, item: SourceItem, stored: StoredDocument | None
    ) -> Document | _Failed | _Renamed | None:
        """Read and parse one document (in the read-ahead thread: no report, no progress here).

        ``None`` when it is unchanged, :data:`RENAMED` when its bytes are unchanged but the source's
        version or metadata are not, :class:`_Failed` when reading or parsing failed.
        """
        digest = self.fingerprint.digest
        if self.skip_unchanged and stored and item.version and stored.has_version(item.version, digest):
            return _kept(item, stored)  # the same bytes, by the source's word: not read again
        stage = "read"
        try:
            data = source.read(item)
            digest = content_hash(data, self.parser.settings)
            if self.skip_unchanged and stored and stored.is_current(digest, self.fingerprint.digest):
                return _kept(item, stored)
            stage = "parse"
            document = self.parser.parse(item, data)
            del data
            document = replace(
                document,
                id=document_id(item.uri),
                source=item.uri,
                content_hash=digest,
                source_version=item.version or "",
                metadata={**document.metadata, **item.metadata},
            )
            if not document.text.strip():
                raise ParseError("no text could be extracted (empty document?)")
        except StoreError:
            raise  # the store failing is not this document's fault: stop the run
        except Exception as error:  # noqa: BLE001 - any failure of one document is reported
            return _Failed(stage, error)
        return document

    def _prepare(
        self, item: SourceItem, loaded: Document | _Failed | _Renamed | None, *, new: bool
    ) -> _Parsed | None:
        """Chunk one loaded document; ``None`` when it failed or is unchanged."""
        if isinstance(loaded, _Renamed):
            self.store.refresh_document(
                self.collection, document_id(item.uri), item.version or "", item.metadata
            )
        if loaded is None or isinstance(loaded, _Renamed):
            self._unchanged(item)
            return None
        if isinstance(loaded, _Failed):
            self._fail(item.uri, loaded.stage, loaded.error)
            return None
        stage = "chunk"
        try:
            chunks = self.chunker.chunk(loaded)
            stage = "sparse"
            texts = [chunk.text for chunk in chunks]
            sparse = self.sparse_encoder.encode_documents(texts) if self.sparse_encoder else None
            self.tell(item.uri, "parsed")
        except StoreError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of one document is reported
            self._fail(item.uri, stage, error)
            return None
        return _Parsed(loaded, chunks, sparse, new=new)

    def _unchanged(self, item: SourceItem) -> None:
        self.report.unchanged += 1
        self.tell(item.uri, "unchanged")

    def _flush(self) -> None:
        """Embed every pending chunk together, then write each document's points."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        self._embed_and_write(batch)
        del batch
        release_free_memory()  # the batch's tensors are freed: keep the run's memory bounded by its batch

    def _embed_and_write(self, batch: list[_Parsed]) -> None:
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

    def _write(self, parsed: _Parsed, vectors: np.ndarray | ChunkVectors) -> None:
        document, count = parsed.document, len(parsed.chunks)
        sparse: Sequence[SparseVector | None] = parsed.sparse or [None] * count
        named = vectors.named_of if isinstance(vectors, ChunkVectors) else lambda index: {}
        points = [
            Point(
                id=chunk.id,
                vector=vector,
                payload=chunk_payload(document, chunk, self.fingerprint, count),
                sparse=terms,
                named=named(index),
            )
            for index, (chunk, vector, terms) in enumerate(
                zip(parsed.chunks, dense_rows(vectors), sparse, strict=True)
            )
        ]
        self.store.replace_document(self.collection, document.id, points, known_new=parsed.new)
        self.report.indexed += 1
        self.report.chunks += len(points)
        self.report.tokens += sum(chunk.token_count for chunk in parsed.chunks)
        self.tell(document.source, "indexed")

    def _fail(self, source: str, stage: str, error: BaseException) -> None:
        logger.info("%s failed at %s: %s", source, stage, error)
        self.report.fail(source, stage, error)
        self.tell(source, "failed")

    def tell(self, source: str, status: str) -> None:
        if self.progress is not None:
            done = self.report.indexed + self.report.unchanged + self.report.failed
            self.progress(
                Progress(seen=self.report.seen, done=done, total=self.total, source=source, status=status)
            )
