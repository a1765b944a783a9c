"""One Qdrant store over two drivers: the collection logic once, the engine calls behind a small interface.

:class:`QdrantStore` holds what a collection means to chunkwise: fingerprints, replacing a
document's points, the manifest, search, rank fusion, grouping by document and the cached value
lists of source globs. It reaches the engine only through the driver methods of
:class:`QdrantDriver`, which a driver class supplies: :class:`~connectors.qdrant_edge_store.EdgeDriver`
(Qdrant Edge in this process) and :class:`~connectors.qdrant_server_store.ClientDriver`
(qdrant-client: a server URL or local mode). A store is a driver bound to the logic by subclassing::

    class QdrantEdgeStore(EdgeDriver, QdrantStore): ...

The public store contract (what the pipeline and retriever call) is in :mod:`pipeline.protocols`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from chunkwise.connectors.qdrant_common import (
    DENSE,
    MULTIVECTOR_NAME,
    best_chunk_per_document,
    best_hits,
    check_indexed_field,
    check_stored_fingerprint,
    field_condition,
    fused_limit,
    payload_filter,
    point_from_record,
    prefetch_limit,
    read_manifest,
    rescore_limit,
    search_hit,
)
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector


@dataclass(frozen=True)
class SearchPlan:
    """One search as the engine runs it: a dense query (against each dense vector named in ``using``)
    and/or a sparse query, several rankings fused; the engine's ``limit``, each ranking's
    ``prefetch`` depth when fused, and what comes back. With ``multivector`` (a query's token
    vectors), the named multivector of that name is scored by MaxSim: over the whole collection
    alone, else over the dense and sparse rankings' candidates (``prefetch`` each), rescored."""

    dense: list[float] | None
    sparse: SparseVector | None
    limit: int
    prefetch: int
    filter: Any = None
    fusion: Fusion | None = None
    score_threshold: float | None = None
    with_vectors: bool = False
    exact: bool = False
    using: tuple[str, ...] = (DENSE,)
    multivector: list[list[float]] | None = None
    multivector_name: str = MULTIVECTOR_NAME  # the named vector MaxSim scores

    @property
    def dense_names(self) -> tuple[str, ...]:
        """The dense vectors the dense query searches (none without a dense query)."""
        return self.using if self.dense is not None else ()

    @property
    def fused(self) -> bool:
        return len(self.dense_names) + (self.sparse is not None) > 1


class QdrantDriver(Protocol):
    """What :class:`QdrantStore` asks of an engine. Every method works on one named collection.

    Collections: ``collections``, ``collection_exists``, ``_create`` (vectors, payload
    indexes, then the fingerprint last), ``_finish_creation`` (complete a creation that stopped
    before its fingerprint; ``False`` if there is none to finish), ``_read_fingerprint``,
    ``_write_fingerprint``, ``_drop``. Points: ``_write`` (upsert in batches), ``_delete``
    (delete by filter), ``_has_id`` (a filter condition on point ids), ``_scroll``, ``_query``,
    ``_query_groups`` (best hit per document, or ``None`` where the engine cannot group as
    ``search`` ranks), ``_count``, ``_facet``. ``_check_readable`` refuses a damaged collection
    before it is read; ``_values_cache`` is where field value lists may be kept between writes
    (``None``: not kept, as when other processes write). ``_models`` is the module of the
    engine's filter classes.
    """

    location: str

    @property
    def _models(self) -> ModuleType: ...

    @property
    def _values_cache(self) -> dict[tuple[str, str], list[Any]] | None: ...

    def collections(self) -> list[str]: ...

    def collection_exists(self, collection: str) -> bool: ...

    def close(self) -> None: ...

    def _create(self, collection: str, fingerprint: Fingerprint) -> None: ...

    def _finish_creation(self, collection: str, fingerprint: Fingerprint) -> bool: ...

    def _read_fingerprint(self, collection: str) -> Fingerprint | None: ...

    def _write_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None: ...

    def _drop(self, collection: str) -> None: ...

    def _write(self, collection: str, points: Sequence[Point]) -> None: ...

    def _delete(self, collection: str, selector: Any) -> None: ...

    def _set_payload(
        self, collection: str, selector: Any, payload: Mapping[str, Any], key: str | None
    ) -> None: ...

    def _has_id(self, ids: Sequence[str]) -> Any: ...

    def _scroll(
        self, collection: str, with_payload: Any, *, with_vectors: bool = False, query_filter: Any = None
    ) -> Iterator[Any]: ...

    def _query(self, collection: str, plan: SearchPlan) -> list[Any]: ...

    def _query_groups(self, collection: str, plan: SearchPlan, group_by: str) -> list[Any] | None: ...

    def _count(self, collection: str, query_filter: Any) -> int: ...

    def _facet(self, collection: str, key: str, *, exact: bool) -> list[Any]: ...

    def _check_readable(self, collection: str) -> None: ...


