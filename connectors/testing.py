"""The store conformance kit: pytest mixins that check a store behaves as chunkwise's own stores do.

Every store chunkwise ships (Qdrant Edge, qdrant-client's server and local modes) passes these
tests, and so must a new one: the pipeline, the retriever, ``copy`` and ``verify`` rely on nothing
else. Import it as ``chunkwise.testing`` (it needs pytest).

Writing a new store
-------------------
1. Implement :class:`~chunkwise.pipeline.protocols.VectorStore`: its writing role
   (:class:`~chunkwise.pipeline.protocols.StoreWriter`), reading role
   (:class:`~chunkwise.pipeline.protocols.StoreReader`) and searching role
   (:class:`~chunkwise.pipeline.protocols.StoreSearcher`), plus ``close``. A store keeps points
   (:class:`~chunkwise.pipeline.points.Point`: an id, a dense vector, optional sparse term
   weights and named vectors, a payload) in named collections, each stamped with the
   :class:`~chunkwise.pipeline.fingerprint.Fingerprint` of the pipeline that fills it; it never
   embeds. The helpers of ``chunkwise.connectors.qdrant_common`` (``check_collection_name``,
   ``check_stored_fingerprint``, ``best_hits``, ``best_chunk_per_document``) and
   ``chunkwise.pipeline.manifest.summarize`` do the parts that are the same for every store.
2. A Qdrant-like engine needs less: subclass :class:`~chunkwise.connectors.qdrant_store.QdrantStore`
   with a driver class (the methods of :class:`~chunkwise.connectors.qdrant_store.QdrantDriver`),
   as ``QdrantEdgeStore(EdgeDriver, QdrantStore)`` does.
3. Test it: subclass :class:`StoreConformance` and give it a ``store`` fixture that yields an
   empty, opened store; a store on disk also subclasses :class:`PersistenceTests`, with a
   ``location`` fixture and, if ``open_store`` cannot open it, an ``open_location`` method.

Example (a ``tests/test_my_store.py``)::

    import pytest
    from chunkwise.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self):
            with MyStore() as store:
                yield store

Scores follow Qdrant's: cosine similarity for dense vectors, dot product with the collection's
IDF for term weights, reciprocal rank fusion ``1 / (60 + rank)`` (weighted: ``1 / ((rank + 1) /
weight + 59)``) or distribution-based fusion for hybrid search; equal scores are ordered by id.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.qdrant_common import prefetch_limit
from chunkwise.connectors.stores import open_store
from chunkwise.pipeline.copying import copy_collection
from chunkwise.pipeline.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    StoreError,
    StoreInUseError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.ids import chunk_id, content_hash, document_id
from chunkwise.pipeline.points import Point, chunk_payload
from chunkwise.pipeline.protocols import VectorStore
from chunkwise.pipeline.types import Chunk, Document, Fusion

Store = Any  # a VectorStore; Any, so that the tests may set a store's own options (batch_size)
DIMENSION = 384
COLLECTION = "docs"
BM25 = Bm25Encoder()
FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2",
    dimension=DIMENSION,
    chunking={"strategy": "fixed", "chunk_size": 256, "overlap": 32},
    sparse=BM25.config,
)
# chunkwise's stores, as copy targets: ``{tmp}`` is a temporary folder
COPY_TARGETS = {"edge": "{tmp}/edge", "local-memory": ":memory:", "local-disk": "local:{tmp}/local"}
SECOND_PROCESS = """
import sys
from chunkwise.connectors.stores import open_store
from chunkwise.pipeline.errors import StoreInUseError

store = open_store(sys.argv[1])
try:
    store.count("docs")
except StoreInUseError as error:
    print("StoreInUseError:", error)
    sys.exit(3)
print("opened")
"""


@dataclass(frozen=True)
class StoredDoc:
    """A test document and the points written for it."""

    document: Document
    points: list[Point]

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def point_ids(self) -> set[str]:
        return {p.id for p in self.points}


def unit_vectors(count: int, seed: int) -> np.ndarray:
    """``count`` random unit vectors of ``DIMENSION`` (far apart from each other)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_doc(
    source: str, chunks: int, seed: int, version: str = "v1", width: int = 10, lang: str = "en"
) -> StoredDoc:
    """A document of ``chunks`` chunks of ``width`` characters, with real payloads, term weights and ids."""
    text = "".join(f"{version} c{i:03d} ".ljust(width)[:width] for i in range(chunks))
    document = Document(
        id=document_id(source),
        source=source,
        text=text,
        content_hash=content_hash(text.encode("utf-8")),
        metadata={"title": source.rsplit("/", 1)[-1], "lang": lang},
    )
    vectors = unit_vectors(chunks, seed)
    points = []
    for index in range(chunks):
        start, end = index * width, (index + 1) * width
        chunk = Chunk(
            id=chunk_id(document.id, document.content_hash, start, end),
            document_id=document.id,
            index=index,
            text=text[start:end],
            start=start,
            end=end,
            token_count=3,
            metadata={"element_kinds": ["paragraph"], "pages": [], "section": "Intro"},
        )
        points.append(
            Point(
                id=chunk.id,
                vector=vectors[index],
                payload=chunk_payload(document, chunk, FINGERPRINT, chunks),
                sparse=BM25.encode_documents([f"{source} {chunk.text}"])[0],
            )
        )
    return StoredDoc(document, points)


def all_ids(store: Store, collection: str = COLLECTION) -> set[str]:
    """Every point id in the collection, through ``search`` (k larger than the collection)."""
    hits = store.search(collection, unit_vectors(1, 999)[0], k=1000)
    return {hit.id for hit in hits}


def collection_exists(store: Store, collection: str) -> bool:
    """The store's own ``collection_exists`` if it has one, else whether ``collections`` lists it."""
    exists = getattr(store, "collection_exists", None)
    return bool(exists(collection)) if exists is not None else collection in store.collections()


