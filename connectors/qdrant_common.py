"""What both Qdrant stores share: vector names, payload filters, batching and hit grouping.

qdrant-client and Qdrant Edge spell filters with classes of the same names and fields
(``Filter``, ``FieldCondition``, ``MatchValue``, ``MatchAny``), so one function builds a
filter for either, given the module that holds the classes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Literal

import numpy as np

from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError
from chunkwise.pipeline.fingerprint import MULTIVECTOR, Fingerprint
from chunkwise.pipeline.manifest import MANIFEST_FIELDS, StoredDocument, summarize
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector

DENSE = "dense"
SPARSE = "sparse"
MULTIVECTOR_NAME = "multivector"  # the named vector of token vectors (ColBERT), scored by MaxSim
METADATA_KEY = "chunkwise"
INDEXED_FIELDS = ("document_id", "source")
RRF_K = 60
Quantization = Literal["scalar", "binary"]
QUANTIZATIONS = ("scalar", "binary")
QUANTIZATION_OVERSAMPLING = 2.0  # candidates scored on quantized vectors per hit rescored on the originals
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


OVERSAMPLING_OF_AN_OPEN_STORE = (
    "oversampling is set when a store is opened: give the store's location, or open it with "
    "open_store(location, oversampling=...)"
)


def check_oversampling(oversampling: float | None) -> None:
    """Refuse an oversampling below 1 (fewer candidates than hits); ``None`` is the store's default."""
    if oversampling is not None and not oversampling >= 1:
        raise ConfigurationError(f"oversampling ({oversampling}) must be >= 1")


def check_quantization(quantization: str | None) -> None:
    """Refuse a quantization other than ``scalar`` (int8, 4x smaller), ``binary`` (32x) or ``None``."""
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ConfigurationError(f"quantization must be 'scalar', 'binary' or None, not {quantization!r}")


def check_collection_name(collection: str) -> str:
    """``collection`` if it is a usable name (letters, digits, ``_ . -``; at most 128), else an error."""
    if not COLLECTION_NAME.match(collection) or collection.endswith("."):
        raise ConfigurationError(
            f"invalid collection name {collection!r}: use letters, digits, '_', '.' and '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return collection


def check_stored_fingerprint(collection: str, fingerprint: Fingerprint, stored: Fingerprint | None) -> None:
    """Raise unless an existing ``collection`` stamped ``stored`` may take ``fingerprint``'s vectors."""
    if stored is None:
        raise FingerprintMismatchError(
            f"collection {collection!r} exists but was not built by chunkwise; use another name"
        )
    fingerprint.check_compatible(stored)


def sparse_vector(vector: Any) -> SparseVector:
    """A :class:`SparseVector` from either library's sparse vector (``indices`` and ``values``)."""
    return SparseVector(indices=tuple(vector.indices), values=tuple(float(v) for v in vector.values))


def point_from_record(record: Any) -> Point:
    """A :class:`Point` from a record scrolled out of either library (vectors by name, or none)."""
    vectors = record.vector if isinstance(record.vector, dict) else {}
    dense, sparse = vectors.get(DENSE), vectors.get(SPARSE)
    named = {
        name: np.asarray(vector, dtype=np.float32)
        for name, vector in vectors.items()
        if name not in (DENSE, SPARSE) and vector is not None
    }
    return Point(
        id=str(record.id),
        vector=np.asarray(dense if dense is not None else [], dtype=np.float32),
        payload=dict(record.payload or {}),
        sparse=sparse_vector(sparse) if sparse is not None else None,
        named=named,
    )


def vector_lists(point: Point) -> dict[str, list[Any]]:
    """The point's dense and named vectors as the engines take them (lists, by vector name)."""
    vectors: dict[str, list[Any]] = {DENSE: np.asarray(point.vector, dtype=np.float32).tolist()}
    for name, vector in point.named.items():
        vectors[name] = np.asarray(vector, dtype=np.float32).tolist()
    return vectors


def fusion_weights(fusion: Fusion, dense_queries: int, sparse: bool) -> list[float] | None:
    """The RRF weights of a fused search: 1 for each dense ranking, ``sparse_weight`` for the sparse
    one (last) if there is one; ``None`` when all are equal (the engine's plain RRF).

    Example::

        fusion_weights(Fusion("rrf", 0.5), 2, sparse=True)    # [1.0, 1.0, 0.5]
        fusion_weights(Fusion("rrf", 0.5), 2, sparse=False)   # None: two dense rankings, equal
    """
    if fusion.sparse_weight == 1.0 or not sparse:
        return None
    return [1.0] * dense_queries + [fusion.sparse_weight]


def vector_layout(dimension: int, named: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, bool]]:
    """Every dense vector of a collection by name (``dense``, then ``named``, a fingerprint's
    ``vectors``): its size, and whether it is a multivector (compared by MaxSim).

    Example::

        vector_layout(384, {"alone": {"kind": "dense", "size": 384}})
        # {"dense": (384, False), "alone": (384, False)}
    """
    layout = {DENSE: (dimension, False)}
    layout.update({name: (int(spec["size"]), spec["kind"] == MULTIVECTOR) for name, spec in named.items()})
    return layout