class QdrantStore:
    """The collection logic of chunkwise's Qdrant stores, over the driver methods its subclass mixes in.

    Not used alone: open :class:`~connectors.qdrant_edge_store.QdrantEdgeStore` or
    :class:`~connectors.qdrant_server_store.QdrantServerStore` (or ``open_store``), whose
    docstrings say what each engine adds (locking, disk checks, retries).

    Example::

        with open_store(".chunkwise/qdrant") as store:       # a QdrantStore over Qdrant Edge
            store.ensure_collection("docs", fingerprint)
            store.replace_document("docs", document_id, points)
            hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """

    # -- collections -----------------------------------------------------------------------

    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        """Create ``collection`` for ``fingerprint``'s vectors, or check that the existing one fits them."""
        driver = self._driver
        if not driver.collection_exists(collection):
            driver._create(collection, fingerprint)
            return
        stored = driver._read_fingerprint(collection)
        if stored is None and driver._finish_creation(collection, fingerprint):
            return
        check_stored_fingerprint(collection, fingerprint, stored)

    def fingerprint(self, collection: str) -> Fingerprint | None:
        """The fingerprint ``collection`` was stamped with (``None``: no such collection, or not
        chunkwise's)."""
        return self._driver._read_fingerprint(collection)

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        """Stamp the collection with a new fingerprint (a rebuild with other chunking options)."""
        self._driver._write_fingerprint(collection, fingerprint)

    def drop_collection(self, collection: str) -> None:
        """Delete a collection and everything in it (nothing happens if it does not exist)."""
        driver = self._driver
        driver._drop(collection)
        self._forget_values(collection)

    # -- writing ---------------------------------------------------------------------------

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        """Write the document's new points, then delete its points that are not among them.

        ``known_new``: the caller knows the document has no points stored yet, so there is
        nothing stale to look for (a filtered delete costs a scan of the collection in local mode).
        """
        driver = self._driver
        self.write_points(collection, points)
        if known_new:
            return
        models = driver._models
        stale = models.Filter(
            must=[field_condition(models, "document_id", document_id)],
            must_not=[driver._has_id([p.id for p in points])] if points else None,
        )
        driver._delete(collection, stale)
        self._forget_values(collection)

    def refresh_document(
        self, collection: str, document_id: str, source_version: str, metadata: Mapping[str, Any]
    ) -> None:
        """Set ``source_version`` on the document's points and merge ``metadata`` into their
        ``metadata``, vectors untouched (the source renamed the same bytes)."""
        driver = self._driver
        selector = driver._models.Filter(must=[field_condition(driver._models, "document_id", document_id)])
        driver._set_payload(collection, selector, {"source_version": source_version}, None)
        if metadata:
            driver._set_payload(collection, selector, dict(metadata), "metadata")

    def delete_document(self, collection: str, document_id: str) -> None:
        """Delete every point of ``document_id`` (nothing happens if it has none)."""
        self.replace_document(collection, document_id, [])

    def write_points(self, collection: str, points: Sequence[Point]) -> None:
        """Upsert points as they are (copying a collection); indexing goes through ``replace_document``."""
        self._driver._write(collection, points)
        self._forget_values(collection)

    # -- reading ---------------------------------------------------------------------------

    def stored_documents(
        self, collection: str, *, document_ids: Collection[str] | None = None
    ) -> dict[str, StoredDocument]:
        """Every document in the collection (or of ``document_ids``) with its points counted per version.

        Reading the whole manifest (what an ingest does first) checks first that the collection can
        be read whole (Qdrant Edge reads back a sample of vectors): a damaged collection is refused,
        not taken as unchanged.
        """
        driver = self._driver
        if document_ids is None:
            driver._check_readable(collection)
        return read_manifest(driver._scroll, driver._models, collection, document_ids)

    def points(
        self, collection: str, *, with_vectors: bool = True, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Point]:
        """Every point of the collection (matching ``filters``), page by page."""
        driver = self._driver
        query_filter = payload_filter(driver._models, filters)
        for record in driver._scroll(collection, True, with_vectors=with_vectors, query_filter=query_filter):
            yield point_from_record(record)

    def field_values(self, collection: str, key: str, *, exact: bool = True) -> list[Any]:
        """The distinct values of an indexed payload field (``source`` or ``document_id``).

        ``exact=False`` reads them off the index without counting points (much faster on large
        collections), and keeps the list until the next write through this store where only this
        process writes; values whose points were all deleted may then linger in the list.
        """
        driver = self._driver
        check_indexed_field(key)
        cache = None if exact else driver._values_cache
        if cache is not None and (collection, key) in cache:
            return list(cache[collection, key])
        values = driver._facet(collection, key, exact=exact)
        if cache is not None:
            cache[collection, key] = list(values)
        return values

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        """How many points of the collection match ``filters`` (all of them without)."""
        driver = self._driver
        return driver._count(collection, payload_filter(driver._models, filters))

    def document_count(self, collection: str) -> int:
        """How many distinct documents the collection holds."""
        return len(self.field_values(collection, "document_id"))

    # -- searching -------------------------------------------------------------------------

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
        using: Sequence[str] = (DENSE,),
        multivector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """The ``k`` closest chunks by ``vector``, ``sparse`` terms, or both fused by rank (hybrid).

        ``using`` names the dense vectors ``vector`` is searched against (``("dense", "alone")``:
        the late and the chunk-alone vectors, their rankings fused with the sparse one's).
        ``multivector``, a query's token vectors (tokens x size), ranks by MaxSim over the
        collection's multivector: every chunk when neither ``vector`` nor ``sparse`` is given, else
        the candidates their rankings bring (:func:`~connectors.qdrant_common.rescore_limit` each),
        rescored.
        Equal scores come back ordered by id: the same query always gives the same list.
        """
        driver = self._driver
        driver._check_readable(collection)
        plan = self._plan(
            vector,
            sparse,
            k,
            filters,
            fusion,
            using,
            multivector=multivector,
            score_threshold=score_threshold,
            with_vectors=with_vectors,
            exact=exact,
        )
        return best_hits([search_hit(point) for point in driver._query(collection, plan)], k)

    def search_documents(
        self,
        collection: str,
        vector: np.ndarray | None,
        k: int,
        filters: Mapping[str, Any] | None = None,
        *,
        sparse: SparseVector | None = None,
        fusion: Fusion | None = None,
        using: Sequence[str] = (DENSE,),
        multivector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best documents by ``vector``, ``sparse`` terms or both (hybrid), as their best chunks.

        A document ranks where its best chunk ranks in the chunk ranking of the same search. A
        hybrid search is not grouped by the engine (its grouping fuses the rankings again without
        the documents found so far, which moves the others' ranks): chunk rankings ever deeper are
        searched until they hold ``k`` documents or the collection has no more chunks to give.
        """
        driver = self._driver
        plan = self._plan(vector, sparse, k, filters, fusion, using, multivector=multivector)
        if not plan.fused and plan.multivector is None:
            driver._check_readable(collection)
            grouped = driver._query_groups(collection, plan, "document_id")
            if grouped is not None:
                return [search_hit(point) for point in grouped]
        return best_chunk_per_document(
            lambda limit: self.search(
                collection,
                vector,
                limit,
                filters,
                sparse=sparse,
                fusion=fusion,
                using=using,
                multivector=multivector,
            ),
            k,
        )

    def _plan(
        self,
        vector: np.ndarray | None,
        sparse: SparseVector | None,
        k: int,
        filters: Mapping[str, Any] | None,
        fusion: Fusion | None,
        using: Sequence[str] = (DENSE,),
        *,
        multivector: np.ndarray | None = None,
        **returned: Any,
    ) -> SearchPlan:
        """The plan of a search for the ``k`` best chunks (``returned``: threshold, vectors, exact)."""
        if vector is None and sparse is None and multivector is None:
            raise ConfigurationError("a search needs a dense vector, sparse terms, token vectors, or some")
        if not using:
            raise ConfigurationError("a search needs at least one dense vector name to use")
        dense = np.asarray(vector, dtype=np.float32).tolist() if vector is not None else None
        queries = (len(using) if dense is not None else 0) + (sparse is not None)
        if multivector is not None:  # MaxSim ranks all, or rescores the candidates of the others
            tokens = np.asarray(multivector, dtype=np.float32)
            if tokens.ndim != 2 or not len(tokens):
                raise ConfigurationError(f"a multivector query is (tokens, size), not {tokens.shape}")
            return SearchPlan(
                dense=dense,
                sparse=sparse,
                limit=k,
                prefetch=rescore_limit(k),
                filter=payload_filter(self._driver._models, filters),
                using=tuple(using),
                multivector=tokens.tolist(),
                **returned,
            )
        return SearchPlan(
            dense=dense,
            sparse=sparse,
            limit=fused_limit(k, queries),
            prefetch=prefetch_limit(k),
            filter=payload_filter(self._driver._models, filters),
            fusion=(fusion or Fusion()) if queries > 1 else None,
            using=tuple(using),
            **returned,
        )

    # -- internals -------------------------------------------------------------------------

    @property
    def _driver(self) -> QdrantDriver:
        """This store as its driver (the methods its driver class mixes in)."""
        return self  # type: ignore[return-value]

    def _forget_values(self, collection: str) -> None:
        """Drop the cached value lists of ``collection`` (after a write or delete)."""
        cache = self._driver._values_cache
        if cache is not None:
            for key in [key for key in cache if key[0] == collection]:
                del cache[key]


__all__ = ["QdrantDriver", "QdrantStore", "SearchPlan"]