def document_count(store: Store, collection: str) -> int:
    """The store's own ``document_count`` if it has one, else its distinct ``document_id`` values."""
    count = getattr(store, "document_count", None)
    return int(count(collection)) if count is not None else len(store.field_values(collection, "document_id"))


def set_option(store: Store, name: str, value: int) -> None:
    """Set a store's batch or page size where it has one (small ones make the tests cross pages)."""
    if hasattr(store, name):
        setattr(store, name, value)


def best_chunk_per_document(scores: dict[str, float], docs: tuple[StoredDoc, ...]) -> dict[str, tuple]:
    """Each document's best point id and score among chunk ``scores`` (documents with none left out)."""
    best = {}
    for doc in docs:
        scored = [(scores[p.id], p.id) for p in doc.points if p.id in scores]
        if scored:
            score, point_id = max(scored)
            best[doc.id] = (point_id, score)
    return best


class StoreFixtures:
    """The fixtures the tests share: ``store`` (given by the subclass) and ``filled`` (three
    documents in ``COLLECTION``: a.md of 4 chunks, b.md of 3, c.md of 2 in French)."""

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        raise NotImplementedError("give the test class a `store` fixture that yields an empty, opened store")

    @pytest.fixture
    def filled(self, store: Store) -> tuple[Store, StoredDoc, StoredDoc, StoredDoc]:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        a = make_doc("/docs/a.md", chunks=4, seed=1)
        b = make_doc("/docs/b.md", chunks=3, seed=2)
        c = make_doc("/docs/c.md", chunks=2, seed=3, lang="fr")
        for doc in (a, b, c):
            store.replace_document(COLLECTION, doc.id, doc.points)
        return store, a, b, c

    # PersistenceTests: whether a second store on the same location in this process shares the
    # first (Qdrant Edge) or is refused with StoreInUseError (qdrant-client's local mode)
    shares_folder_in_process = False
    second_process = SECOND_PROCESS  # a script that opens sys.argv[1]: exit 3 if it is in use

    def open_location(self, location: str) -> Any:
        """A store (not opened yet) on ``location``; by default ``open_store(location)``."""
        return open_store(location)


