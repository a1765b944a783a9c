"""A vector store on qdrant-client: an embedded folder, ``:memory:``, or a Qdrant server URL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from pipeline.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from pipeline.fingerprint import Fingerprint
from pipeline.manifest import MANIFEST_FIELDS, StoredDocument, summarize
from pipeline.points import Point
from pipeline.types import SearchHit

logger = logging.getLogger(__name__)

DENSE = "dense"
METADATA_KEY = "chunkwise"
INDEXED_FIELDS = ("document_id", "source")
T = TypeVar("T")


class QdrantStore:
    """Chunk vectors in Qdrant collections, each stamped with the pipeline fingerprint that built it.

    ``location`` is a folder (embedded local mode, one process at a time), ``":memory:"``, or an
    ``http(s)://`` URL of a Qdrant server or cluster (``api_key`` for Qdrant Cloud). Writes go in
    batches of ``batch_size`` points and are read back in pages of ``scroll_page``; transient
    server errors are retried with backoff.

    Example::

        store = QdrantStore(".chunkwise/qdrant")
        store.ensure_collection("docs", fingerprint)
        hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """

    def __init__(
        self,
        location: str = ".chunkwise/qdrant",
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 128,
        retries: int = 4,
        prefer_grpc: bool = False,
        scroll_page: int = 4096,
    ) -> None:
        if not location:
            raise ConfigurationError("location is empty: give a folder, ':memory:' or an http(s) URL")
        if batch_size < 1 or scroll_page < 1:
            raise ConfigurationError(
                f"batch_size ({batch_size}) and scroll_page ({scroll_page}) must be >= 1"
            )
        self.location = location
        self.api_key = api_key
        self.timeout = timeout
        self.batch_size = batch_size
        self.retries = max(0, retries)
        self.prefer_grpc = prefer_grpc
        self.scroll_page = scroll_page
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

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def collection_exists(self, collection: str) -> bool:
        return bool(self._call(lambda: self.client.collection_exists(collection)))

    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        if self.collection_exists(collection):
            stored = self.fingerprint(collection)
            if stored is None:
                raise FingerprintMismatchError(
                    f"collection {collection!r} exists but was not built by chunkwise; use another name"
                )
            fingerprint.check_compatible(stored)
            return
        self._create(collection, fingerprint)

    def fingerprint(self, collection: str) -> Fingerprint | None:
        if not self.collection_exists(collection):
            return None
        info = self._call(lambda: self.client.get_collection(collection))
        stored = (info.config.metadata or {}).get(METADATA_KEY)
        return Fingerprint.from_dict(stored) if stored else None

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        """Write the document's new points, then delete its points that are not among them.

        ``known_new``: the caller knows the document has no points stored yet, so there is
        nothing stale to look for (a filtered delete costs a scan of the collection in local mode).
        """
        from qdrant_client import models

        for start in range(0, len(points), self.batch_size):
            batch = [_point_struct(p) for p in points[start : start + self.batch_size]]
            self._call(lambda batch=batch: self.client.upsert(collection, points=batch, wait=True))
        if known_new:
            return
        stale = models.Filter(
            must=[_match("document_id", document_id)],
            must_not=[models.HasIdCondition(has_id=[p.id for p in points])] if points else [],
        )
        self._call(lambda: self.client.delete(collection, points_selector=stale, wait=True))

    def delete_document(self, collection: str, document_id: str) -> None:
        self.replace_document(collection, document_id, [])

    def stored_documents(self, collection: str) -> dict[str, StoredDocument]:
        """Every document in the collection with its points counted per version."""
        return summarize(self._payloads(collection, MANIFEST_FIELDS))

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        """Stamp the collection with a new fingerprint (a rebuild with other chunking options)."""
        self._call(
            lambda: self.client.update_collection(collection, metadata={METADATA_KEY: fingerprint.to_dict()})
        )

    def search(
        self,
        collection: str,
        vector: np.ndarray,
        k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        response = self._call(
            lambda: self.client.query_points(
                collection,
                query=_query_vector(vector),
                using=DENSE,
                limit=k,
                query_filter=_filter(filters) if filters else None,
                with_payload=True,
            )
        )
        return [_hit(point) for point in response.points]

    def search_documents(
        self,
        collection: str,
        vector: np.ndarray,
        k: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` documents closest to ``vector``, each as its best-scoring chunk."""
        response = self._call(
            lambda: self.client.query_points_groups(
                collection,
                group_by="document_id",
                query=_query_vector(vector),
                using=DENSE,
                limit=k,
                group_size=1,
                query_filter=_filter(filters) if filters else None,
                with_payload=True,
            )
        )
        return [_hit(group.hits[0]) for group in response.groups if group.hits]

    def drop_collection(self, collection: str) -> None:
        """Delete a collection and everything in it (nothing happens if it does not exist)."""
        self._call(lambda: self.client.delete_collection(collection))

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        query_filter = _filter(filters) if filters else None
        result = self._call(lambda: self.client.count(collection, count_filter=query_filter, exact=True))
        return int(result.count)

    def document_count(self, collection: str) -> int:
        """How many distinct documents the collection holds."""
        facets = self._call(lambda: self.client.facet(collection, key="document_id", limit=10**9, exact=True))
        return len(facets.hits)

    def _payloads(self, collection: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The ``fields`` of every point's payload, page by page."""
        offset = None
        while True:
            records, offset = self._call(
                lambda offset=offset: self.client.scroll(
                    collection,
                    limit=self.scroll_page,
                    offset=offset,
                    with_payload=list(fields),
                    with_vectors=False,
                )
            )
            for record in records:
                yield record.payload or {}
            if offset is None:
                return

    def _create(self, collection: str, fingerprint: Fingerprint) -> None:
        from qdrant_client import models

        vectors = {DENSE: models.VectorParams(size=fingerprint.dimension, distance=models.Distance.COSINE)}
        self._call(
            lambda: self.client.create_collection(
                collection, vectors_config=vectors, metadata={METADATA_KEY: fingerprint.to_dict()}
            )
        )
        if self.is_server:
            for field in INDEXED_FIELDS:
                self._call(
                    lambda field=field: self.client.create_payload_index(
                        collection, field, models.PayloadSchemaType.KEYWORD
                    )
                )
        logger.info("created collection %s for %s", collection, fingerprint.model)

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
            )
        try:
            return QdrantClient(path=self.location)
        except RuntimeError as error:
            if "already accessed" in str(error):
                raise StoreInUseError(
                    f"the store {self.location} is in use by another process (an embedded store has one "
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
        return error.status_code == 429 or error.status_code >= 500
    return isinstance(error, ResponseHandlingException | TimeoutError | ConnectionError)


def _as_store_error(error: BaseException) -> StoreError:
    if isinstance(error, StoreError):
        return error
    return StoreError(f"{type(error).__name__}: {error}")


def _query_vector(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()


def _hit(point: Any) -> SearchHit:
    """A search hit from one of qdrant-client's scored points."""
    return SearchHit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))


def _point_struct(point: Point) -> Any:
    from qdrant_client import models

    vector = np.asarray(point.vector, dtype=np.float32).tolist()
    return models.PointStruct(id=point.id, vector={DENSE: vector}, payload=point.payload)


def _match(key: str, value: Any) -> Any:
    from qdrant_client import models

    if isinstance(value, list | tuple | set | frozenset):
        return models.FieldCondition(key=key, match=models.MatchAny(any=list(value)))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _filter(filters: Mapping[str, Any]) -> Any:
    """A Qdrant filter where every key must equal its value (or one of its values, for a list)."""
    from qdrant_client import models

    return models.Filter(must=[_match(key, value) for key, value in filters.items()])
