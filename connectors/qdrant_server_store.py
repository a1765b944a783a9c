"""A vector store on qdrant-client: a Qdrant server or cluster URL, or qdrant-client's local mode."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

from chunkwise.connectors.qdrant_common import (
    DENSE,
    INDEXED_FIELDS,
    METADATA_KEY,
    RRF_K,
    SPARSE,
    Quantization,
    batches,
    check_collection_name,
    check_oversampling,
    check_quantization,
    check_stored_fingerprint,
    fusion_weights,
    request_size,
    vector_layout,
    vector_lists,
)
from chunkwise.connectors.qdrant_store import QdrantStore, SearchPlan
from chunkwise.pipeline.errors import (
    ConfigurationError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion

logger = logging.getLogger(__name__)

# Metadata of a collection while it is being created: the digest of the fingerprint it is for. A run
# that stops before stamping the fingerprint leaves it, and the next run with that fingerprint
# finishes the (still empty) collection instead of taking it for another tool's.
CREATING_KEY = "chunkwise-creating"

T = TypeVar("T")
_Driver = TypeVar("_Driver", bound="ClientDriver")


class ClientDriver:
    """The qdrant-client driver of :class:`~connectors.qdrant_store.QdrantStore`: a Qdrant server or
    cluster, or qdrant-client's local mode (see :class:`QdrantServerStore`)."""

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
        oversampling: float | None = None,
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
        check_oversampling(oversampling)
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
        self.oversampling = oversampling
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.write_consistency_factor = write_consistency_factor
        self._client: Any = None
        self._values: dict[tuple[str, str], list[Any]] = {}

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
        self._values.clear()
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self: _Driver) -> _Driver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _models(self) -> ModuleType:
        from qdrant_client import models

        return models

    @property
    def _values_cache(self) -> dict[tuple[str, str], list[Any]] | None:
        """Kept in local mode (one client per folder: every write goes through it), not for a server."""
        return None if self.is_server else self._values

    def collections(self) -> list[str]:
        response = self._call(lambda: self.client.get_collections())
        return sorted(c.name for c in response.collections)

    def collection_exists(self, collection: str) -> bool:
        check_collection_name(collection)
        return bool(self._call(lambda: self.client.collection_exists(collection)))

    def _finish_creation(self, collection: str, fingerprint: Fingerprint) -> bool:
        """Finish a collection created by a run that stopped before its payload indexes and
        fingerprint (``True``), if it was made for ``fingerprint`` and holds no point."""
        if self._creating(collection) != fingerprint.digest or self._count(collection, None):
            return False
        logger.info("finishing the creation of collection %s", collection)
        self._index_and_stamp(collection, fingerprint)
        return True

    def _read_fingerprint(self, collection: str) -> Fingerprint | None:
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

    def _write(self, collection: str, points: Sequence[Point]) -> None:
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

    def _delete(self, collection: str, selector: Any) -> None:
        self._call(lambda: self.client.delete(collection, points_selector=selector, wait=True))

    def _set_payload(
        self, collection: str, selector: Any, payload: Mapping[str, Any], key: str | None
    ) -> None:
        self._call(
            lambda: self.client.set_payload(collection, dict(payload), points=selector, key=key, wait=True)
        )

    def _has_id(self, ids: Sequence[str]) -> Any:
        from qdrant_client import models

        return models.HasIdCondition(has_id=list(ids))

    def _facet(self, collection: str, key: str, *, exact: bool) -> list[Any]:
        facets = self._call(lambda: self.client.facet(collection, key=key, limit=10**9, exact=exact))
        return [hit.value for hit in facets.hits if hit.count > 0]

    def _write_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        self._call(
            lambda: self.client.update_collection(collection, metadata={METADATA_KEY: fingerprint.to_dict()})
        )

    def _query(self, collection: str, plan: SearchPlan) -> list[Any]:
        from qdrant_client import models

        queries = _queries(plan)
        params = self._search_params(models, plan.exact)
        arguments: dict[str, Any]
        if plan.multivector is not None:  # MaxSim over all, or over the others' candidates
            limit, where = plan.prefetch, plan.filter
            prefetch = [
                models.Prefetch(query=query, using=using, limit=limit, filter=where, params=params)
                for query, using in queries
            ]
            arguments = {"query": plan.multivector, "using": plan.multivector_name, "search_params": params}
            arguments.update(prefetch=prefetch or None)
        elif plan.fusion is None:
            [(query, using)] = queries
            arguments = {"query": query, "using": using, "search_params": params}
        else:
            arguments = {
                "prefetch": [
                    models.Prefetch(
                        query=query, using=using, limit=plan.prefetch, filter=plan.filter, params=params
                    )
                    for query, using in queries
                ],
                "query": _fusion(models, plan.fusion, len(plan.dense_names), plan.sparse is not None),
            }
        response = self._call(
            lambda: self.client.query_points(
                collection,
                limit=plan.limit,
                query_filter=plan.filter,
                score_threshold=plan.score_threshold,
                with_payload=True,
                with_vectors=[DENSE] if plan.with_vectors else False,
                **arguments,
            )
        )
        return list(response.points)

    def _search_params(self, models: Any, exact: bool) -> Any:
        """Exact search, or on a quantized collection ``oversampling`` times the candidates rescored
        (``None``: the server's defaults)."""
        if exact:  # the original vectors, not a quantized copy
            return models.SearchParams(exact=True, quantization=models.QuantizationSearchParams(ignore=True))
        if self.oversampling is None:
            return None
        rescored = models.QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
        return models.SearchParams(quantization=rescored)

    def _query_groups(self, collection: str, plan: SearchPlan, group_by: str) -> list[Any] | None:
        from qdrant_client import models

        [(query, using)] = _queries(plan)
        response = self._call(
            lambda: self.client.query_points_groups(
                collection,
                group_by=group_by,
                query=query,
                using=using,
                search_params=self._search_params(models, plan.exact),
                limit=plan.limit,
                group_size=1,
                query_filter=plan.filter,
                with_payload=True,
            )
        )
        return [group.hits[0] for group in response.groups if group.hits]

    def _drop(self, collection: str) -> None:
        self._call(lambda: self.client.delete_collection(collection))

    def _count(self, collection: str, query_filter: Any) -> int:
        result = self._call(lambda: self.client.count(collection, count_filter=query_filter, exact=True))
        return int(result.count)

    def _check_readable(self, collection: str) -> None:
        return None  # the server checks its own files

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

        def params(size: int, multivector: bool = False) -> Any:
            maxsim = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
            return models.VectorParams(
                size=size,
                distance=models.Distance.COSINE,
                on_disk=self.on_disk or None,
                multivector_config=maxsim if multivector else None,
            )

        layout = vector_layout(fingerprint.dimension, fingerprint.vectors)
        vectors = {name: params(size, multivector) for name, (size, multivector) in layout.items()}
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
            stored = self._read_fingerprint(collection)
            if stored is not None:
                check_stored_fingerprint(collection, fingerprint, stored)
                self._create_indexes(collection)
                return
            if self._creating(collection) != fingerprint.digest or self._count(collection, None):
                check_stored_fingerprint(collection, fingerprint, None)
        self._index_and_stamp(collection, fingerprint)
        logger.info("created collection %s for %s", collection, fingerprint.model)

    def _index_and_stamp(self, collection: str, fingerprint: Fingerprint) -> None:
        """Create the payload indexes, then stamp the fingerprint: a collection with a fingerprint
        always has its indexes."""
        self._create_indexes(collection)
        self._write_fingerprint(collection, fingerprint)

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