def search_hit(point: Any) -> SearchHit:
    """A :class:`SearchHit` from either library's scored point (with its dense vector if it came)."""
    vectors = point.vector if isinstance(point.vector, dict) else {}
    dense = vectors.get(DENSE)
    return SearchHit(
        id=str(point.id),
        score=float(point.score),
        payload=dict(point.payload or {}),
        vector=np.asarray(dense, dtype=np.float32) if dense is not None else None,
    )


def check_indexed_field(key: str) -> str:
    """``key`` if it is one of the payload fields with a keyword index, else an error."""
    if key not in INDEXED_FIELDS:
        raise ConfigurationError(f"{key!r} has no index to list values from; use one of {INDEXED_FIELDS}")
    return key


def payload_filter(models: ModuleType, filters: Mapping[str, Any] | None) -> Any:
    """A filter (of ``models``' classes) where every key equals its value or one of its list's values."""
    if not filters:
        return None
    return models.Filter(must=[field_condition(models, key, value) for key, value in filters.items()])


def field_condition(models: ModuleType, key: str, value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        values = list(value)
        if not values:
            raise ConfigurationError(f"filter on {key!r} lists no values")
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))
    if not isinstance(value, str | int | bool):
        raise ConfigurationError(
            f"filter on {key!r}: {type(value).__name__} values cannot be matched (use str, int or bool)"
        )
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def prefetch_limit(k: int) -> int:
    """How many candidates each side of a hybrid search brings to the rank fusion: its own top ``k``.

    Deeper lists let a chunk that both sides rank low (1/(60+r) twice) outrank one side's best
    (1/60 once); on the debian-faq set, 40 per side lost recall to each single mode, k did not
    (benchmarks/RESULTS.md, "Retrieval modes").
    """
    return k


def rescore_limit(k: int) -> int:
    """How many candidates each ranking (dense, sparse) brings to a MaxSim rescoring: ``4 k``, so
    that the token vectors reorder a pool deeper than the ``k`` hits asked for."""
    return 4 * k


def fused_limit(k: int, queries: int) -> int:
    """How many hits to ask of a search: every fused candidate, so that ties can be broken fairly."""
    return k if queries == 1 else queries * prefetch_limit(k)


def best_hits(hits: Sequence[SearchHit], k: int) -> list[SearchHit]:
    """The ``k`` best hits, equal scores ordered by id: the same query always gives the same list.

    Rank fusion gives equal scores to chunks at the same ranks of different lists, and the
    engine returns such ties in any order.
    """
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))[:k]


def batches(
    points: Sequence[Point], max_points: int, max_bytes: int, size: Callable[[Point], int]
) -> Iterator[Sequence[Point]]:
    """``points`` cut into runs of at most ``max_points`` points and about ``max_bytes`` bytes each."""
    start, total = 0, 0
    for index, point in enumerate(points):
        point_size = size(point)
        if index > start and (index - start >= max_points or total + point_size > max_bytes):
            yield points[start:index]
            start, total = index, 0
        total += point_size
    if start < len(points):
        yield points[start:]


def request_size(point: Point) -> int:
    """About how many bytes ``point`` takes in a JSON upsert request."""
    dense = 12 * sum(int(np.asarray(v).size) for v in (point.vector, *point.named.values()))
    sparse = 24 * len(point.sparse.indices) if point.sparse is not None else 0
    payload = len(json.dumps(point.payload, ensure_ascii=False, default=str))
    return dense + sparse + payload + 64


def best_chunk_per_document(search: Callable[[int], list[SearchHit]], k: int) -> list[SearchHit]:
    """The best chunk of each of the ``k`` best documents, from ever deeper chunk rankings.

    ``search(limit)`` ranks up to ``limit`` chunks; a ranking shorter than asked holds every chunk
    that can match, which ends the search (no count of the collection is needed).
    """
    limit = 8 * k
    while True:
        hits = search(limit)
        best = first_per_document(hits, k)
        if len(best) == k or len(hits) < limit:
            return best
        limit *= 4


def first_per_document(hits: Sequence[SearchHit], k: int) -> list[SearchHit]:
    """The best hit of each of the first ``k`` documents among ``hits`` (sorted best first)."""
    seen: set[str] = set()
    best = []
    for hit in hits:
        document = str(hit.payload.get("document_id"))
        if document not in seen:
            seen.add(document)
            best.append(hit)
            if len(best) == k:
                break
    return best


def read_manifest(
    scroll: Callable[..., Iterable[Any]],
    models: ModuleType,
    collection: str,
    document_ids: Collection[str] | None,
) -> dict[str, StoredDocument]:
    """Every stored document (or those of ``document_ids``), from the manifest fields of the records
    ``scroll(collection, fields, query_filter=...)`` pages through."""
    if document_ids is not None and not document_ids:
        return {}
    query_filter = (
        None if document_ids is None else payload_filter(models, {"document_id": list(document_ids)})
    )
    return summarize(
        record.payload or {}
        for record in scroll(collection, list(MANIFEST_FIELDS), query_filter=query_filter)
    )
