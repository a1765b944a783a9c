"""What only the qdrant-client store does: server options, request sizes, retries, foreign collections."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

import chunkwise.connectors.qdrant_server_store as server_store_module
from chunkwise.connectors.qdrant_common import INDEXED_FIELDS, batches, request_size
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.pipeline.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    StoreError,
    StoreUnavailableError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point

FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2", dimension=8, chunking={"chunk_size": 64}
)


def point(number: int, text_bytes: int = 10) -> Point:
    vector = np.full(8, 1 / np.sqrt(8), dtype=np.float32)
    return Point(
        id=f"00000000-0000-0000-0000-{number:012d}",
        vector=vector,
        payload={"document_id": "d", "text": "x" * text_bytes},
    )


def test_the_collection_is_created_with_the_cluster_and_storage_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = QdrantServerStore(
        ":memory:",
        on_disk=True,
        quantization="scalar",
        shard_number=3,
        replication_factor=2,
        write_consistency_factor=2,
    )
    calls: list[dict[str, Any]] = []
    real = store.client.create_collection
    monkeypatch.setattr(
        store.client, "create_collection", lambda *a, **kw: calls.append(kw) or real(*a, **kw)
    )

    store.ensure_collection("docs", FINGERPRINT)

    [options] = calls
    assert options["shard_number"] == 3 and options["replication_factor"] == 2
    assert options["write_consistency_factor"] == 2 and options["on_disk_payload"] is True
    assert options["vectors_config"]["dense"].on_disk is True
    assert options["quantization_config"].scalar.type == models.ScalarType.INT8
    assert options["sparse_vectors_config"]["sparse"].modifier == models.Modifier.IDF
    assert store.fingerprint("docs") == FINGERPRINT


def test_a_server_collection_gets_its_payload_indexes_before_its_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(QdrantServerStore, "is_server", property(lambda self: True))
    store = QdrantServerStore(":memory:", retries=0)
    order: list[str] = []
    real_index, real_update = store.client.create_payload_index, store.client.update_collection
    failing = {"now": True}

    def create_payload_index(collection: str, field: str, *args: Any, **kwargs: Any) -> Any:
        order.append(f"index {field}")
        if failing["now"]:
            raise UnexpectedResponse(503, "Service Unavailable", b"", None)  # type: ignore[arg-type]
        return real_index(collection, field, *args, **kwargs)

    def update_collection(*args: Any, **kwargs: Any) -> Any:
        order.append("stamp")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(store.client, "create_payload_index", create_payload_index)
    monkeypatch.setattr(store.client, "update_collection", update_collection)

    with pytest.raises(StoreError):
        store.ensure_collection("docs", FINGERPRINT)  # the first index fails: nothing is stamped
    assert store.collection_exists("docs") and store.fingerprint("docs") is None
    assert "stamp" not in order

    failing["now"] = False
    order.clear()
    store.ensure_collection("docs", FINGERPRINT)  # the next run finishes the empty collection
    assert order[-1] == "stamp" and order[:-1] == [f"index {field}" for field in INDEXED_FIELDS]
    assert store.fingerprint("docs") == FINGERPRINT


def test_an_unstamped_collection_that_holds_points_is_never_taken_over() -> None:
    store = QdrantServerStore(":memory:")
    store.client.create_collection(  # another tool's collection, or chunkwise's without its metadata
        "docs",
        vectors_config={
            "dense": models.VectorParams(size=FINGERPRINT.dimension, distance=models.Distance.COSINE)
        },
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    store.write_points("docs", [point(1)])
    with pytest.raises(FingerprintMismatchError, match="not built by chunkwise"):
        store.ensure_collection("docs", FINGERPRINT)
    assert store.count("docs") == 1


def test_unknown_quantization_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="quantization"):
        QdrantServerStore(":memory:", quantization="int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="oversampling"):
        QdrantServerStore(":memory:", oversampling=0)


@pytest.mark.parametrize("oversampling", [None, 6.0])
def test_searches_ask_the_server_to_rescore_the_oversampled_candidates(
    monkeypatch: pytest.MonkeyPatch, oversampling: float | None
) -> None:
    """``oversampling`` goes to the server with each approximate search (``None``: its defaults);
    exact searches read the original vectors."""
    store = QdrantServerStore(":memory:", quantization="binary", oversampling=oversampling)
    store.ensure_collection("docs", FINGERPRINT)
    store.write_points("docs", [point(1)])
    sent: list[Any] = []
    for method in ("query_points", "query_points_groups"):
        real = getattr(store.client, method)
        monkeypatch.setattr(
            store.client,
            method,
            lambda *a, real=real, **kw: sent.append(kw.get("search_params")) or real(*a, **kw),
        )

    assert [hit.id for hit in store.search("docs", point(1).vector, k=3)] == [point(1).id]
    assert [hit.id for hit in store.search_documents("docs", point(1).vector, k=3)] == [point(1).id]
    store.search("docs", point(1).vector, k=3, exact=True)

    approximate, by_document, exact = sent
    assert approximate == by_document
    if oversampling is None:
        assert approximate is None
    else:
        assert approximate.quantization == models.QuantizationSearchParams(rescore=True, oversampling=6.0)
    assert exact.exact is True and exact.quantization.ignore is True  # the original vectors


def test_writes_are_cut_by_point_count_and_by_request_size(monkeypatch: pytest.MonkeyPatch) -> None:
    store = QdrantServerStore(":memory:", batch_size=3, max_request_bytes=4_000)
    store.ensure_collection("docs", FINGERPRINT)
    sizes: list[int] = []
    real = store.client.upsert
    monkeypatch.setattr(
        store.client,
        "upsert",
        lambda c, points, **kw: sizes.append(len(points)) or real(c, points=points, **kw),
    )
    small = [point(i) for i in range(7)]
    large = [point(100 + i, text_bytes=1_500) for i in range(5)]  # two fit under 4,000 bytes

    store.write_points("docs", small)
    store.write_points("docs", large)

    assert sizes == [3, 3, 1, 2, 2, 1]
    assert store.count("docs") == 12


def test_batches_never_drop_or_reorder_points_and_keep_an_oversized_point_alone() -> None:
    points = [point(i, text_bytes=t) for i, t in enumerate([10, 5_000, 10, 10, 10])]

    runs = list(batches(points, max_points=2, max_bytes=1_000, size=request_size))

    assert [[p.id for p in run] for run in runs] == [
        [points[0].id],
        [points[1].id],
        [points[2].id, points[3].id],
        [points[4].id],
    ]


def test_a_known_new_document_costs_no_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    store = QdrantServerStore(":memory:")
    store.ensure_collection("docs", FINGERPRINT)
    deletes: list[object] = []
    monkeypatch.setattr(store.client, "delete", lambda *args, **kwargs: deletes.append(kwargs))

    store.replace_document("docs", "d", [point(1)], known_new=True)
    assert deletes == []
    store.replace_document("docs", "d", [point(1)])
    assert len(deletes) == 1


def test_collection_not_built_by_chunkwise_raises() -> None:
    store = QdrantServerStore(":memory:")
    store.client.create_collection(
        "foreign", vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)}
    )

    assert store.fingerprint("foreign") is None
    with pytest.raises(FingerprintMismatchError, match="foreign"):
        store.ensure_collection("foreign", FINGERPRINT)


def test_operations_on_a_missing_collection_raise_store_error() -> None:
    with pytest.raises(StoreError):
        QdrantServerStore(":memory:").count("missing")


# --- retries (_call) -------------------------------------------------------------------------
# No Qdrant server can run here, so transient failures are simulated by handing ``_call``
# operations that fail the way qdrant-client does when a server times out or answers 5xx.


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    monkeypatch.setattr(server_store_module.time, "sleep", delays.append)
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
    store = QdrantServerStore("http://localhost:6333", retries=3)
    operation = Flaky(transient(), failures=2, value=42)

    assert store._call(operation) == 42
    assert operation.calls == 3
    assert len(sleeps) == 2
    assert sleeps[0] > 0
    assert sleeps[1] > sleeps[0]  # backoff grows


def test_call_retries_server_errors_and_rate_limits(sleeps: list[float]) -> None:
    store = QdrantServerStore("http://localhost:6333", retries=3)
    for status in (429, 503):
        error = UnexpectedResponse(status, "busy", b"", None)
        operation = Flaky(error, failures=1)
        assert store._call(operation) == "ok"
        assert operation.calls == 2


def test_call_gives_up_after_the_retries(sleeps: list[float]) -> None:
    store = QdrantServerStore("http://localhost:6333", retries=3)
    operation = Flaky(transient(), failures=10**6)

    with pytest.raises(StoreUnavailableError) as excinfo:
        store._call(operation)

    assert operation.calls == 4  # one try and three retries
    assert len(sleeps) == 3
    assert "localhost:6333" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, ResponseHandlingException)


def test_call_without_retries_tries_once(sleeps: list[float]) -> None:
    store = QdrantServerStore("http://localhost:6333", retries=0)
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
    store = QdrantServerStore("http://localhost:6333", retries=3)
    operation = Flaky(error, failures=10**6)

    with pytest.raises(StoreError) as excinfo:
        store._call(operation)

    assert operation.calls == 1
    assert sleeps == []
    assert not isinstance(excinfo.value, StoreUnavailableError)
    assert excinfo.value.__cause__ is error


def test_call_passes_store_errors_through_unchanged(sleeps: list[float]) -> None:
    store = QdrantServerStore("http://localhost:6333", retries=3)
    error = FingerprintMismatchError("different pipeline")
    operation = Flaky(error, failures=1)

    with pytest.raises(FingerprintMismatchError) as excinfo:
        store._call(operation)

    assert excinfo.value is error
    assert operation.calls == 1


def creation_that_times_out(store: QdrantServerStore, monkeypatch: pytest.MonkeyPatch, before=None) -> None:
    """The server creates the collection but the answer times out (``before`` runs first: another
    writer's doing); the retry then hears that the collection already exists."""
    real_create = store.client.create_collection
    calls = {"count": 0}

    def create_collection(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] == 1:
            if before is not None:
                before()
            else:
                real_create(*args, **kwargs)
            raise ResponseHandlingException(TimeoutError("read timed out"))
        return real_create(*args, **kwargs)  # local mode: "Collection docs already exists"

    monkeypatch.setattr(store.client, "create_collection", create_collection)


def test_a_creation_retried_after_a_timeout_finishes_its_own_collection(monkeypatch, sleeps) -> None:
    monkeypatch.setattr(QdrantServerStore, "is_server", property(lambda self: True))
    store = QdrantServerStore(":memory:", retries=2)
    indexed: list[str] = []
    real_index = store.client.create_payload_index
    monkeypatch.setattr(
        store.client,
        "create_payload_index",
        lambda collection, field, *args, **kwargs: (
            indexed.append(field) or real_index(collection, field, *args, **kwargs)
        ),
    )
    creation_that_times_out(store, monkeypatch)

    store.ensure_collection("docs", FINGERPRINT)

    assert store.fingerprint("docs") == FINGERPRINT and indexed == list(INDEXED_FIELDS)
    store.write_points("docs", [point(1)])
    assert store.count("docs") == 1


def test_a_collection_another_writer_created_meanwhile_is_used_only_when_built_the_same_way(
    monkeypatch, sleeps
) -> None:
    other = Fingerprint(model="another/model", dimension=8, chunking={"chunk_size": 64})
    same, different = QdrantServerStore(":memory:", retries=2), QdrantServerStore(":memory:", retries=2)
    creation_that_times_out(same, monkeypatch, before=lambda: same._create("docs", FINGERPRINT))
    creation_that_times_out(different, monkeypatch, before=lambda: different._create("docs", other))

    same.ensure_collection("docs", FINGERPRINT)  # the other writer's collection is this pipeline's
    assert same.fingerprint("docs") == FINGERPRINT
    with pytest.raises(FingerprintMismatchError):
        different.ensure_collection("docs", FINGERPRINT)
    assert different.fingerprint("docs") == other  # left as the other writer made it