class CollectionTests(StoreFixtures):
    """Collections: creation stamped with a fingerprint, mismatches refused, names checked, dropping."""

    def test_ensure_collection_creates_it_with_the_fingerprint(self, store: Store) -> None:
        assert not collection_exists(store, COLLECTION)
        assert store.fingerprint(COLLECTION) is None

        store.ensure_collection(COLLECTION, FINGERPRINT)

        assert collection_exists(store, COLLECTION)
        assert store.fingerprint(COLLECTION) == FINGERPRINT
        assert store.count(COLLECTION) == 0

    def test_ensure_collection_again_with_same_fingerprint_keeps_data(self, store: Store) -> None:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        doc = make_doc("/docs/a.md", chunks=3, seed=1)
        store.replace_document(COLLECTION, doc.id, doc.points)

        same = Fingerprint(
            model=FINGERPRINT.model,
            dimension=FINGERPRINT.dimension,
            chunking=dict(reversed(list(FINGERPRINT.chunking.items()))),  # key order does not matter
            sparse=FINGERPRINT.sparse,
        )
        store.ensure_collection(COLLECTION, same)

        assert store.count(COLLECTION) == 3
        assert store.fingerprint(COLLECTION) == FINGERPRINT

    @pytest.mark.parametrize(
        "other",
        [
            replace(FINGERPRINT, model="BAAI/bge-small-en-v1.5"),
            replace(FINGERPRINT, dimension=768),
            replace(FINGERPRINT, chunking={"strategy": "late"}),
            replace(FINGERPRINT, chunking={**FINGERPRINT.chunking, "chunk_size": 512}),
            replace(FINGERPRINT, sparse={**BM25.config, "k": 0.9}),
            replace(FINGERPRINT, sparse=None),
        ],
        ids=["model", "dimension", "strategy", "chunk_size", "sparse options", "no sparse"],
    )
    def test_ensure_collection_with_another_fingerprint_raises(
        self, store: Store, other: Fingerprint
    ) -> None:
        store.ensure_collection(COLLECTION, FINGERPRINT)

        with pytest.raises(FingerprintMismatchError):
            store.ensure_collection(COLLECTION, other)

        assert store.fingerprint(COLLECTION) == FINGERPRINT  # the stored one is left as it was

    def test_operations_on_a_missing_collection_raise_store_error(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.count("missing")

    def test_collections_lists_what_the_store_holds(self, store: Store) -> None:
        assert store.collections() == []

        store.ensure_collection("one", FINGERPRINT)
        store.ensure_collection("two", FINGERPRINT)
        store.drop_collection("one")

        assert store.collections() == ["two"]

    @pytest.mark.parametrize("name", ["", "../escape", "a/b", "with space", ".hidden", "x" * 129])
    def test_unusable_collection_names_are_refused(self, store: Store, name: str) -> None:
        with pytest.raises(ConfigurationError, match="collection name"):
            store.ensure_collection(name, FINGERPRINT)


class WriteTests(StoreFixtures):
    """Writing: documents replaced whole (new points first, stale ones after), deleted, and the manifest."""

    def test_replace_document_writes_its_points(self, filled) -> None:
        store, a, b, c = filled

        assert store.count(COLLECTION) == 4 + 3 + 2
        assert all_ids(store) == a.point_ids | b.point_ids | c.point_ids
        assert store.count(COLLECTION, {"document_id": a.id}) == 4

    def test_replace_document_in_several_batches(self, store: Store) -> None:
        set_option(store, "batch_size", 2)
        store.ensure_collection(COLLECTION, FINGERPRINT)
        doc = make_doc("/docs/long.md", chunks=7, seed=4)

        store.replace_document(COLLECTION, doc.id, doc.points)

        assert store.count(COLLECTION) == 7
        assert all_ids(store) == doc.point_ids

    def test_replace_with_fewer_points_removes_stale_ones_of_that_document_only(self, filled) -> None:
        store, a, b, c = filled
        # The first two points are rewritten under their ids (as when a crashed write is redone),
        # the other two disappear.
        vectors = unit_vectors(2, seed=11)
        rewritten = [
            Point(id=point.id, vector=vector, payload={**point.payload, "text": f"rewritten {i}"})
            for i, (point, vector) in enumerate(zip(a.points[:2], vectors, strict=True))
        ]

        store.replace_document(COLLECTION, a.id, rewritten)

        assert store.count(COLLECTION, {"document_id": a.id}) == 2
        assert store.count(COLLECTION) == 2 + 3 + 2
        assert all_ids(store) == {p.id for p in rewritten} | b.point_ids | c.point_ids
        hits = store.search(COLLECTION, vectors[0], k=1)
        assert hits[0].id == rewritten[0].id
        assert hits[0].payload["text"] == "rewritten 0"

    def test_replace_with_entirely_new_ids_removes_all_old_points(self, filled) -> None:
        store, a, b, c = filled
        new_a = make_doc("/docs/a.md", chunks=3, seed=12, version="v2", width=7)
        assert not new_a.point_ids & a.point_ids

        store.replace_document(COLLECTION, a.id, new_a.points)

        assert all_ids(store) == new_a.point_ids | b.point_ids | c.point_ids
        stale_hits = store.search(COLLECTION, a.points[3].vector, k=1000)
        assert not {hit.id for hit in stale_hits} & a.point_ids

    def test_a_known_new_document_is_written_without_looking_for_stale_points(self, filled) -> None:
        store, a, b, c = filled
        new_a = make_doc("/docs/a.md", chunks=2, seed=21, version="v2")

        # The caller's word is taken: nothing of the document is looked for, so a's old points stay.
        store.replace_document(COLLECTION, a.id, new_a.points, known_new=True)

        assert all_ids(store) == a.point_ids | new_a.point_ids | b.point_ids | c.point_ids

    def test_delete_document_removes_only_that_document(self, filled) -> None:
        store, a, b, c = filled

        store.delete_document(COLLECTION, b.id)

        assert store.count(COLLECTION, {"document_id": b.id}) == 0
        assert store.count(COLLECTION) == 4 + 2
        assert all_ids(store) == a.point_ids | c.point_ids
        assert document_count(store, COLLECTION) == 2

    def test_refresh_document_renames_its_points_without_touching_vectors(self, filled) -> None:
        store, a, b, _c = filled
        before = {p.id: p for p in store.points(COLLECTION, filters={"document_id": a.id})}

        store.refresh_document(COLLECTION, a.id, "v9", {"lang": "de", "commit": "abc"})

        after = {p.id: p for p in store.points(COLLECTION, filters={"document_id": a.id})}
        assert set(after) == set(before) == a.point_ids
        for point_id, point in after.items():
            np.testing.assert_allclose(point.vector, before[point_id].vector, atol=1e-6)
            assert point.payload["source_version"] == "v9"
            assert point.payload["metadata"] == {"title": "a.md", "lang": "de", "commit": "abc"}
            assert point.payload["text"] == before[point_id].payload["text"]
        stored = store.stored_documents(COLLECTION)
        assert stored[a.id].is_described_by("v9", {"commit": "abc"})
        assert stored[a.id].is_current(a.document.content_hash, FINGERPRINT.digest)
        assert stored[b.id].metadata == b.document.metadata  # the other documents are left alone
        assert not stored[b.id].is_described_by("v9", {})

    def test_delete_unknown_document_changes_nothing(self, filled) -> None:
        store, _a, _b, _c = filled

        store.delete_document(COLLECTION, document_id("/docs/never-indexed.md"))

        assert store.count(COLLECTION) == 9

    def test_stored_documents_count_each_documents_points_by_version(self, filled) -> None:
        store, a, b, c = filled

        stored = store.stored_documents(COLLECTION)

        assert set(stored) == {a.id, b.id, c.id}
        for doc in (a, b, c):
            entry = stored[doc.id]
            assert entry.source == doc.document.source
            assert entry.is_current(doc.document.content_hash, FINGERPRINT.digest)
            [version] = entry.points
            assert entry.points[version] == len(doc.points) == version.chunk_count
        assert not stored[a.id].is_current(b.document.content_hash, FINGERPRINT.digest)
        assert not stored[a.id].is_current(a.document.content_hash, "another pipeline")

    def test_stored_documents_of_some_ids_only(self, filled) -> None:
        store, a, b, c = filled
        set_option(store, "scroll_page", 2)  # a's and c's points span pages

        stored = store.stored_documents(COLLECTION, document_ids=[a.id, c.id, document_id("/docs/absent.md")])

        assert set(stored) == {a.id, c.id}
        assert stored == {
            key: entry for key, entry in store.stored_documents(COLLECTION).items() if key != b.id
        }
        assert store.stored_documents(COLLECTION, document_ids=[]) == {}

    def test_stored_documents_follow_replacement_and_deletion(self, filled) -> None:
        store, a, b, _c = filled
        new_a = make_doc("/docs/a.md", chunks=1, seed=13, version="v2")
        assert new_a.document.content_hash != a.document.content_hash

        store.replace_document(COLLECTION, a.id, new_a.points)
        store.delete_document(COLLECTION, b.id)

        stored = store.stored_documents(COLLECTION)
        assert b.id not in stored
        assert stored[a.id].is_current(new_a.document.content_hash, FINGERPRINT.digest)

    def test_a_half_written_new_version_is_not_current(self, filled) -> None:
        store, a, _b, _c = filled
        new_a = make_doc("/docs/a.md", chunks=4, seed=13, version="v2")
        store.write_points(COLLECTION, new_a.points[:2])

        entry = store.stored_documents(COLLECTION)[a.id]

        assert len(entry.points) == 2  # the old version, whole, and half of the new one
        assert not entry.is_current(new_a.document.content_hash, FINGERPRINT.digest)
        assert not entry.is_current(a.document.content_hash, FINGERPRINT.digest)

    def test_stored_documents_read_every_page(self, store: Store) -> None:
        set_option(store, "scroll_page", 3)
        store.ensure_collection(COLLECTION, FINGERPRINT)
        docs = [make_doc(f"/docs/{i}.md", chunks=i + 1, seed=i) for i in range(4)]
        for doc in docs:
            store.replace_document(COLLECTION, doc.id, doc.points)

        stored = store.stored_documents(COLLECTION)

        assert {key: sum(entry.points.values()) for key, entry in stored.items()} == {
            doc.id: len(doc.points) for doc in docs
        }

    def test_set_fingerprint_restamps_the_collection_and_keeps_its_points(self, filled) -> None:
        store, *_ = filled
        rechunked = Fingerprint(
            model=FINGERPRINT.model, dimension=DIMENSION, chunking={"chunk_size": 64}, sparse=None
        )

        store.set_fingerprint(COLLECTION, rechunked)

        assert store.fingerprint(COLLECTION) == rechunked
        store.ensure_collection(COLLECTION, rechunked)
        assert store.count(COLLECTION) == 9


class SearchTests(StoreFixtures):
    """Dense search, filters, counts, and the best chunk per document."""

    def test_search_returns_the_nearest_point_first(self, filled) -> None:
        store, _a, b, _c = filled
        target = b.points[1]

        hits = store.search(COLLECTION, target.vector, k=5)

        assert len(hits) == 5
        assert hits[0].id == target.id
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert all(hit.score < 0.5 for hit in hits[1:])  # random 384-d vectors are far apart
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].payload == target.payload
        assert hits[0].text == target.payload["text"]

    def test_search_accepts_float64_and_lists_of_the_vector(self, filled) -> None:
        store, _a, _b, c = filled
        target = c.points[0]

        as_float64 = store.search(COLLECTION, np.asarray(target.vector, dtype=np.float64), k=1)
        as_list = store.search(COLLECTION, target.vector.tolist(), k=1)

        assert [hit.id for hit in as_float64] == [target.id]
        assert [hit.id for hit in as_list] == [target.id]

    def test_search_filter_by_source(self, filled) -> None:
        store, a, _b, c = filled

        # Query with one of a's vectors, but only c's points may come back.
        hits = store.search(COLLECTION, a.points[0].vector, k=100, filters={"source": "/docs/c.md"})

        assert {hit.id for hit in hits} == c.point_ids
        assert {hit.payload["source"] for hit in hits} == {"/docs/c.md"}

    def test_search_filter_by_a_list_of_document_ids(self, filled) -> None:
        store, a, b, c = filled

        hits = store.search(COLLECTION, b.points[0].vector, k=100, filters={"document_id": [a.id, c.id]})

        assert {hit.id for hit in hits} == a.point_ids | c.point_ids
        assert b.points[0].id not in {hit.id for hit in hits}

    def test_search_with_several_filter_keys_requires_all(self, filled) -> None:
        store, a, _b, _c = filled

        both = store.search(
            COLLECTION, a.points[0].vector, k=100, filters={"document_id": a.id, "source": "/docs/a.md"}
        )
        contradicting = store.search(
            COLLECTION, a.points[0].vector, k=100, filters={"document_id": a.id, "source": "/docs/b.md"}
        )

        assert {hit.id for hit in both} == a.point_ids
        assert contradicting == []

    def test_search_documents_gives_each_document_once_as_its_best_chunk(self, filled) -> None:
        store, a, b, c = filled
        query = b.points[2].vector
        expected = {}
        for doc in (a, b, c):
            scores = [float(np.dot(query, point.vector)) for point in doc.points]
            best = int(np.argmax(scores))
            expected[doc.id] = (doc.points[best].id, scores[best])

        hits = store.search_documents(COLLECTION, query, k=10)

        assert hits[0].payload["document_id"] == b.id
        assert sorted(hit.payload["document_id"] for hit in hits) == sorted(expected)
        for hit in hits:
            best_id, best_score = expected[hit.payload["document_id"]]
            assert hit.id == best_id
            assert hit.score == pytest.approx(best_score, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_search_documents_honours_k_and_filters(self, filled) -> None:
        store, a, b, c = filled

        top_one = store.search_documents(COLLECTION, a.points[0].vector, k=1)
        without_a = store.search_documents(
            COLLECTION, a.points[0].vector, k=5, filters={"document_id": [b.id, c.id]}
        )

        assert [hit.payload["document_id"] for hit in top_one] == [a.id]
        assert {hit.payload["document_id"] for hit in without_a} == {b.id, c.id}

    def test_drop_collection_removes_it_and_ignores_a_missing_one(self, filled) -> None:
        store, *_ = filled

        store.drop_collection(COLLECTION)
        store.drop_collection(COLLECTION)

        assert not collection_exists(store, COLLECTION)
        assert store.fingerprint(COLLECTION) is None

    def test_count_with_filters(self, filled) -> None:
        store, a, _b, c = filled

        assert store.count(COLLECTION) == 9
        assert store.count(COLLECTION, {"document_id": a.id}) == 4
        assert store.count(COLLECTION, {"source": "/docs/b.md"}) == 3
        assert store.count(COLLECTION, {"document_id": [a.id, c.id]}) == 6
        assert store.count(COLLECTION, {"source": "/docs/none.md"}) == 0
        assert store.count(COLLECTION, {}) == 9

    def test_document_count(self, store: Store) -> None:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        assert document_count(store, COLLECTION) == 0

        for index, chunks in enumerate([5, 1, 3]):
            doc = make_doc(f"/docs/{index}.md", chunks=chunks, seed=index)
            store.replace_document(COLLECTION, doc.id, doc.points)

        assert document_count(store, COLLECTION) == 3
        assert store.count(COLLECTION) == 9

    def test_search_filter_on_any_metadata_key(self, filled) -> None:
        store, a, b, c = filled

        french = store.search(COLLECTION, a.points[0].vector, k=100, filters={"metadata.lang": "fr"})
        titled = store.count(COLLECTION, {"metadata.title": ["a.md", "b.md"]})

        assert {hit.id for hit in french} == c.point_ids
        assert titled == len(a.points) + len(b.points)

    def test_a_filter_value_that_cannot_be_matched_is_refused(self, filled) -> None:
        store, *_ = filled

        with pytest.raises(ConfigurationError, match="start"):
            store.count(COLLECTION, {"start": 1.5})
        with pytest.raises(ConfigurationError, match="no values"):
            store.count(COLLECTION, {"source": []})

    def test_search_with_a_score_threshold_drops_weaker_hits(self, filled) -> None:
        store, _a, b, _c = filled
        target = b.points[0]

        hits = store.search(COLLECTION, target.vector, k=10, score_threshold=0.9)

        assert [hit.id for hit in hits] == [target.id]


class HybridSearchTests(StoreFixtures):
    """Term (sparse) and hybrid search, rank fusion, reading points and field values back."""

    def test_sparse_search_finds_the_chunks_holding_the_terms(self, filled) -> None:
        store, _a, b, _c = filled

        both_terms = store.search(COLLECTION, None, k=5, sparse=BM25.encode_query("b.md c001"))
        by_source = store.search(COLLECTION, None, k=3, sparse=BM25.encode_query("b.md"))

        assert both_terms[0].id == b.points[1].id  # the only chunk with all the terms
        assert {hit.id for hit in by_source} == b.point_ids
        assert all(hit.score > 0 for hit in both_terms + by_source)

    def test_rarer_terms_weigh_more_through_the_collections_idf(self, filled) -> None:
        store, _a, _b, c = filled
        # "c000" is in every document's first chunk, "c.md" only in c's: IDF must favour c's chunks.
        hits = store.search(COLLECTION, None, k=3, sparse=BM25.encode_query("c000 c.md"))

        assert hits[0].id == c.points[0].id
        assert hits[1].payload["document_id"] == c.id

    def test_hybrid_search_fuses_dense_and_sparse_rankings_by_reciprocal_rank(self, filled) -> None:
        store, a, b, _c = filled
        only_in_a3 = BM25.encode_query("c003")  # a is the only document with a fourth chunk
        k = 4
        dense_ranking = [hit.id for hit in store.search(COLLECTION, b.points[1].vector, k=prefetch_limit(k))]
        sparse_ranking = [
            hit.id for hit in store.search(COLLECTION, None, k=prefetch_limit(k), sparse=only_in_a3)
        ]
        assert sparse_ranking == [a.points[3].id]
        expected: dict[str, float] = {}
        for ranking in (dense_ranking, sparse_ranking):  # Qdrant's fusion: 1 / (60 + rank), from rank 0
            for rank, point_id in enumerate(ranking):
                expected[point_id] = expected.get(point_id, 0.0) + 1 / (60 + rank)

        hits = store.search(COLLECTION, b.points[1].vector, k=k, sparse=only_in_a3)

        assert {hit.id: hit.score for hit in hits} == pytest.approx(
            dict(sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:k]), rel=1e-3
        )
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        assert {a.points[3].id, b.points[1].id} <= {hit.id for hit in hits}  # each side's best

    def test_weighted_rank_fusion_weighs_the_sparse_ranking(self, filled) -> None:
        store, a, b, _c = filled
        query, terms, k = b.points[1].vector, BM25.encode_query("c003"), 4
        dense = [hit.id for hit in store.search(COLLECTION, query, k=prefetch_limit(k))]
        sparse = [hit.id for hit in store.search(COLLECTION, None, k=prefetch_limit(k), sparse=terms)]
        assert sparse == [a.points[3].id]
        expected: dict[str, float] = {}
        for ranking, weight in ((dense, 1.0), (sparse, 3.0)):  # Qdrant's: the rank divided by the weight
            for rank, point_id in enumerate(ranking):
                expected[point_id] = expected.get(point_id, 0.0) + 1 / ((rank + 1) / weight + 59)

        hits = store.search(COLLECTION, query, k=k, sparse=terms, fusion=Fusion("rrf", 3.0))

        assert {hit.id: hit.score for hit in hits} == pytest.approx(
            dict(sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:k]), rel=1e-3
        )

    def test_distribution_based_fusion_joins_both_rankings(self, filled) -> None:
        store, a, b, _c = filled
        terms = BM25.encode_query("c003")  # only a's fourth chunk holds it

        fused = store.search(COLLECTION, b.points[1].vector, k=4, sparse=terms, fusion=Fusion("dbsf"))
        by_rank = store.search(COLLECTION, b.points[1].vector, k=4, sparse=terms)

        assert {a.points[3].id, b.points[1].id} <= {hit.id for hit in fused}  # each side's best
        assert [hit.score for hit in fused] == sorted((hit.score for hit in fused), reverse=True)
        assert [hit.score for hit in fused] != pytest.approx([hit.score for hit in by_rank])
        documents = store.search_documents(
            COLLECTION, b.points[1].vector, k=2, sparse=terms, fusion=Fusion("dbsf")
        )
        assert len({hit.payload["document_id"] for hit in documents}) == 2

    def test_hybrid_search_honours_filters(self, filled) -> None:
        store, a, _b, c = filled

        hits = store.search(
            COLLECTION,
            a.points[0].vector,
            k=10,
            filters={"source": "/docs/c.md"},
            sparse=BM25.encode_query("c001"),
        )

        assert {hit.id for hit in hits} == c.point_ids

    def test_sparse_search_documents_ranks_documents_by_their_best_matching_chunk(self, filled) -> None:
        store, a, b, c = filled
        terms = BM25.encode_query("b.md c001")  # b's source in all of b's chunks; c001 in a1, b1 and c1
        chunk_scores = {hit.id: hit.score for hit in store.search(COLLECTION, None, k=100, sparse=terms)}
        expected = best_chunk_per_document(chunk_scores, (a, b, c))

        hits = store.search_documents(COLLECTION, None, k=10, sparse=terms)
        only_a = store.search_documents(COLLECTION, None, k=10, sparse=BM25.encode_query("c003"))

        assert [hit.id for hit in hits[:1]] == [b.points[1].id]  # the only chunk with both terms
        assert {hit.payload["document_id"]: (hit.id, hit.score) for hit in hits} == {
            doc_id: (point_id, pytest.approx(score, rel=1e-4))
            for doc_id, (point_id, score) in expected.items()
        }
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert [hit.id for hit in only_a] == [a.points[3].id]  # documents without the terms are left out

    def test_hybrid_search_documents_fuses_chunk_rankings_then_keeps_each_documents_best(
        self, filled
    ) -> None:
        store, a, b, c = filled
        vector, terms = c.points[1].vector, BM25.encode_query("c003 c001")
        rankings = [
            store.search(COLLECTION, vector, k=100),
            store.search(COLLECTION, None, k=100, sparse=terms),
        ]
        fused: dict[str, float] = {}
        for ranking in rankings:
            for rank, hit in enumerate(ranking):
                fused[hit.id] = fused.get(hit.id, 0.0) + 1 / (60 + rank)
        expected = best_chunk_per_document(fused, (a, b, c))

        hits = store.search_documents(COLLECTION, vector, k=10, sparse=terms)

        assert hits[0].id == c.points[1].id  # first of the dense ranking and among the sparse matches
        assert {hit.payload["document_id"]: (hit.id, hit.score) for hit in hits} == {
            doc_id: (point_id, pytest.approx(score, rel=1e-3))
            for doc_id, (point_id, score) in expected.items()
        }
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_search_documents_by_terms_honours_k_and_filters(self, filled) -> None:
        store, a, b, c = filled
        terms = BM25.encode_query("c001")

        top_sparse = store.search_documents(COLLECTION, None, k=2, sparse=terms)
        sparse_without_b = store.search_documents(
            COLLECTION, None, k=5, filters={"document_id": [a.id, c.id]}, sparse=terms
        )
        hybrid_in_b = store.search_documents(
            COLLECTION, a.points[0].vector, k=5, filters={"source": "/docs/b.md"}, sparse=terms
        )

        assert len(top_sparse) == 2 and all(hit.payload["chunk_index"] == 1 for hit in top_sparse)
        assert {hit.payload["document_id"] for hit in sparse_without_b} == {a.id, c.id}
        assert [hit.payload["document_id"] for hit in hybrid_in_b] == [b.id]

    def test_a_search_needs_a_query(self, filled) -> None:
        store, *_ = filled

        with pytest.raises(ConfigurationError, match="dense vector, sparse terms"):
            store.search(COLLECTION, None, k=3)
        with pytest.raises(ConfigurationError, match="dense vector, sparse terms"):
            store.search_documents(COLLECTION, None, k=3)

    def test_points_gives_back_every_point_with_its_vectors_and_payload(self, filled) -> None:
        store, a, b, c = filled
        written = {p.id: p for doc in (a, b, c) for p in doc.points}

        read = {p.id: p for p in store.points(COLLECTION)}

        assert read.keys() == written.keys()
        for point_id, point in read.items():
            np.testing.assert_allclose(point.vector, written[point_id].vector, atol=1e-6)
            assert point.payload == written[point_id].payload
            assert point.sparse is not None and written[point_id].sparse is not None
            assert dict(zip(point.sparse.indices, point.sparse.values, strict=True)) == pytest.approx(
                dict(zip(written[point_id].sparse.indices, written[point_id].sparse.values, strict=True))
            )

    def test_points_with_filters_gives_back_only_the_matching_points(self, filled) -> None:
        store, a, b, _c = filled

        neighbours = store.points(
            COLLECTION, with_vectors=False, filters={"document_id": a.id, "chunk_index": [1, 2, 9]}
        )

        assert sorted(p.payload["chunk_index"] for p in neighbours) == [1, 2]
        only_b = list(store.points(COLLECTION, with_vectors=False, filters={"source": "/docs/b.md"}))
        assert {p.id for p in only_b} == b.point_ids
        assert all(p.vector.size == 0 for p in only_b)

    def test_field_values_lists_each_distinct_source_and_document_once(self, filled) -> None:
        store, a, b, c = filled
        assert sorted(store.field_values(COLLECTION, "source")) == ["/docs/a.md", "/docs/b.md", "/docs/c.md"]

        store.delete_document(COLLECTION, b.id)

        assert sorted(store.field_values(COLLECTION, "document_id")) == sorted([a.id, c.id])
        assert set(store.field_values(COLLECTION, "source", exact=False)) >= {"/docs/a.md", "/docs/c.md"}
        with pytest.raises(ConfigurationError, match="no index"):
            store.field_values(COLLECTION, "text")

    def test_search_brings_dense_vectors_only_when_asked(self, filled) -> None:
        store, a, *_ = filled
        written = {p.id: p.vector for p in a.points}

        plain = store.search(COLLECTION, a.points[0].vector, k=3)
        with_vectors = store.search(COLLECTION, a.points[0].vector, k=3, sparse=BM25.encode_query("c001"))

        assert all(hit.vector is None for hit in plain)
        hits = store.search(COLLECTION, a.points[0].vector, k=3, with_vectors=True)
        np.testing.assert_allclose(hits[0].vector, written[hits[0].id], atol=1e-6)
        assert all(hit.vector is None for hit in with_vectors)

    def test_tied_hybrid_scores_come_back_in_one_order_every_time(self, store: Store) -> None:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        big = make_doc("/docs/big.md", chunks=50, seed=7)
        store.replace_document(COLLECTION, big.id, big.points)
        # chunk 49 is the only one with the term and the last of the dense ranking, past what the
        # dense side brings to the fusion: it ties with the dense side's first (1/60 each)
        query, terms = -big.points[49].vector, BM25.encode_query("c049")

        runs = {
            tuple(hit.id for hit in store.search(COLLECTION, query, k=3, sparse=terms)) for _ in range(12)
        }

        assert len(runs) == 1
        hits = store.search(COLLECTION, query, k=3, sparse=terms)
        assert hits[0].score == pytest.approx(hits[1].score) == pytest.approx(1 / 60, rel=1e-3)
        assert big.points[49].id in {hits[0].id, hits[1].id}
        assert hits[0].id < hits[1].id  # ties are ordered by id


