"""QdrantStore on a real qdrant-client, in ``:memory:`` and in an embedded on-disk folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

import connectors.qdrant_store as qdrant_store_module
from connectors.qdrant_store import QdrantStore, _point_struct
from pipeline.errors import (
    FingerprintMismatchError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from pipeline.fingerprint import Fingerprint
from pipeline.ids import chunk_id, content_hash, document_id
from pipeline.points import Point, chunk_payload
from pipeline.types import Chunk, Document

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DIMENSION = 384
COLLECTION = "docs"
FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2",
    dimension=DIMENSION,
    chunking={"strategy": "fixed", "chunk_size": 256, "overlap": 32},
)


@dataclass(frozen=True)
class StoredDoc:
    document: Document
    points: list[Point]

    @property
    def id(self) -> str:
        return self.document.id

    @property
    def point_ids(self) -> set[str]:
        return {p.id for p in self.points}


def unit_vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_doc(source: str, chunks: int, seed: int, version: str = "v1", width: int = 10) -> StoredDoc:
    """A document of ``chunks`` chunks of ``width`` characters, with real payloads and ids."""
    text = "".join(f"{version} c{i:03d} ".ljust(width)[:width] for i in range(chunks))
    document = Document(
        id=document_id(source),
        source=source,
        text=text,
        content_hash=content_hash(text.encode("utf-8")),
        metadata={"title": source.rsplit("/", 1)[-1]},
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
            )
        )
    return StoredDoc(document, points)


def all_ids(store: QdrantStore, collection: str = COLLECTION) -> set[str]:
    """Every point id in the collection, through ``search`` (k larger than the collection)."""
    hits = store.search(collection, unit_vectors(1, 999)[0], k=1000)
    return {hit.id for hit in hits}


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantStore]:
    location = ":memory:" if request.param == "memory" else str(tmp_path / "qdrant")
    with QdrantStore(location) as opened:
        yield opened


@pytest.fixture
def disk_location(tmp_path: Path) -> str:
    return str(tmp_path / "qdrant")


@pytest.fixture
def filled(store: QdrantStore) -> tuple[QdrantStore, StoredDoc, StoredDoc, StoredDoc]:
    store.ensure_collection(COLLECTION, FINGERPRINT)
    a = make_doc("/docs/a.md", chunks=4, seed=1)
    b = make_doc("/docs/b.md", chunks=3, seed=2)
    c = make_doc("/docs/c.md", chunks=2, seed=3)
    for doc in (a, b, c):
        store.replace_document(COLLECTION, doc.id, doc.points)
    return store, a, b, c


# --- collections and fingerprints ------------------------------------------------------------


def test_ensure_collection_creates_it_with_the_fingerprint(store: QdrantStore) -> None:
    assert not store.collection_exists(COLLECTION)
    assert store.fingerprint(COLLECTION) is None

    store.ensure_collection(COLLECTION, FINGERPRINT)

    assert store.collection_exists(COLLECTION)
    assert store.fingerprint(COLLECTION) == FINGERPRINT
    assert store.count(COLLECTION) == 0


def test_ensure_collection_again_with_same_fingerprint_keeps_data(store: QdrantStore) -> None:
    store.ensure_collection(COLLECTION, FINGERPRINT)
    doc = make_doc("/docs/a.md", chunks=3, seed=1)
    store.replace_document(COLLECTION, doc.id, doc.points)

    same = Fingerprint(
        model=FINGERPRINT.model,
        dimension=FINGERPRINT.dimension,
        chunking=dict(reversed(list(FINGERPRINT.chunking.items()))),  # key order does not matter
    )
    store.ensure_collection(COLLECTION, same)

    assert store.count(COLLECTION) == 3
    assert store.fingerprint(COLLECTION) == FINGERPRINT


@pytest.mark.parametrize(
    "other",
    [
        Fingerprint(model="BAAI/bge-small-en-v1.5", dimension=DIMENSION, chunking=FINGERPRINT.chunking),
        Fingerprint(model=FINGERPRINT.model, dimension=768, chunking=FINGERPRINT.chunking),
        Fingerprint(model=FINGERPRINT.model, dimension=DIMENSION, chunking={"strategy": "late"}),
        Fingerprint(
            model=FINGERPRINT.model,
            dimension=DIMENSION,
            chunking={**FINGERPRINT.chunking, "chunk_size": 512},
        ),
    ],
    ids=["model", "dimension", "strategy", "chunk_size"],
)
def test_ensure_collection_with_another_fingerprint_raises(store: QdrantStore, other: Fingerprint) -> None:
    store.ensure_collection(COLLECTION, FINGERPRINT)

    with pytest.raises(FingerprintMismatchError):
        store.ensure_collection(COLLECTION, other)

    assert store.fingerprint(COLLECTION) == FINGERPRINT  # the stored one is left as it was


def test_collection_not_built_by_chunkwise_raises(store: QdrantStore) -> None:
    store.client.create_collection(
        "foreign",
        vectors_config={"dense": models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)},
    )

    assert store.fingerprint("foreign") is None
    with pytest.raises(FingerprintMismatchError, match="foreign"):
        store.ensure_collection("foreign", FINGERPRINT)


def test_operations_on_a_missing_collection_raise_store_error(store: QdrantStore) -> None:
    with pytest.raises(StoreError):
        store.count("missing")


# --- writing and deleting --------------------------------------------------------------------


def test_replace_document_writes_its_points(filled) -> None:
    store, a, b, c = filled

    assert store.count(COLLECTION) == 4 + 3 + 2
    assert all_ids(store) == a.point_ids | b.point_ids | c.point_ids
    assert store.count(COLLECTION, {"document_id": a.id}) == 4


def test_replace_document_in_several_batches() -> None:
    with QdrantStore(":memory:", batch_size=2) as store:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        doc = make_doc("/docs/long.md", chunks=7, seed=4)

        store.replace_document(COLLECTION, doc.id, doc.points)

        assert store.count(COLLECTION) == 7
        assert all_ids(store) == doc.point_ids


def test_replace_with_fewer_points_removes_stale_ones_of_that_document_only(filled) -> None:
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


def test_replace_with_entirely_new_ids_removes_all_old_points(filled) -> None:
    store, a, b, c = filled
    new_a = make_doc("/docs/a.md", chunks=3, seed=12, version="v2", width=7)
    assert not new_a.point_ids & a.point_ids

    store.replace_document(COLLECTION, a.id, new_a.points)

    assert all_ids(store) == new_a.point_ids | b.point_ids | c.point_ids
    stale_hits = store.search(COLLECTION, a.points[3].vector, k=1000)
    assert not {hit.id for hit in stale_hits} & a.point_ids


def test_a_known_new_document_is_written_without_looking_for_stale_points(filled, monkeypatch) -> None:
    store, a, b, c = filled
    d = make_doc("/docs/d.md", chunks=2, seed=21)
    deletes: list[object] = []
    monkeypatch.setattr(store.client, "delete", lambda *args, **kwargs: deletes.append(kwargs))

    store.replace_document(COLLECTION, d.id, d.points, known_new=True)

    assert deletes == [] and all_ids(store) == a.point_ids | b.point_ids | c.point_ids | d.point_ids


def test_delete_document_removes_only_that_document(filled) -> None:
    store, a, b, c = filled

    store.delete_document(COLLECTION, b.id)

    assert store.count(COLLECTION, {"document_id": b.id}) == 0
    assert store.count(COLLECTION) == 4 + 2
    assert all_ids(store) == a.point_ids | c.point_ids
    assert store.document_count(COLLECTION) == 2


def test_delete_unknown_document_changes_nothing(filled) -> None:
    store, _a, _b, _c = filled

    store.delete_document(COLLECTION, document_id("/docs/never-indexed.md"))

    assert store.count(COLLECTION) == 9


def test_stored_documents_count_each_documents_points_by_version(filled) -> None:
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


def test_stored_documents_follow_replacement_and_deletion(filled) -> None:
    store, a, b, _c = filled
    new_a = make_doc("/docs/a.md", chunks=1, seed=13, version="v2")
    assert new_a.document.content_hash != a.document.content_hash

    store.replace_document(COLLECTION, a.id, new_a.points)
    store.delete_document(COLLECTION, b.id)

    stored = store.stored_documents(COLLECTION)
    assert b.id not in stored
    assert stored[a.id].is_current(new_a.document.content_hash, FINGERPRINT.digest)


def test_a_half_written_new_version_is_not_current(filled) -> None:
    store, a, _b, _c = filled
    new_a = make_doc("/docs/a.md", chunks=4, seed=13, version="v2")
    store.client.upsert(COLLECTION, points=[_point_struct(p) for p in new_a.points[:2]], wait=True)

    entry = store.stored_documents(COLLECTION)[a.id]

    assert len(entry.points) == 2  # the old version, whole, and half of the new one
    assert not entry.is_current(new_a.document.content_hash, FINGERPRINT.digest)
    assert not entry.is_current(a.document.content_hash, FINGERPRINT.digest)


def test_stored_documents_read_every_page(store: QdrantStore) -> None:
    store.scroll_page = 3
    store.ensure_collection(COLLECTION, FINGERPRINT)
    docs = [make_doc(f"/docs/{i}.md", chunks=i + 1, seed=i) for i in range(4)]
    for doc in docs:
        store.replace_document(COLLECTION, doc.id, doc.points)

    stored = store.stored_documents(COLLECTION)

    assert {key: sum(entry.points.values()) for key, entry in stored.items()} == {
        doc.id: len(doc.points) for doc in docs
    }


def test_set_fingerprint_restamps_the_collection_and_keeps_its_points(filled) -> None:
    store, *_ = filled
    rechunked = Fingerprint(model=FINGERPRINT.model, dimension=DIMENSION, chunking={"chunk_size": 64})

    store.set_fingerprint(COLLECTION, rechunked)

    assert store.fingerprint(COLLECTION) == rechunked
    store.ensure_collection(COLLECTION, rechunked)
    assert store.count(COLLECTION) == 9


# --- reading -------------------------------------------------------------------------------


def test_search_returns_the_nearest_point_first(filled) -> None:
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


def test_search_accepts_float64_and_lists_of_the_vector(filled) -> None:
    store, _a, _b, c = filled
    target = c.points[0]

    as_float64 = store.search(COLLECTION, np.asarray(target.vector, dtype=np.float64), k=1)
    as_list = store.search(COLLECTION, target.vector.tolist(), k=1)

    assert [hit.id for hit in as_float64] == [target.id]
    assert [hit.id for hit in as_list] == [target.id]


def test_search_filter_by_source(filled) -> None:
    store, a, _b, c = filled

    # Query with one of a's vectors, but only c's points may come back.
    hits = store.search(COLLECTION, a.points[0].vector, k=100, filters={"source": "/docs/c.md"})

    assert {hit.id for hit in hits} == c.point_ids
    assert {hit.payload["source"] for hit in hits} == {"/docs/c.md"}


def test_search_filter_by_a_list_of_document_ids(filled) -> None:
    store, a, b, c = filled

    hits = store.search(COLLECTION, b.points[0].vector, k=100, filters={"document_id": [a.id, c.id]})

    assert {hit.id for hit in hits} == a.point_ids | c.point_ids
    assert b.points[0].id not in {hit.id for hit in hits}


def test_search_with_several_filter_keys_requires_all(filled) -> None:
    store, a, _b, _c = filled

    both = store.search(
        COLLECTION, a.points[0].vector, k=100, filters={"document_id": a.id, "source": "/docs/a.md"}
    )
    contradicting = store.search(
        COLLECTION, a.points[0].vector, k=100, filters={"document_id": a.id, "source": "/docs/b.md"}
    )

    assert {hit.id for hit in both} == a.point_ids
    assert contradicting == []


def test_search_documents_gives_each_document_once_as_its_best_chunk(filled) -> None:
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


def test_search_documents_honours_k_and_filters(filled) -> None:
    store, a, b, c = filled

    top_one = store.search_documents(COLLECTION, a.points[0].vector, k=1)
    without_a = store.search_documents(
        COLLECTION, a.points[0].vector, k=5, filters={"document_id": [b.id, c.id]}
    )

    assert [hit.payload["document_id"] for hit in top_one] == [a.id]
    assert {hit.payload["document_id"] for hit in without_a} == {b.id, c.id}


def test_drop_collection_removes_it_and_ignores_a_missing_one(filled) -> None:
    store, *_ = filled

    store.drop_collection(COLLECTION)
    store.drop_collection(COLLECTION)

    assert not store.collection_exists(COLLECTION)
    assert store.fingerprint(COLLECTION) is None


def test_count_with_filters(filled) -> None:
    store, a, _b, c = filled

    assert store.count(COLLECTION) == 9
    assert store.count(COLLECTION, {"document_id": a.id}) == 4
    assert store.count(COLLECTION, {"source": "/docs/b.md"}) == 3
    assert store.count(COLLECTION, {"document_id": [a.id, c.id]}) == 6
    assert store.count(COLLECTION, {"source": "/docs/none.md"}) == 0
    assert store.count(COLLECTION, {}) == 9


def test_document_count(store: QdrantStore) -> None:
    store.ensure_collection(COLLECTION, FINGERPRINT)
    assert store.document_count(COLLECTION) == 0

    for index, chunks in enumerate([5, 1, 3]):
        doc = make_doc(f"/docs/{index}.md", chunks=chunks, seed=index)
        store.replace_document(COLLECTION, doc.id, doc.points)

    assert store.document_count(COLLECTION) == 3
    assert store.count(COLLECTION) == 9


# --- embedded folder: persistence and locking ------------------------------------------------


def test_data_and_fingerprint_persist_after_close(disk_location: str) -> None:
    doc = make_doc("/docs/a.md", chunks=3, seed=1)
    with QdrantStore(disk_location) as first:
        first.ensure_collection(COLLECTION, FINGERPRINT)
        first.replace_document(COLLECTION, doc.id, doc.points)

    with QdrantStore(disk_location) as reopened:
        assert reopened.count(COLLECTION) == 3
        assert reopened.fingerprint(COLLECTION) == FINGERPRINT
        reopened.ensure_collection(COLLECTION, FINGERPRINT)
        assert reopened.stored_documents(COLLECTION)[doc.id].is_current(
            doc.document.content_hash, FINGERPRINT.digest
        )
        hits = reopened.search(COLLECTION, doc.points[2].vector, k=1)
        assert hits[0].id == doc.points[2].id
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_second_store_on_the_same_folder_in_this_process_is_refused(disk_location: str) -> None:
    with QdrantStore(disk_location) as first:
        first.ensure_collection(COLLECTION, FINGERPRINT)
        second = QdrantStore(disk_location)  # nothing is opened yet

        with pytest.raises(StoreInUseError, match="in use"):
            second.count(COLLECTION)

        assert first.count(COLLECTION) == 0  # the first one still works
        assert first.fingerprint(COLLECTION) == FINGERPRINT


SECOND_PROCESS = """
import sys
from connectors.qdrant_store import QdrantStore, _point_struct
from pipeline.errors import StoreInUseError