class QdrantServerStore(ClientDriver, QdrantStore):
    """Chunk vectors in a Qdrant server or cluster, through qdrant-client.

    ``location`` is an ``http(s)://`` URL (``api_key`` for Qdrant Cloud; ``verify`` a CA bundle
    path or ``False`` for TLS), or, for tests and small trials, qdrant-client's local mode:
    ``":memory:"`` or a folder. Writes go in batches of at most ``batch_size`` points and
    ``max_request_bytes`` bytes (the server refuses requests over 32 MB), ``parallel`` at a
    time to a server; transient errors (timeouts, 5xx, 429) are retried with backoff.
    ``on_disk``, ``quantization``, ``shard_number``, ``replication_factor`` and
    ``write_consistency_factor`` are passed to the collections it creates. ``oversampling``: on a
    quantized collection, how many candidates per hit are rescored on the original vectors
    (``None``: the server's defaults).

    Example::

        store = QdrantServerStore("http://qdrant.internal:6333", api_key=key, parallel=4)
        store.ensure_collection("docs", fingerprint)
        hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """


def _is_transient(error: BaseException) -> bool:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(error, UnexpectedResponse):
        return error.status_code == 429 or (error.status_code or 0) >= 500
    return isinstance(error, ResponseHandlingException | TimeoutError | ConnectionError)


def _as_store_error(error: BaseException) -> StoreError:
    if isinstance(error, StoreError):
        return error
    return StoreError(f"{type(error).__name__}: {error}")


def _queries(plan: SearchPlan) -> list[tuple[Any, str]]:
    """The (query, vector name) pairs of a search: the dense query per vector it uses, then the sparse."""
    from qdrant_client import models

    queries: list[tuple[Any, str]] = [(plan.dense, name) for name in plan.dense_names]
    if plan.sparse is not None:
        sparse = plan.sparse
        queries.append(
            (models.SparseVector(indices=list(sparse.indices), values=list(sparse.values)), SPARSE)
        )
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

    vector: dict[str, Any] = vector_lists(point)
    if point.sparse is not None and point.sparse.indices:
        vector[SPARSE] = models.SparseVector(
            indices=list(point.sparse.indices), values=list(point.sparse.values)
        )
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def _fusion(models: Any, fusion: Fusion, dense_queries: int, sparse: bool) -> Any:
    """qdrant-client's fusion query for ``fusion`` (the dense rankings first, the sparse one last)."""
    if fusion.method == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    return models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=fusion_weights(fusion, dense_queries, sparse)))
