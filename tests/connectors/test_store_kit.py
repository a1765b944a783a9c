"""A new store passes the shipped conformance kit by subclassing it.

``MemoryStore`` is a third store that shares no code with the Qdrant stores' engine calls: plain
Python and numpy, every search a scan. It implements only the ``VectorStore`` contract.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from chunkwise.connectors.qdrant_common import (
    RRF_K,
    best_chunk_per_document,
    best_hits,
    check_collection_name,
    check_indexed_field,
    check_stored_fingerprint,
    prefetch_limit,
)
from chunkwise.pipeline.errors import ConfigurationError, StoreError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.manifest import StoredDocument, summarize
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.protocols import VectorStore
from chunkwise.pipeline.types import Fusion, SearchHit, SparseVector
from chunkwise.testing import StoreConformance


class MemoryStore:
    """Collections of points in a dict, searched by scanning every point (scored as Qdrant scores)."""

    def __init__(self) -> None:
        self._collections: dict[str, tuple[Fingerprint, dict[str, Point]]] = {}

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        return None

    # writing
    def ensure_collection(self, collection: str, fingerprint: Fingerprint) -> None:
        check_collection_name(collection)
        if collection in self._collections:
            check_stored_fingerprint(collection, fingerprint, self._collections[collection][0])
        else:
            self._collections[collection] = (fingerprint, {})

    def set_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        self._collections[collection] = (fingerprint, self._points(collection))

    def replace_document(
        self, collection: str, document_id: str, points: Sequence[Point], *, known_new: bool = False
    ) -> None:
        self.write_points(collection, points)
        if not known_new:
            keep = {point.id for point in points}
            stored = self._points(collection)
            for point in [p for p in stored.values() if p.payload["document_id"] == document_id]:
                if point.id not in keep:
                    del stored[point.id]

    def delete_document(self, collection: str, document_id: str) -> None:
        self.replace_document(collection, document_id, [])

    def refresh_document(
        self, collection: str, document_id: str, source_version: str, metadata: Mapping[str, Any]
    ) -> None:
        stored = self._points(collection)
        for point in [p for p in stored.values() if p.payload["document_id"] == document_id]:
            refreshed = {**point.payload.get("metadata", {}), **metadata}
            payload = {**point.payload, "source_version": source_version, "metadata": refreshed}
            stored[point.id] = dataclasses.replace(point, payload=payload)

    def write_points(self, collection: str, points: Sequence[Point]) -> None:
        self._points(collection).update({point.id: point for point in points})

    def drop_collection(self, collection: str) -> None:
        self._collections.pop(collection, None)

    # reading
    def collections(self) -> list[str]:
        return sorted(self._collections)

    def fingerprint(self, collection: str) -> Fingerprint | None:
        found = self._collections.get(collection)
        return found[0] if found else None

    def count(self, collection: str, filters: Mapping[str, Any] | None = None) -> int:
        return len(self._matching(collection, filters))

    def stored_documents(
        self, collection: str, *, document_ids: Collection[str] | None = None
    ) -> dict[str, StoredDocument]:
        wanted = None if document_ids is None else set(document_ids)
        payloads = [p.payload for p in self._points(collection).values()]
        return summarize(p for p in payloads if wanted is None or p["document_id"] in wanted)

    def points(
        self, collection: str, *, with_vectors: bool = True, filters: Mapping[str, Any] | None = None
    ) -> Iterator[Point]:
        for point in self._matching(collection, filters):
            if with_vectors:
                yield point
            else:
                yield Point(id=point.id, vector=np.zeros(0, np.float32), payload=dict(point.payload))

    def field_values(self, collection: str, key: str, *, exact: bool = True) -> list[Any]:
        check_indexed_field(key)
        return sorted({point.payload[key] for point in self._points(collection).values()})

    # searching
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
        using: Sequence[str] = ("dense",),
    ) -> list[SearchHit]:
        candidates = self._matching(collection, filters)
        rankings = []
        if vector is not None:
            rankings.extend(self._dense(candidates, vector, name) for name in using)
        if sparse is not None:
            rankings.append(self._sparse(collection, candidates, sparse))
        if not rankings:
            raise ConfigurationError("a search needs a dense vector, sparse terms, or both")
        scores = (
            rankings[0]
            if len(rankings) == 1
            else self._fuse(rankings, k, fusion or Fusion(), sparse is not None)
        )
        by_id = {point.id: point for point in candidates}
        hits = [
            SearchHit(
                id=point_id,
                score=score,
                payload=dict(by_id[point_id].payload),
                vector=np.asarray(by_id[point_id].vector) if with_vectors else None,
            )
            for point_id, score in scores.items()
            if score_threshold is None or score >= score_threshold
        ]
        return best_hits(hits, k)

    def search_documents(
        self,
        collection: str,
        vector: np.ndarray | None,
        k: int,
        filters: Mapping[str, Any] | None = None,
        *,
        sparse: SparseVector | None = None,
        fusion: Fusion | None = None,
        using: Sequence[str] = ("dense",),
    ) -> list[SearchHit]:
        return best_chunk_per_document(
            lambda limit: self.search(
                collection, vector, limit, filters, sparse=sparse, fusion=fusion, using=using
            ),
            k,
        )

    # internals
    def _points(self, collection: str) -> dict[str, Point]:
        if collection not in self._collections:
            raise StoreError(f"collection {collection!r} does not exist")
        return self._collections[collection][1]

    def _matching(self, collection: str, filters: Mapping[str, Any] | None) -> list[Point]:
        conditions = [(key.split("."), _allowed(key, value)) for key, value in (filters or {}).items()]
        return [
            point
            for point in self._points(collection).values()
            if all(_lookup(point.payload, path) in allowed for path, allowed in conditions)
        ]

    @staticmethod
    def _dense(points: list[Point], vector: np.ndarray, name: str) -> dict[str, float]:
        query = np.asarray(vector, dtype=np.float64)
        query = query / np.linalg.norm(query)
        stored = {p.id: p.vector if name == "dense" else p.named[name] for p in points}
        return {i: float(np.dot(query, v) / np.linalg.norm(v)) for i, v in stored.items()}

    def _sparse(self, collection: str, points: list[Point], terms: SparseVector) -> dict[str, float]:
        weighted = [p for p in self._points(collection).values() if p.sparse is not None]
        held = {index: sum(index in p.sparse.indices for p in weighted) for index in terms.indices}  # type: ignore[union-attr]
        idf = {i: np.log((len(weighted) - n + 0.5) / (n + 0.5) + 1) for i, n in held.items()}
        query = dict(zip(terms.indices, terms.values, strict=True))
        scores = {}
        for point in points:
            if point.sparse is not None:
                common = [
                    (i, v)
                    for i, v in zip(point.sparse.indices, point.sparse.values, strict=True)
                    if i in query
                ]
                if common:
                    scores[point.id] = float(sum(v * query[i] * idf[i] for i, v in common))
        return scores

    @staticmethod
    def _fuse(
        rankings: list[dict[str, float]], k: int, fusion: Fusion, sparse_last: bool
    ) -> dict[str, float]:
        fused: dict[str, float] = {}
        for side, scores in enumerate(rankings):
            top = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[: prefetch_limit(k)]
            if fusion.method == "dbsf":
                values = np.array([score for _, score in top])
                mean, spread = values.mean(), 3 * values.std()
                low, high = mean - spread, mean + spread
                for point_id, score in top:
                    share = (score - low) / (high - low) if high > low else 0.5
                    fused[point_id] = fused.get(point_id, 0.0) + float(np.clip(share, 0, 1))
            else:
                weight = fusion.sparse_weight if sparse_last and side == len(rankings) - 1 else 1.0
                for rank, (point_id, _) in enumerate(top):
                    fused[point_id] = fused.get(point_id, 0.0) + 1 / ((rank + 1) / weight + RRF_K - 1)
        return fused


def _allowed(key: str, value: Any) -> list[Any]:
    values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if not values:
        raise ConfigurationError(f"filter on {key!r} lists no values")
    if not all(isinstance(v, str | int | bool) for v in values):
        raise ConfigurationError(f"filter on {key!r}: such values cannot be matched (use str, int or bool)")
    return values


def _lookup(payload: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = payload
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        with MemoryStore() as store:
            yield store

    def test_it_is_a_vector_store(self, store: MemoryStore) -> None:
        assert isinstance(store, VectorStore)


def test_the_kit_imports_without_the_projects_tests(tmp_path) -> None:
    """``chunkwise.testing`` is a module of the package: it imports from anywhere, with no ``tests``."""
    script = (
        "import chunkwise.testing as kit, sys; print(kit.StoreConformance.__module__, 'tests' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["chunkwise.connectors.testing", "False"]