class CopyTests(StoreFixtures):
    """Copying a collection to and from chunkwise's stores keeps points, payloads and rankings."""

    @pytest.mark.parametrize("target_backend", list(COPY_TARGETS))
    def test_a_copy_to_any_backend_keeps_points_payloads_and_search_results(
        self, filled, tmp_path: Path, target_backend: str
    ) -> None:
        store, a, _b, c = filled
        queries = [  # rankings without ties, so that their order is the same everywhere
            (a.points[1].vector, None),
            (None, BM25.encode_query("c003")),
            (c.points[0].vector, BM25.encode_query("c003")),
        ]
        before = [store.search(COLLECTION, vector, k=5, sparse=sparse) for vector, sparse in queries]

        with open_store(COPY_TARGETS[target_backend].format(tmp=tmp_path / "target")) as target:
            copied = copy_collection(store, target, COLLECTION, batch_points=4)

            assert copied == 9 == target.count(COLLECTION)
            assert target.fingerprint(COLLECTION) == FINGERPRINT
            assert target.stored_documents(COLLECTION) == store.stored_documents(COLLECTION)
            after = [target.search(COLLECTION, vector, k=5, sparse=sparse) for vector, sparse in queries]
            for found, expected in zip(after, before, strict=True):
                assert [hit.id for hit in found] == [hit.id for hit in expected]
                assert [hit.payload for hit in found] == [hit.payload for hit in expected]
                assert [hit.score for hit in found] == pytest.approx(
                    [hit.score for hit in expected], abs=1e-5
                )

    def test_a_copy_onto_a_collection_holding_points_needs_replace(self, filled, tmp_path: Path) -> None:
        store, a, *_ = filled
        with open_store(str(tmp_path / "target")) as target:
            copy_collection(store, target, COLLECTION)
            store.delete_document(COLLECTION, a.id)

            with pytest.raises(ConfigurationError, match="replace"):
                copy_collection(store, target, COLLECTION)
            assert target.count(COLLECTION) == 9  # untouched

            copy_collection(store, target, COLLECTION, replace=True)
            assert target.count(COLLECTION) == 9 - len(a.points)

    def test_copying_a_missing_collection_is_an_error(self, store: Store, tmp_path: Path) -> None:
        with (
            open_store(str(tmp_path / "target")) as target,
            pytest.raises(StoreError, match="does not exist"),
        ):
            copy_collection(store, target, "missing")


