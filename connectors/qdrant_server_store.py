"""A vector store on qdrant-client: a Qdrant server or cluster URL, or qdrant-client's local mode."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from chunkwise.connectors.qdrant_common import (
    DENSE,
    INDEXED_FIELDS,
    METADATA_KEY,
    RRF_K,
    SPARSE,
    Quantization,
    batches,
    best_chunk_per_document,
    best_hits,
    check_collection_name,
    check_indexed_field,
    check_quantization,
    check_stored_fingerprint,
    field_condition,
    fused_limit,
    payload_filter,
    point_from_record,
    prefetch_limit,
    read_manifest,
    request_size,
    search_hit,
)
from chunkwise.pipeline.errors import (
    ConfigurationError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector

logger = logging.getLogger(__name__)

# Metadata of a collection while it is being created: the digest of the fingerprint it is for. A run
# that stops before stamping the fingerprint leaves it, and the next run with that fingerprint
# finishes the (still empty) collection instead of taking it for another tool's.
CREATING_KEY = "chunkwise-creating"

T = TypeVar("T")


class QdrantServerStore:
    """Chunk vectors in a Qdrant server or cluster, through qdrant-client.

    ``location`` is an ``http(s)://`` URL (``api_key`` for Qdrant Cloud; ``verify`` a CA bundle
    path or ``False`` for TLS), or, for tests and small trials, qdrant-client's local mode:
    ``":memory:"`` or a folder. Writes go in batches of at most ``batch_size`` points and
    ``max_request_bytes`` bytes (the server refuses requests over 32 MB), ``parallel`` at a
    time to a server; transient errors (timeouts, 5xx, 429) are retried with backoff.
    ``on_disk``, ``quantization``, ``shard_number``, ``replication_factor`` and
    ``write_consistency_factor`` are passed to the collections it creates.

    Example::

        store = QdrantServerStore("http://qdrant.internal:6333", api_key=key, parallel=4)
        store.ensure_collection("docs", fingerprint)
        hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """

    def __init__(
        self,
        location: str = ":memory:",
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 128,
        max_request_bytes: int = 8 * 2**20,
        parallel: int = 2,
        retries: int = 4,
        prefer_grpc: bool = False,
        verify: bool | str = True,
        scroll_page: int = 4096,
        on_disk: bool = False,
        quantization: Quantization | None = None,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
    ) -> None:
        if not location:
            raise ConfigurationError("location is empty: give an http(s) URL, ':memory:' or a folder")
        if min(batch_size, scroll_page, parallel, max_request_bytes) < 1:
            raise ConfigurationError(
                f"batch_size ({batch_size}), scroll_page ({scroll_page}), parallel ({parallel}) and "
                f"max_request_bytes ({max_request_bytes}) must be >= 1"
            )
        check_quantization(quantization)
        self.location = location
        self.api_key = api_key
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_request_bytes = max_request_bytes
        self.parallel = parallel
        self.retries = max(0, retries)
        self.prefer_grpc = prefer_grpc
        self.verify = verify
        self.scroll_page = scroll_page
        self.on_disk = on_disk
        self.quantization = quantization
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.write_consistency_factor = write_consistency_factor
        self._client: Any = None

    @property
    def is_server(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def client(self) -> Any:
        """The ``QdrantClient``, opened on first use."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> QdrantServerStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def collections(self) -> list[str]:
        response = self._call(lambda: self.client.get_collections())
        return sorted(c.name for c in response.collections)

    def collection_exists(self, collection: str) -> bool:
        check_collection_name(collection)
        return bool(self._call(lambda: self.client.collection_exists(collection)))

    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        if self.collection_exists(collection):
            stored = self.fingerprint(collection)
            if (
                stored is None
                and self._creating(collection) == fingerprint.digest
                and not self.count(collection)
            ):
                # Created by a run that stopped before its payload indexes and fingerprint: finish it.
                logger.info("finishing the creation of collection %s", collection)
                self._index_and_stamp(collection, fingerprint)
                return
            check_stored_fingerprint(collection, fingerprint, stored)
            return
        self._create(collection, fingerprint)

    def fingerprint(self, collection: str) -> Fingerprint | None:
        if not self.collection_exists(collection):
            return None
        stored = self._metadata(collection).get(METADATA_KEY)
        return Fingerprint.from_dict(stored) if stored else None

    def _metadata(self, collection: str) -> dict[str, Any]:
        info = self._call(lambda: self.client.get_collection(collection))
        return dict(info.config.metadata or {})

    def _creating(self, collection: str) -> str | None:
        """The digest of the fingerprint a creation of ``collection`` was for, until it was stamped."""
        value = self._metadata(collection).get(CREATING_KEY)
        return str(value) if value else None

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        """Write the document's new points, then delete its points that are not among them.

        ``known_new``: the caller knows the document has no points stored yet, so there is
        nothing stale to look for (a filtered delete costs a scan of the collection in local mode).
        """
        from qdrant_client import models

        self.write_points(collection, points)
        if known_new:
            return
        stale = models.Filter(
            must=[field_condition(models, "document_id", document_id)],
            must_not=[models.HasIdCondition(has_id=[p.id for p in points])] if points else [],
        )
        self._call(lambda: self.client.delete(collection, points_selector=stale, wait=True))

    def delete_document(self, collection: str, document_id: str) -> None:
        self.replace_document(collection, document_id, [])

    def write_points(self, collection: str, points: Sequence[Point]) -> None:
        """Upsert ``points`` in batches; to a server, ``parallel`` batches at a time."""
        structs = [
            [_point_struct(p) for p in batch]
            for batch in batches(points, self.batch_size, self.max_request_bytes, request_size)
        ]

        def upsert(batch: list[Any]) -> None:
            self._call(lambda: self.client.upsert(collection, points=batch, wait=True))

        if self.is_server and self.parallel > 1 and len(structs) > 1:
            with ThreadPoolExecutor(self.parallel) as pool:
                list(pool.map(upsert, structs))
        else:
            for batch in structs:
                upsert(batch)

    def stored_documents(
        self, collection: str, *, document_ids: Collection[str] | None = None
    ) -> dict[str, StoredDocument]:
        """Every document in the collection (or of ``document_ids``) with its points counted per version."""
        from qdrant_client import models

        return read_manifest(self._scroll, models, collection, document_ids)

    def points(
        self, collection: str, *, with_vectors: bool = True, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Point]:
        from qdrant_client import models

        query_filter = payload_filter(models, filters)
        for record in self._scroll(collection, True, with_vectors=with_vectors, query_filter=query_filter):
            yield point_from_record(record)

    def field_values(self, collection: str, key: str, *, exact: bool = True) -> list[Any]:
        """The distinct values of an indexed payload field (``source`` or ``document_id``).

        ``exact=False`` reads them off the index without counting points (much faster on large
        collections); values whose points were all deleted may then linger in the list.
        """
        check_indexed_field(key)
        facets = self._call(lambda: self.client.facet(collection, key=key, limit=10**9, exact=exact))
        return [hit.value for hit in facets.hits if hit.count > 0]

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        """Stamp the collection with a new fingerprint (a rebuild with other chunking options)."""
        self._call(
            lambda: self.client.update_collection(collection, metadata={METADATA_KEY: fingerprint.to_dict()})
        )

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
    ) -> list[SearchHit]:
        """The ``k`` closest chunks by ``vector``, ``sparse`` terms, or both fused by rank (hybrid)."""
        from qdrant_client import models

        query_filter = payload_filter(models, filters)
        queries = _queries(vector, sparse)
        params = models.SearchParams(exact=True) if exact else None
        if len(queries) == 1:
            [(query, using)] = queries
            arguments: dict[str, Any] = {"query": query, "using": using, "search_params": params}
        else:
            arguments = {
                "prefetch": [
                    models.Prefetch(
                        query=query, using=using, limit=prefetch_limit(k), filter=query_filter, params=params
                    )
                    for query, using in queries
                ],
                "query": _fusion(models, fusion or Fusion()),
            }
        response = self._call(
            lambda: self.client.query_points(
                collection,
                limit=fused_limit(k, len(queries)),
                query_filter=query_filter,
                score_threshold=score_threshold,
                with_payload=True,
                with_vectors=[DENSE] if with_vectors else False,
                **arguments,
            )
        )
        return best_hits([search_hit(point) for point in response.points], k)

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
        from qdrant_client import models

        queries = _queries(vector, sparse)
        if len(queries) > 1:
            # Not grouped by the server: its grouping fuses the rankings again without the documents
            # found so far, which moves the others' ranks. Take each document's first fused chunk.
            return best_chunk_per_document(
                lambda limit: self.search(collection, vector, limit, filters, sparse=sparse, fusion=fusion),
                self.count(collection, filters),
                k,
            )
        [(query, using)] = queries
        response = self._call(
            lambda: self.client.query_points_groups(
                collection,
                group_by="document_id",
                query=query,
                using=using,
                limit=k,
                group_size=1,
                query_filter=payload_filter(models, filters),
                with_payload=True,
            )
        )
        return [search_hit(group.hits[0]) for group in response.groups if group.hits]

    def drop_collection(self, collection: str) -> None:
        """Delete a collection and everything in it (nothing happens if it does not exist)."""
        self._call(lambda: self.client.delete_collection(collection))

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        from qdrant_client import models

        query_filter = payload_filter(models, filters)
        result = self._call(lambda: self.client.count(collection, count_filter=query_filter, exact=True))
        return int(result.count)

    def document_count(self, collection: str) -> int:
        """How many distinct documents the collection holds."""
        return len(self.field_values(collection, "document_id"))

    def _scroll(
        self, collection: str, with_payload: Any, *, with_vectors: bool = False, query_filter: Any = None
    ) -> Iterator[Any]:
        """Every point's record (matching ``query_filter``), page by page."""
        offset = None
        while True:
            records, offset = self._call(
                functools.partial(
                    self.client.scroll,
                    collection,
                    limit=self.scroll_page,
                    offset=offset,
                    scroll_filter=query_filter,
                    with_payload=with_payload,
                    with_vectors=with_vectors,
                )
            )
            yield from records
            if offset is None:
                return

    def _create(self, collection: str, fingerprint: Fingerprint) -> None:
        from qdrant_client import models

        vectors = {
            DENSE: models.VectorParams(
                size=fingerprint.dimension, distance=models.Distance.COSINE, on_disk=self.on_disk or None
            )
        }
        modifier = models.Modifier.IDF if fingerprint.sparse_idf else None  # learned weights: no IDF
        sparse = {SPARSE: models.SparseVectorParams(modifier=modifier)}
        try:
            self._call(
                lambda: self.client.create_collection(
                    collection,
                    vectors_config=vectors,
                    sparse_vectors_config=sparse,
                    on_disk_payload=self.on_disk or None,
                    quantization_config=_quantization(self.quantization),
                    shard_number=self.shard_number,
                    replication_factor=self.replication_factor,
                    write_consistency_factor=self.write_consistency_factor,
                    metadata={CREATING_KEY: fingerprint.digest},
                )
            )
        except StoreError as error:
            if "already exists" not in str(error):
                raise
            # A retry of a creation that happened, or another writer's: ours only if it was made
            # for this pipeline, and finished (indexes, then fingerprint) before it is used.
            logger.info("collection %s exists already: checking it", collection)
            stored = self.fingerprint(collection)
            if stored is not None:
                check_stored_fingerprint(collection, fingerprint, stored)
                self._create_indexes(collection)
                return
            if self._creating(collection) != fingerprint.digest or self.count(collection):
                check_stored_fingerprint(collection, fingerprint, None)
        self._index_and_stamp(collection, fingerprint)
        logger.info("created collection %s for %s", collection, fingerprint.model)

    def _index_and_stamp(self, collection: str, fingerprint: Fingerprint) -> None:
        """Create the payload indexes, then stamp the fingerprint: a collection with a fingerprint
        always has its indexes."""
        self._create_indexes(collection)
        self.set_fingerprint(collection, fingerprint)

    def _create_indexes(self, collection: str) -> None:
        """The keyword indexes on a server (creating an index that exists already is a no-op)."""
        from qdrant_client import models

        if self.is_server:
            for field in INDEXED_FIELDS:
                self._call(
                    functools.partial(
                        self.client.create_payload_index,
                        collection,
                        field,
                        models.PayloadSchemaType.KEYWORD,
                        wait=True,
                    )
                )

    def _open(self) -> Any:
        from qdrant_client import QdrantClient

        if self.location == ":memory:":
            return QdrantClient(":memory:")
        if self.is_server:
            return QdrantClient(
                url=self.location,
                api_key=self.api_key,
                timeout=int(self.timeout),
                prefer_grpc=self.prefer_grpc,
                verify=self.verify,
            )
        try:
            return QdrantClient(path=self.location)
        except RuntimeError as error:
            if "already accessed" in str(error):
                raise StoreInUseError(
                    f"the store {self.location} is in use by another process (a local store has one "
                    "client at a time): wait for it to finish, or use a Qdrant server URL"
                ) from error
            raise StoreError(f"cannot open the store {self.location}: {error}") from error

    def _call(self, operation: Callable[[], T]) -> T:
        """Run a client call, retrying transient failures (timeouts, 5xx, 429) with backoff."""
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return operation()
            except Exception as error:
                if not _is_transient(error):
                    raise _as_store_error(error) from error
                if attempt == self.retries:
                    raise StoreUnavailableError(
                        f"Qdrant at {self.location} did not answer after {attempt + 1} attempts: {error}"
                    ) from error
                logger.warning("Qdrant call failed (%s); retrying in %.1fs", error, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def _is_transient(error: BaseException) -> bool:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(error, UnexpectedResponse):
        return error.status_code == 429 or (error.status_code or 0) >= 500
    return isinstance(error, ResponseHandlingException | TimeoutError | ConnectionError)


def _as_store_error(error: BaseException) -> StoreError:
    if isinstance(error, StoreError):
        return error
    return StoreError(f"{type(error).__name__}: {error}")


def _queries(vector: np.ndarray | None, sparse: SparseVector | None) -> list[tuple[Any, str]]:
    """The (query, vector name) pairs of a search: dense, sparse, or both."""
    from qdrant_client import models

    queries: list[tuple[Any, str]] = []
    if vector is not None:
        queries.append((np.asarray(vector, dtype=np.float32).tolist(), DENSE))
    if sparse is not None:
        queries.append(
            (models.SparseVector(indices=list(sparse.indices), values=list(sparse.values)), SPARSE)
        )
    if not queries:
        raise ConfigurationError("a search needs a dense vector, sparse terms, or both")
    return queries


def _quantization(kind: Quantization | None) -> Any:
    from qdrant_client import models

    if kind == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        )
    if kind == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None


def _point_struct(point: Point) -> Any:
    from qdrant_client import models

    vector: dict[str, Any] = {DENSE: np.asarray(point.vector, dtype=np.float32).tolist()}
    if point.sparse is not None and point.sparse.indices:
        vector[SPARSE] = models.SparseVector(
            indices=list(point.sparse.indices), values=list(point.sparse.values)
        )
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def _fusion(models: Any, fusion: Fusion) -> Any:
    """qdrant-client's fusion query for ``fusion`` (dense first, sparse second)."""
    if fusion.method == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    weights = [1.0, fusion.sparse_weight] if fusion.sparse_weight != 1.0 else None
    return models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=weights))
