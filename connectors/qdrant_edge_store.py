"""The embedded default store: Qdrant's own engine in-process (Qdrant Edge), one folder per store."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chunkwise.connectors.qdrant_common import (
    DENSE,
    INDEXED_FIELDS,
    METADATA_KEY,
    RRF_K,
    SPARSE,
    best_chunk_per_document,
    best_hits,
    check_collection_name,
    check_indexed_field,
    check_stored_fingerprint,
    field_condition,
    fused_limit,
    payload_filter,
    point_from_record,
    prefetch_limit,
    read_manifest,
    search_hit,
)
from chunkwise.pipeline.errors import (
    ConfigurationError,
    StoreError,
    StoreInUseError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
COLLECTIONS = "collections"
SHARD = "shard"
SETTINGS_FILE = "collection.json"


class QdrantEdgeStore:
    """Chunk vectors in a folder, served by Qdrant's own engine running in this process.

    Each collection is a Qdrant Edge shard (HNSW index, payload indexes on ``document_id`` and
    ``source``, a ``sparse`` vector with IDF next to the ``dense`` one) under
    ``PATH/collections/NAME/``, beside a ``collection.json`` that holds its fingerprint. One
    process opens a store at a time (a lock file guards it): a second gets
    :class:`~pipeline.errors.StoreInUseError`; several writers need a Qdrant server.

    Writes go in batches of ``batch_size`` points and are in the write-ahead log when the call
    returns (a killed process loses none of them); reads go in pages of ``scroll_page``.
    Closing a store that wrote runs the engine's optimizers: segments of ``index_after`` points
    or more get an HNSW index (below that, exact search is as fast), deleted points are
    vacuumed. ``index_after=None`` leaves that to :meth:`optimize` and the engine's defaults.

    Example::

        with QdrantEdgeStore(".chunkwise/qdrant") as store:
            store.ensure_collection("docs", fingerprint)
            store.replace_document("docs", document_id, points)
            hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".chunkwise/qdrant",
        *,
        batch_size: int = 256,
        scroll_page: int = 4096,
        index_after: int | None = 20_000,
    ) -> None:
        if not str(path):
            raise ConfigurationError("the store path is empty")
        if batch_size < 1 or scroll_page < 1:
            raise ConfigurationError(
                f"batch_size ({batch_size}) and scroll_page ({scroll_page}) must be >= 1"
            )
        self.path = Path(path)
        self.location = str(path)
        self.batch_size = batch_size
        self.scroll_page = scroll_page
        self.index_after = index_after
        self._lock: Any = None
        self._shards: dict[str, Any] = {}
        self._written: set[str] = set()

    # -- opening and closing -------------------------------------------------------------

    def open(self) -> QdrantEdgeStore:
        """Take the store's lock (done on first use; call it to fail early when the store is busy)."""
        if self._lock is not None:
            return self
        _refuse_client_folder(self.path)
        try:
            (self.path / COLLECTIONS).mkdir(parents=True, exist_ok=True)
            lock = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held until close()
        except OSError as error:
            raise StoreError(f"cannot open the store {self.path}: {error}") from error
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StoreInUseError(
                f"the store {self.path} is in use by another process (an embedded store has one "
                "process at a time): wait for it to finish, or use a Qdrant server URL"
            ) from None
        self._lock = lock
        return self

    def close(self) -> None:
        """Optimize the collections written to (see ``index_after``), flush and release the store."""
        try:
            if self.index_after is not None:
                for collection in sorted(self._written & set(self._shards)):
                    self.optimize(collection)
            for shard in self._shards.values():
                shard.close()
        finally:
            self._shards.clear()
            self._written.clear()
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def __enter__(self) -> QdrantEdgeStore:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- collections -----------------------------------------------------------------------

    def collections(self) -> list[str]:
        self.open()
        root = self.path / COLLECTIONS
        return sorted(entry.name for entry in root.iterdir() if (entry / SETTINGS_FILE).is_file())

    def collection_exists(self, collection: str) -> bool:
        self.open()
        return self._settings_file(collection).is_file()

    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        if self.collection_exists(collection):
            check_stored_fingerprint(collection, fingerprint, self.fingerprint(collection))
            return
        self._create(collection, fingerprint)

    def fingerprint(self, collection: str) -> Fingerprint | None:
        if not self.collection_exists(collection):
            folder = self._folder(collection)
            if folder.exists():  # a shard without its file: refuse to call it absent if it holds points
                self._check_unfinished(collection, folder)
            return None
        settings_file = self._settings_file(collection)
        try:
            stored = json.loads(settings_file.read_text(encoding="utf-8")).get(METADATA_KEY)
            return Fingerprint.from_dict(stored) if stored else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise StoreError(
                f"collection {collection!r} in {self.path}: {settings_file} is damaged ({error}); its points "
                "are untouched: restore the file from a backup, or drop the collection and ingest again"
            ) from error

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        """Stamp the collection with a new fingerprint (a rebuild with other chunking options)."""
        self._shard(collection)
        self._write_settings(collection, fingerprint)

    def drop_collection(self, collection: str) -> None:
        """Delete a collection and everything in it (nothing happens if it does not exist)."""
        self.open()
        shard = self._shards.pop(collection, None)
        if shard is not None:
            shard.close()
        self._written.discard(collection)
        folder = self._folder(collection)
        if folder.exists():
            self._settings_file(collection).unlink(missing_ok=True)  # gone at once, even if rmtree fails
            shutil.rmtree(folder)

    def optimize(self, collection: str) -> bool:
        """Index, merge and vacuum segments as the engine plans; ``True`` if it changed any.

        Building the HNSW index of a large collection takes minutes (a million points: an hour).
        """
        logger.info("optimizing %s", collection)
        changed = bool(self._shard(collection).optimize())
        self._written.discard(collection)
        return changed

    def indexed_points(self, collection: str) -> tuple[int, int]:
        """How many points the collection holds, and how many of their dense vectors are in HNSW."""
        from qdrant_edge import CountRequest, Filter, HasVectorCondition

        shard = self._shard(collection)
        info = shard.info()
        with_sparse = Filter(must=[HasVectorCondition(SPARSE)])
        sparse = shard.count(
            CountRequest(exact=True, filter=with_sparse)
        )  # the engine counts them as indexed
        return int(info.points_count), int(info.indexed_vectors_count) - int(sparse)

    # -- writing ---------------------------------------------------------------------------

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        """Write the document's new points, then delete its points that are not among them."""
        from qdrant_edge import Filter, HasIdCondition

        self.write_points(collection, points)
        if known_new:
            return
        stale = Filter(
            must=[field_condition(_models(), "document_id", document_id)],
            must_not=[HasIdCondition(point_ids={p.id for p in points})] if points else None,
        )
        self._delete(collection, stale)

    def delete_document(self, collection: str, document_id: str) -> None:
        self.replace_document(collection, document_id, [])

    def write_points(self, collection: str, points: Sequence[Point]) -> None:
        for start in range(0, len(points), self.batch_size):
            self._upsert(collection, points[start : start + self.batch_size])

    # -- reading ---------------------------------------------------------------------------

    def stored_documents(
        self, collection: str, *, document_ids: Collection[str] | None = None
    ) -> dict[str, StoredDocument]:
        """Every document in the collection (or of ``document_ids``) with its points counted per version."""
        return read_manifest(self._scroll, _models(), collection, document_ids)

    def points(
        self, collection: str, *, with_vectors: bool = True, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Point]:
        query_filter = payload_filter(_models(), filters)
        for record in self._scroll(collection, True, with_vectors=with_vectors, query_filter=query_filter):
            yield point_from_record(record)

    def field_values(self, collection: str, key: str, *, exact: bool = True) -> list[Any]:
        """The distinct values of an indexed payload field (``source`` or ``document_id``).

        ``exact=False`` reads them off the index without counting points (much faster on large
        collections); values whose points were all deleted may then linger in the list.
        """
        from qdrant_edge import FacetRequest

        check_indexed_field(key)
        facets = self._shard(collection).facet(FacetRequest(key=key, limit=2**31 - 1, exact=exact))
        return [hit.value for hit in facets.hits if hit.count > 0]  # deleted values linger with count 0

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
    ) -> list[SearchHit]:
        from qdrant_edge import Prefetch, QueryRequest

        query_filter = payload_filter(_models(), filters)
        queries = _queries(vector, sparse)
        if len(queries) == 1:
            request = QueryRequest(
                limit=k,
                query=queries[0],
                filter=query_filter,
                with_payload=True,
                with_vector=[DENSE] if with_vectors else False,
                score_threshold=score_threshold,
            )
        else:
            request = QueryRequest(
                limit=fused_limit(k, len(queries)),
                prefetches=[Prefetch(limit=prefetch_limit(k), query=q, filter=query_filter) for q in queries],
                query=_fusion(fusion or Fusion()),
                with_payload=True,
                with_vector=[DENSE] if with_vectors else False,
                score_threshold=score_threshold,
            )
        return best_hits([search_hit(point) for point in self._shard(collection).query(request)], k)

    def search_documents(
        self,
        collection: str,
        vector: np.ndarray | None,
        k: int,
        filters: Mapping[str, Any] | None = None,
        *,
        sparse: SparseVector | None = None,
        fusion: Fusion | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best documents by ``vector``, ``sparse`` terms or both (hybrid), as their best chunks.

        A document ranks where its best chunk ranks in the chunk ranking of the same search.
        """
        return best_chunk_per_document(
            lambda limit: self.search(collection, vector, limit, filters, sparse=sparse, fusion=fusion),
            self.count(collection, filters),
            k,
        )

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        from qdrant_edge import CountRequest

        request = CountRequest(exact=True, filter=payload_filter(_models(), filters))
        return int(self._shard(collection).count(request))

    def document_count(self, collection: str) -> int:
        """How many distinct documents the collection holds."""
        return len(self.field_values(collection, "document_id"))

    # -- internals -------------------------------------------------------------------------

    def _folder(self, collection: str) -> Path:
        return self.path / COLLECTIONS / check_collection_name(collection)

    def _settings_file(self, collection: str) -> Path:
        return self._folder(collection) / SETTINGS_FILE

    def _shard(self, collection: str) -> Any:
        shard = self._shards.get(collection)
        if shard is not None:
            return shard
        if not self.collection_exists(collection):
            raise StoreError(f"collection {collection!r} does not exist in {self.path}")
        from qdrant_edge import EdgeShard

        try:
            shard = EdgeShard.load(str(self._folder(collection) / SHARD))
        except Exception as error:
            raise StoreError(f"cannot open collection {collection!r} in {self.path}: {error}") from error
        self._shards[collection] = shard
        return shard

    def _create(self, collection: str, fingerprint: Fingerprint) -> None:
        from qdrant_edge import EdgeShard, PayloadSchemaType, UpdateOperation

        folder = self._folder(collection)
        if folder.exists():  # left by a creation that did not finish, or a collection that lost its file
            self._check_unfinished(collection, folder)
            shutil.rmtree(folder)
        shard = EdgeShard.create(str(folder / SHARD), _edge_config(fingerprint.dimension, self.index_after))
        for field in INDEXED_FIELDS:
            shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
        self._shards[collection] = shard
        self._write_settings(collection, fingerprint)  # last: the collection exists once this is written
        logger.info("created collection %s for %s", collection, fingerprint.model)

    def _check_unfinished(self, collection: str, folder: Path) -> None:
        """Refuse to replace a collection folder whose shard holds points: only its file is missing."""
        from qdrant_edge import CountRequest, EdgeShard

        try:
            shard = EdgeShard.load(str(folder / SHARD))
        except Exception:  # noqa: BLE001 - no loadable shard: an unfinished creation, safe to replace
            return
        try:
            points = shard.count(CountRequest(exact=True))
        finally:
            shard.close()
        if points:
            raise StoreError(
                f"collection {collection!r} in {self.path} holds {points} points but has no "
                f"{SETTINGS_FILE}: it was not recreated over them. Restore the file from a backup, or "
                f"remove {folder} to start the collection again"
            )

    def _write_settings(self, collection: str, fingerprint: Fingerprint) -> None:
        target = self._settings_file(collection)
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps({METADATA_KEY: fingerprint.to_dict()}, indent=2), encoding="utf-8")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)

    def _upsert(self, collection: str, points: Sequence[Point]) -> None:
        from qdrant_edge import UpdateOperation

        self._update(collection, UpdateOperation.upsert_points([_edge_point(p) for p in points]))

    def _delete(self, collection: str, selector: Any) -> None:
        from qdrant_edge import UpdateOperation

        self._update(collection, UpdateOperation.delete_points_by_filter(selector))

    def _update(self, collection: str, operation: Any) -> None:
        try:
            self._shard(collection).update(operation)
        except StoreError:
            raise
        except Exception as error:
            raise StoreError(f"writing to {collection!r} in {self.path} failed: {error}") from error
        self._written.add(collection)

    def _scroll(
        self, collection: str, with_payload: Any, *, with_vectors: bool = False, query_filter: Any = None
    ) -> Iterator[Any]:
        from qdrant_edge import ScrollRequest

        shard, offset = self._shard(collection), None
        while True:
            request = ScrollRequest(
                offset=offset,
                limit=self.scroll_page,
                filter=query_filter,
                with_payload=with_payload,
                with_vector=with_vectors,
            )
            records, offset = shard.scroll(request)
            yield from records
            if offset is None:
                return


def _models() -> Any:
    import qdrant_edge

    return qdrant_edge


def _edge_config(dimension: int, index_after: int | None) -> Any:
    """A dense and a sparse vector; segments of ``index_after`` points or more get an HNSW index."""
    from qdrant_edge import (
        Distance,
        EdgeConfig,
        EdgeOptimizersConfig,
        EdgeSparseVectorParams,
        EdgeVectorParams,
        Modifier,
    )

    optimizers = None
    if index_after is not None:  # the engine counts its threshold in kilobytes of vectors
        optimizers = EdgeOptimizersConfig(indexing_threshold=max(1, index_after * dimension * 4 // 1024))
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=dimension, distance=Distance.Cosine)},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        optimizers=optimizers,
    )


def _queries(vector: np.ndarray | None, sparse: SparseVector | None) -> list[Any]:
    from qdrant_edge import Query
    from qdrant_edge import SparseVector as EdgeSparse

    queries = []
    if vector is not None:
        queries.append(Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using=DENSE))
    if sparse is not None:
        queries.append(Query.Nearest(EdgeSparse(list(sparse.indices), list(sparse.values)), using=SPARSE))
    if not queries:
        raise ConfigurationError("a search needs a dense vector, sparse terms, or both")
    return queries


def _edge_point(point: Point) -> Any:
    from qdrant_edge import Point as EdgePoint
    from qdrant_edge import SparseVector as EdgeSparse

    vectors: dict[str, Any] = {DENSE: np.asarray(point.vector, dtype=np.float32).tolist()}
    if point.sparse is not None and point.sparse.indices:
        vectors[SPARSE] = EdgeSparse(list(point.sparse.indices), list(point.sparse.values))
    return EdgePoint(point.id, vectors, point.payload)


def _refuse_client_folder(path: Path) -> None:
    """A folder written by qdrant-client's local mode is not an Edge store: say how to open or move it."""
    if (path / "meta.json").is_file() and (path / "collection").is_dir():
        raise ConfigurationError(
            f"{path} holds a qdrant-client local store, not an embedded Qdrant Edge store: open it as "
            f"'local:{path}', or move it with `chunkwise copy local:{path} NEW_FOLDER`"
        )


def _fusion(fusion: Fusion) -> Any:
    """Qdrant Edge's fusion query for ``fusion`` (dense first, sparse second)."""
    from qdrant_edge import Fusion as EdgeFusion

    if fusion.method == "dbsf":
        return EdgeFusion.Dbsf()
    weights = [1.0, fusion.sparse_weight] if fusion.sparse_weight != 1.0 else None
    return EdgeFusion.Rrf(k=RRF_K, weights=weights)
