"""The langchain-core retriever over a chunkwise collection: dense, sparse or hybrid, with context.

The retriever reads the collection's fingerprint and builds the encoders that made its vectors,
so a query is always embedded by the documents' own model.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from chunkwise.connectors.filters import resolve_filters
from chunkwise.connectors.learned_sparse_encoder import sparse_encoder_from_config
from chunkwise.connectors.model_defaults import defaults_for
from chunkwise.connectors.model_traits import encoder_options
from chunkwise.connectors.multivector_encoder import MULTIVECTOR_NAME, MultivectorEncoder, shared_multivector
from chunkwise.connectors.qdrant_common import OVERSAMPLING_OF_AN_OPEN_STORE
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.connectors.stores import Store, open_existing_store
from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError, StoreError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.mmr import mmr_order
from chunkwise.pipeline.passages import (
    SECTION,
    Expansion,
    Passage,
    StoredChunk,
    check_expansion,
    merge_overlapping,
    neighbour_indices,
    read_section,
    section_run,
)
from chunkwise.pipeline.protocols import Encoder, SparseEncoder
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector

MODES: tuple[str, ...] = ("dense", "sparse", "hybrid", "multivector")
OVERRIDABLE = ("k", "mode", "fusion", "filter", "score_threshold", "expand", "mmr")


@dataclass(frozen=True, slots=True)
class QueryVectors:
    """A query embedded once: its dense vector, its BM25 terms and its token vectors (each only if the
    search needs it)."""

    dense: np.ndarray | None
    sparse: SparseVector | None
    multivector: np.ndarray | None = None


class ChunkwiseRetriever(BaseRetriever):
    """Passages of a chunkwise collection for a query, as langchain ``Document`` objects.

    ``store`` is an open store or a location (folder, URL, ``local:FOLDER``); ``mode`` is
    ``dense``, ``sparse`` (the collection's term weights: BM25, or its learned sparse model's, which
    ``sparse_model`` may load from another folder), ``hybrid`` (both) or ``multivector`` (MaxSim over
    the collection's token vectors, whose model ``multivector_model`` may load from another folder),
    by default hybrid when the collection has term weights; in a collection with token vectors,
    hybrid's dense and sparse candidates are rescored by MaxSim (dense and sparse stay as they
    are). ``fusion`` is how hybrid joins the two rankings: ``"rrf"`` (reciprocal
    rank), ``"rrf:W"`` (BM25 weighted W) or ``"dbsf"`` (by score distribution), by default the
    one measured best for the collection's model. ``filter`` maps payload keys to a value or a list
    of values (``source`` also takes globs such as ``"*/faq/*.html"``; ``metadata.KEY`` reaches the
    document's metadata). ``expand=N`` widens each hit to its N neighbouring chunks on each side,
    ``expand="section"`` to its whole section; passages that overlap are merged. ``mmr=True``
    reorders ``fetch_k`` candidates by maximal marginal relevance. Queries are embedded as the
    collection's documents were: cut to its Matryoshka dimensions, under its query prompt
    (``query_prompt`` puts another one), on ``device`` at ``precision``, as are their token vectors
    by the multivector model (see :mod:`connectors.devices`). ``multivector_encoder``, an encoder
    already loaded, and ``multivector_model``, where to load one from, are refused together.
    ``oversampling``: on a quantized collection, candidates per hit rescored on the original
    vectors, for a store the retriever opens from its location (an open store keeps its own).
    Every option but the store, collection and oversampling can also be
    given per call: ``retriever.invoke(query, k=2, filter={...})``.

    Example::

        retriever = ChunkwiseRetriever(store=".chunkwise/qdrant", collection="docs", k=4, expand=1)
        for document in retriever.invoke("How do I pin a package version?"):
            print(document.metadata["source"], document.metadata["score"])
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    collection: str
    k: int = Field(default=4, ge=1)
    mode: str | None = None  # checked against MODES with the collection, for a clear error
    fusion: str | None = None  # "rrf", "rrf:WEIGHT" or "dbsf"; default: the model's measured one
    filter: dict[str, Any] | None = None
    score_threshold: float | None = None
    expand: Expansion = 0
    mmr: bool = False
    fetch_k: int = Field(default=20, ge=1)
    diversity: float = Field(default=0.5, ge=0.0, le=1.0)
    encoder: Any = None
    sparse_encoder: Any = None
    sparse_model: str | None = None  # where to load the collection's learned sparse model from
    multivector_encoder: Any = None
    multivector_model: str | None = None  # where to load the collection's multivector model from
    trust_remote_code: bool = False
    dimensions: int | None = None  # checked against the collection's: its vectors' size is fixed
    query_prompt: str | None = None  # None: the one the collection recorded (else the model's)
    device: str = "auto"  # where queries are embedded: auto, cpu, cuda, cuda:N, mps
    precision: str = "auto"  # auto (fp16 on CUDA), fp32, fp16
    oversampling: float | None = Field(default=None, ge=1)  # None: the store's default

    _fingerprint: Fingerprint = PrivateAttr()
    _owns_store: bool = PrivateAttr(default=False)

    @field_validator("expand")
    @classmethod
    def _valid_expansion(cls, expand: Expansion) -> Expansion:
        return check_expansion(expand)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._match_collection()  # outside validation, so its errors reach the caller as they are

    def _match_collection(self) -> None:
        if isinstance(self.store, str):
            opening = {} if self.oversampling is None else {"oversampling": self.oversampling}
            self.store, self._owns_store = open_existing_store(self.store, **opening), True
        elif self.oversampling is not None:
            raise ConfigurationError(OVERSAMPLING_OF_AN_OPEN_STORE)
        fingerprint = self.store.fingerprint(self.collection)
        if fingerprint is None:
            raise StoreError(
                f"collection {self.collection!r} does not exist in {self.store.location} "
                "(or was not built by chunkwise); run `chunkwise ingest` first"
            )
        self._fingerprint = fingerprint
        options = _query_encoder_options(fingerprint, self.dimensions, self.query_prompt)
        if options.get("backend", "torch") == "torch":  # the onnx backends run on the CPU
            options.update(device=self.device, precision=self.precision)
        self.encoder = _matching_encoder(self.encoder, fingerprint, self.trust_remote_code, options)
        self.sparse_encoder = _matching_sparse_encoder(
            self.sparse_encoder, fingerprint, self.sparse_model, self.device, self.precision
        )
        self.multivector_encoder = _matching_multivector(
            self.multivector_encoder, fingerprint, self.multivector_model, self.device, self.precision
        )
        if self.mode is None:
            self.mode = "hybrid" if self.sparse_encoder is not None else "dense"
        _check_mode(self.mode, self.sparse_encoder, self.collection, self.multivector_encoder)
        if self.fusion is None:
            self.fusion = str(defaults_for(fingerprint.model).fusion)
        Fusion.parse(self.fusion)  # a bad fusion is refused when the retriever is made

    @property
    def fingerprint(self) -> Fingerprint:
        """The fingerprint of the collection the retriever reads."""
        return self._fingerprint

    def close(self) -> None:
        """Close the store if the retriever opened it from a location."""
        if self._owns_store:
            self.store.close()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **overrides: Any
    ) -> list[Document]:
        options = self._options(overrides)
        if not query.strip():
            raise ConfigurationError("the query is empty: ask a question or give search terms")
        return [_document(passage, options["mode"]) for passage in self._passages(query, options)]

    def _options(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise TypeError(f"unknown retriever options: {', '.join(sorted(unknown))}; use {OVERRIDABLE}")
        options = {name: overrides.get(name, getattr(self, name)) for name in OVERRIDABLE}
        if not isinstance(options["k"], int) or options["k"] < 1:
            raise ConfigurationError(f"k ({options['k']!r}) must be a whole number >= 1")
        check_expansion(options["expand"])
        _check_mode(options["mode"], self.sparse_encoder, self.collection, self.multivector_encoder)
        options["fusion"] = Fusion.parse(options["fusion"])
        return options

    def _passages(self, query: str, options: dict[str, Any]) -> list[Passage]:
        filters = resolve_filters(self.store, self.collection, options["filter"])
        if filters is None:
            return []
        mode, mmr = options["mode"], options["mmr"]
        tokens = self.multivector_encoder is not None and mode in ("hybrid", "multivector")
        query_vectors = QueryVectors(
            dense=self.encoder.encode_query(query) if mode in ("dense", "hybrid") or mmr else None,
            sparse=self.sparse_encoder.encode_query(query) if mode in ("sparse", "hybrid") else None,
            multivector=self.multivector_encoder.encode_query(query) if tokens else None,
        )
        k, fetch = options["k"], options["k"]
        # a deeper search repeats the hits before it (a hybrid one with new scores): read their chunks once
        chunks: dict[str, tuple[StoredChunk, ...]] = {}
        while True:
            hits = self._search(query_vectors, options, filters, fetch)
            for hit in hits:
                if hit.id not in chunks:
                    chunks[hit.id] = self._expand(hit, options["expand"]).chunks
            passages = merge_overlapping([Passage(hit=hit, chunks=chunks[hit.id]) for hit in hits])
            if len(passages) >= k or len(hits) < fetch or fetch >= 8 * k:
                return passages[:k]
            fetch *= 2  # expanded hits merged into each other: fetch more to fill k passages

    def _search(
        self, query: QueryVectors, options: dict[str, Any], filters: dict[str, Any], k: int
    ) -> list[SearchHit]:
        mmr = options["mmr"]
        hits = self.store.search(
            self.collection,
            query.dense if options["mode"] in ("dense", "hybrid") else None,
            max(k, self.fetch_k) if mmr else k,
            filters,
            sparse=query.sparse,
            score_threshold=options["score_threshold"],
            with_vectors=mmr,
            fusion=options["fusion"],
            using=self._fingerprint.dense_names,
            **({"multivector": query.multivector} if query.multivector is not None else {}),
        )
        if not mmr or not hits or query.dense is None:  # mmr always embeds the query
            return hits
        order = mmr_order(query.dense, np.stack([hit.vector for hit in hits]), k, self.diversity)
        return [hits[index] for index in order]

    def _expand(self, hit: SearchHit, expand: Expansion) -> Passage:
        alone = Passage(hit=hit, chunks=(StoredChunk(hit.id, hit.payload),))
        if expand == 0:
            return alone
        version = {"document_id": hit.payload["document_id"], "content_hash": hit.payload["content_hash"]}
        index = int(hit.payload["chunk_index"])
        if expand == SECTION:  # a long document is read by windows around the hit, not whole
            chunks = read_section(
                lambda indices: self._chunks(
                    version if indices is None else {**version, "chunk_index": indices}
                ),
                index,
                hit.payload.get("chunk_count"),
            )
        else:
            chunks = self._chunks({**version, "chunk_index": neighbour_indices(index, int(expand))})
        if not any(chunk.id == hit.id for chunk in chunks):
            return alone  # the document was replaced since the search: its old neighbours are gone
        if expand == SECTION:
            chunks = section_run(chunks, index)
        return Passage(hit=hit, chunks=tuple(sorted(chunks, key=lambda chunk: chunk.index)))

    def _chunks(self, filters: dict[str, Any]) -> list[StoredChunk]:
        points = self.store.points(self.collection, with_vectors=False, filters=filters)
        return [StoredChunk(point.id, point.payload) for point in points]


def open_retriever(store: Store | str, collection: str, **options: Any) -> ChunkwiseRetriever:
    """A retriever over ``collection`` of ``store`` (an open store or its location).

    ``options`` are :class:`ChunkwiseRetriever`'s: ``k``, ``mode``, ``fusion``, ``filter``,
    ``score_threshold``, ``expand``, ``mmr``, ``fetch_k``, ``diversity``, ``encoder``,
    ``sparse_encoder``, ``sparse_model``, ``multivector_encoder``, ``multivector_model``,
    ``trust_remote_code``, ``dimensions``, ``query_prompt``,
    ``device`` and ``precision`` (where queries are embedded; see :mod:`connectors.devices`).

    Example::

        retriever = open_retriever(".chunkwise/qdrant", "docs", mode="hybrid", expand=1)
        documents = retriever.invoke("What is late chunking?")
    """
    return ChunkwiseRetriever(store=store, collection=collection, **options)


def shared_encoder(
    model: str,
    trust_remote_code: bool = False,
    *,
    dimensions: int | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    backend: str = "torch",
    device: str = "auto",
    precision: str = "auto",
) -> SentenceTransformerEncoder:
    """One loaded encoder per model and options for the whole process (retrievers of one model
    share it, and threads asking at once get the same one: the model is loaded once)."""
    with _SHARED_ENCODERS_LOCK:
        return _shared_encoder(
            model, trust_remote_code, dimensions, query_prompt, document_prompt, backend, device, precision
        )


_SHARED_ENCODERS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _shared_encoder(
    model: str,
    trust_remote_code: bool,
    dimensions: int | None,
    query_prompt: str | None,
    document_prompt: str | None,
    backend: str,
    device: str,
    precision: str,
) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(
        model,
        trust_remote_code=trust_remote_code,
        dimensions=dimensions,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        backend=backend,
        device=device,
        precision=precision,
    )


def _query_encoder_options(
    fingerprint: Fingerprint, dimensions: int | None, query_prompt: str | None
) -> dict[str, Any]:
    """The encoder options the collection recorded (Matryoshka dimensions, prompts), with the
    query prompt given instead; ``dimensions`` given must be the collection's."""
    if dimensions is not None and dimensions != fingerprint.dimension:
        raise FingerprintMismatchError(
            f"the collection holds {fingerprint.dimension}-d vectors, not {dimensions}-d: leave "
            "dimensions out, the retriever reads the collection's"
        )
    options = encoder_options(fingerprint.chunking)
    return options if query_prompt is None else {**options, "query_prompt": query_prompt}


def _matching_encoder(
    encoder: Encoder | None, fingerprint: Fingerprint, trust_remote_code: bool, options: dict[str, Any]
) -> Encoder:
    if encoder is None:
        return shared_encoder(fingerprint.model, trust_remote_code, **options)
    spec = encoder.spec
    if (spec.model, spec.dimension) != (fingerprint.model, fingerprint.dimension):
        raise FingerprintMismatchError(
            f"the collection holds vectors of {fingerprint.model} ({fingerprint.dimension}-d); "
            f"the encoder given makes {spec.model} ({spec.dimension}-d). Leave the encoder out: "
            "the retriever builds the collection's own."
        )
    return encoder


def _matching_sparse_encoder(
    encoder: SparseEncoder | None,
    fingerprint: Fingerprint,
    path: str | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> SparseEncoder | None:
    if encoder is None:
        if fingerprint.sparse is None:
            return None
        return sparse_encoder_from_config(fingerprint.sparse, path, device, precision)
    if fingerprint.sparse is None or dict(encoder.config) != dict(fingerprint.sparse):
        raise FingerprintMismatchError(
            f"the collection's term weights were made with {fingerprint.sparse}; the sparse encoder "
            f"given makes {encoder.config}. Leave it out: the retriever builds the collection's own."
        )
    return encoder


def _matching_multivector(
    encoder: MultivectorEncoder | None,
    fingerprint: Fingerprint,
    path: str | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> MultivectorEncoder | None:
    """The encoder of the collection's token vectors (``None`` if it has none), loaded from ``path``
    if given, on ``device`` at ``precision``; one given must be of the collection's model, and is
    refused beside ``path`` (it was loaded from its own folder)."""
    if encoder is not None and path is not None:
        raise ConfigurationError(
            "give either multivector_encoder or multivector_model (where to load the model from), not both"
        )
    config = fingerprint.vectors.get(MULTIVECTOR_NAME)
    if config is None:
        if path is not None or encoder is not None:
            raise FingerprintMismatchError(
                "the collection has no token vectors: leave the multivector model out, or re-ingest "
                "it with one (`chunkwise ingest --multivector-model NAME --reindex`)"
            )
        return None
    if encoder is None:
        return shared_multivector(str(config["model"]), path, device, precision)
    if encoder.model_name != config["model"]:
        raise FingerprintMismatchError(
            f"the collection's token vectors were made by {config['model']}; the multivector encoder "
            f"given is {encoder.model_name}. Leave it out: the retriever builds the collection's own."
        )
    return encoder


def _check_mode(
    mode: Any, sparse_encoder: SparseEncoder | None, collection: str, multivector: Any = None
) -> None:
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "multivector":
        if multivector is None:
            raise ConfigurationError(
                f"multivector search needs token vectors, and collection {collection!r} has none: "
                "re-ingest it with them (`chunkwise ingest --multivector-model NAME --reindex`)"
            )
        return
    if mode != "dense" and sparse_encoder is None:
        raise ConfigurationError(
            f"{mode} search needs term weights, and collection {collection!r} has none: "
            "use mode='dense', or re-ingest it with sparse vectors (`chunkwise ingest --sparse --reindex`)"
        )


def _document(passage: Passage, mode: str) -> Document:
    hit, payload = passage.hit, passage.hit.payload
    pages = sorted({page for chunk in passage.chunks for page in chunk.payload.get("pages") or []})
    metadata = {
        **dict(payload.get("metadata") or {}),
        "source": payload.get("source"),
        "document_id": payload.get("document_id"),
        "start": passage.start,
        "end": passage.end,
        "chunk_index": payload.get("chunk_index"),
        "page": pages[0] if pages else None,
        "pages": pages,
        "title": payload.get("section"),
        "score": hit.score,
        "mode": mode,
        "chunk_ids": passage.chunk_ids,
    }
    return Document(id=hit.id, page_content=passage.text, metadata=metadata)