store = QdrantStore(sys.argv[1])
try:
    store.count("docs")
except StoreInUseError as error:
    print("StoreInUseError:", error)
    sys.exit(3)
print("opened")
"""


def test_second_store_in_another_process_is_refused(disk_location: str) -> None:
    doc = make_doc("/docs/a.md", chunks=4, seed=1)
    with QdrantStore(disk_location) as first:
        first.ensure_collection(COLLECTION, FINGERPRINT)
        first.replace_document(COLLECTION, doc.id, doc.points)

        result = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, disk_location],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert result.returncode == 3, result.stdout + result.stderr
        assert "StoreInUseError" in result.stdout
        assert "in use" in result.stdout
        # The first store is unharmed.
        assert first.count(COLLECTION) == 4
        assert all_ids(first) == doc.point_ids

    with QdrantStore(disk_location) as reopened:
        assert reopened.count(COLLECTION) == 4
        assert reopened.fingerprint(COLLECTION) == FINGERPRINT


# --- retries (_call) -------------------------------------------------------------------------
# No Qdrant server can run here, so transient failures are simulated by handing ``_call``
# operations that fail the way qdrant-client does when a server times out or answers 5xx.


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    monkeypatch.setattr(qdrant_store_module.time, "sleep", delays.append)
    return delays


class Flaky:
    """An operation that raises ``error`` for its first ``failures`` calls, then returns ``value``."""

    def __init__(self, error: Exception, failures: int, value: object = "ok") -> None:
        self.error = error
        self.failures = failures
        self.value = value
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.value


def transient() -> Exception:
    return ResponseHandlingException(TimeoutError("read timed out"))


def test_call_retries_transient_failures_then_returns(sleeps: list[float]) -> None:
    store = QdrantStore("http://localhost:6333", retries=3)
    operation = Flaky(transient(), failures=2, value=42)

    assert store._call(operation) == 42
    assert operation.calls == 3
    assert len(sleeps) == 2
    assert sleeps[0] > 0
    assert sleeps[1] > sleeps[0]  # backoff grows


def test_call_retries_server_errors_and_rate_limits(sleeps: list[float]) -> None:
    store = QdrantStore("http://localhost:6333", retries=3)
    for status in (429, 503):
        error = UnexpectedResponse(status, "busy", b"", None)
        operation = Flaky(error, failures=1)
        assert store._call(operation) == "ok"
        assert operation.calls == 2


def test_call_gives_up_after_the_retries(sleeps: list[float]) -> None:
    store = QdrantStore("http://localhost:6333", retries=3)
    operation = Flaky(transient(), failures=10**6)

    with pytest.raises(StoreUnavailableError) as excinfo:
        store._call(operation)

    assert operation.calls == 4  # one try and three retries
    assert len(sleeps) == 3
    assert "localhost:6333" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, ResponseHandlingException)


def test_call_without_retries_tries_once(sleeps: list[float]) -> None:
    store = QdrantStore("http://localhost:6333", retries=0)
    operation = Flaky(transient(), failures=1)

    with pytest.raises(StoreUnavailableError):
        store._call(operation)

    assert operation.calls == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "error",
    [ValueError("bad request"), UnexpectedResponse(404, "Not Found", b"", None)],
    ids=["ValueError", "404"],
)
def test_call_does_not_retry_other_errors(sleeps: list[float], error: Exception) -> None:
    store = QdrantStore("http://localhost:6333", retries=3)
    operation = Flaky(error, failures=10**6)

    with pytest.raises(StoreError) as excinfo:
        store._call(operation)

    assert operation.calls == 1
    assert sleeps == []
    assert not isinstance(excinfo.value, StoreUnavailableError)
    assert excinfo.value.__cause__ is error


def test_call_passes_store_errors_through_unchanged(sleeps: list[float]) -> None:
    store = QdrantStore("http://localhost:6333", retries=3)
    error = FingerprintMismatchError("different pipeline")
    operation = Flaky(error, failures=1)

    with pytest.raises(FingerprintMismatchError) as excinfo:
        store._call(operation)

    assert excinfo.value is error
    assert operation.calls == 1