class PersistenceTests(StoreFixtures):
    """A store on disk: what it holds outlives it, and a second store on its location is shared or
    refused. Needs the ``location`` fixture (a location no store holds yet) and ``open_location``."""

    @pytest.fixture
    def location(self) -> str:
        raise NotImplementedError("give the test class a `location` fixture: where a store may be created")

    def test_data_and_fingerprint_persist_after_close(self, location: str) -> None:
        doc = make_doc("/docs/a.md", chunks=3, seed=1)
        with self.open_location(location) as first:
            first.ensure_collection(COLLECTION, FINGERPRINT)
            first.replace_document(COLLECTION, doc.id, doc.points)

        with self.open_location(location) as reopened:
            assert reopened.count(COLLECTION) == 3
            assert reopened.fingerprint(COLLECTION) == FINGERPRINT
            reopened.ensure_collection(COLLECTION, FINGERPRINT)
            assert reopened.stored_documents(COLLECTION)[doc.id].is_current(
                doc.document.content_hash, FINGERPRINT.digest
            )
            hits = reopened.search(COLLECTION, doc.points[2].vector, k=1)
            assert hits[0].id == doc.points[2].id
            assert hits[0].score == pytest.approx(1.0, abs=1e-4)
            sparse_hits = reopened.search(COLLECTION, None, k=1, sparse=BM25.encode_query("c001"))
            assert sparse_hits[0].id == doc.points[1].id

    def test_a_second_store_on_the_same_folder_in_this_process_shares_it_or_is_refused(
        self,
        location: str,
    ) -> None:
        """Qdrant Edge: every store of a folder in one process shares one open store. qdrant-client's
        local mode allows one client per folder, so a second is refused."""
        doc = make_doc("/docs/a.md", chunks=4, seed=1)
        with self.open_location(location) as first:
            first.ensure_collection(COLLECTION, FINGERPRINT)
            second = self.open_location(location)  # nothing is opened yet
            if self.shares_folder_in_process:
                with second:
                    second.replace_document(COLLECTION, doc.id, doc.points)
                    assert first.count(COLLECTION) == 4  # one store: each sees the other's writes
                assert all_ids(first) == doc.point_ids  # closing the second left the first open
            else:
                with pytest.raises(StoreInUseError, match="in use"):
                    second.count(COLLECTION)
                assert first.count(COLLECTION) == 0  # the first one still works
            assert first.fingerprint(COLLECTION) == FINGERPRINT

    def test_second_store_in_another_process_is_refused(self, location: str) -> None:
        doc = make_doc("/docs/a.md", chunks=4, seed=1)
        with self.open_location(location) as first:
            first.ensure_collection(COLLECTION, FINGERPRINT)
            first.replace_document(COLLECTION, doc.id, doc.points)

            result = subprocess.run(
                [sys.executable, "-c", self.second_process, location],
                capture_output=True,
                text=True,
                timeout=120,
            )

            assert result.returncode == 3, result.stdout + result.stderr
            assert "in use" in result.stdout
            assert first.count(COLLECTION) == 4  # the first store is unharmed
            assert all_ids(first) == doc.point_ids

        with self.open_location(location) as reopened:
            assert reopened.count(COLLECTION) == 4
            assert reopened.fingerprint(COLLECTION) == FINGERPRINT


NAMED_FINGERPRINT = replace(
    FINGERPRINT,
    chunking={"strategy": "late"},
    vectors={"alone": {"kind": "dense", "size": DIMENSION, "strategy": "fixed"}},
)


class NamedVectorTests(StoreFixtures):
    """Dense vectors stored under a name beside the dense one (``Fingerprint.vectors``, here
    ``alone``): kept with their points, searched by name (``using``), several rankings fused."""

    @pytest.fixture
    def named(self, store: Store) -> tuple[Store, list[Point]]:
        store.ensure_collection(COLLECTION, NAMED_FINGERPRINT)
        doc = make_doc("/docs/n.md", chunks=6, seed=4)
        alone = unit_vectors(6, 5)
        points = [replace(point, named={"alone": alone[i]}) for i, point in enumerate(doc.points)]
        store.replace_document(COLLECTION, doc.id, points)
        return store, points

    def test_named_vectors_are_kept_with_their_points(self, named) -> None:
        store, points = named
        read = {point.id: point for point in store.points(COLLECTION)}

        assert store.fingerprint(COLLECTION) == NAMED_FINGERPRINT
        for point in points:
            np.testing.assert_allclose(read[point.id].named["alone"], point.named["alone"], atol=1e-6)
            np.testing.assert_allclose(read[point.id].vector, point.vector, atol=1e-6)

    def test_using_searches_a_named_vector_and_fuses_several(self, named) -> None:
        store, points = named
        query = points[2].named["alone"]
        ids = [point.id for point in points]

        def ranked(vectors: list[np.ndarray]) -> list[str]:
            return [ids[i] for i in np.argsort(-(np.stack(vectors) @ query))]

        by_alone = ranked([point.named["alone"] for point in points])
        by_dense = ranked([point.vector for point in points])
        alone = store.search(COLLECTION, query, k=6, using=("alone",))
        fused = store.search(COLLECTION, query, k=6, using=("dense", "alone"), fusion=Fusion("rrf"))

        assert [hit.id for hit in alone] == by_alone
        rrf = {i: 1 / (60 + by_alone.index(i)) + 1 / (60 + by_dense.index(i)) for i in ids}  # ranks from 0
        assert [hit.id for hit in fused] == sorted(ids, key=lambda i: (-rrf[i], i))
        assert [hit.score for hit in fused] == pytest.approx(sorted(rrf.values(), reverse=True), rel=1e-5)

    def test_a_weighted_fusion_weighs_the_sparse_ranking_only(self, named) -> None:
        store, points = named
        query, terms = points[2].named["alone"], BM25.encode_query("c004")  # one match: no ties
        both = ("dense", "alone")
        plain = store.search(COLLECTION, query, k=6, using=both, fusion=Fusion("rrf"))
        weighted = store.search(COLLECTION, query, k=6, using=both, fusion=Fusion("rrf", 0.5))
        hybrid = store.search(COLLECTION, query, k=6, sparse=terms, using=both, fusion=Fusion("rrf", 0.5))

        assert [(hit.id, hit.score) for hit in weighted] == [(hit.id, hit.score) for hit in plain]
        rankings = [
            ([hit.id for hit in store.search(COLLECTION, query, k=6, using=(name,))], 1.0) for name in both
        ]
        rankings.append(([hit.id for hit in store.search(COLLECTION, None, k=6, sparse=terms)], 0.5))
        expected: dict[str, float] = {}
        for ids, weight in rankings:
            for rank, point_id in enumerate(ids):
                expected[point_id] = expected.get(point_id, 0.0) + 1 / ((rank + 1) / weight + 59)
        assert {hit.id: hit.score for hit in hybrid} == pytest.approx(expected, rel=1e-5)

    def test_a_copy_keeps_the_named_vectors(self, named, tmp_path: Path) -> None:
        store, points = named
        with open_store(COPY_TARGETS["edge"].format(tmp=tmp_path / "target")) as target:
            copy_collection(store, target, COLLECTION)

            assert target.fingerprint(COLLECTION) == NAMED_FINGERPRINT
            copied = {point.id: point for point in target.points(COLLECTION)}
            for point in points:
                np.testing.assert_allclose(copied[point.id].named["alone"], point.named["alone"], atol=1e-6)


class StoreConformance(
    CollectionTests, WriteTests, SearchTests, HybridSearchTests, NamedVectorTests, CopyTests
):
    """Every test a store must pass, whatever it keeps its points on. Subclass it and give the
    subclass a ``store`` fixture; add :class:`PersistenceTests` for a store on disk."""


__all__ = [
    "BM25",
    "COLLECTION",
    "DIMENSION",
    "FINGERPRINT",
    "CollectionTests",
    "CopyTests",
    "HybridSearchTests",
    "NamedVectorTests",
    "PersistenceTests",
    "SearchTests",
    "StoreConformance",
    "StoreFixtures",
    "StoredDoc",
    "WriteTests",
    "all_ids",
    "make_doc",
    "unit_vectors",
]
