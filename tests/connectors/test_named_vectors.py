"""Named vectors beside the dense one, on Qdrant Edge and qdrant-client: a dense one and a multivector
created from the fingerprint, written and read back, and rebuilt when a reindex changes them (searching
named dense vectors is in the store kit, ``chunkwise.testing.NamedVectorTests``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.qdrant_store import QdrantStore
from chunkwise.pipeline.errors import FingerprintMismatchError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.indexing import open_collection
from chunkwise.pipeline.points import Point

SIZE, TOKEN_SIZE, COUNT = 8, 4, 12
PLAIN = Fingerprint(model="m", dimension=SIZE, chunking={"strategy": "late"})
NAMED = Fingerprint(
    model="m",
    dimension=SIZE,
    chunking={"strategy": "late"},
    vectors={
        "alone": {"kind": "dense", "size": SIZE, "strategy": "fixed"},
        "tokens": {"kind": "multivector", "size": TOKEN_SIZE},
    },
)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def points() -> list[Point]:
    generator = np.random.default_rng(7)
    late, alone = unit(generator.normal(size=(COUNT, SIZE))), unit(generator.normal(size=(COUNT, SIZE)))
    return [
        Point(
            id=f"00000000-0000-0000-0000-{i:012d}",
            vector=late[i],
            payload={"document_id": f"d{i}", "source": f"s{i}", "text": f"chunk {i}"},
            named={"alone": alone[i], "tokens": unit(generator.normal(size=(2 + i % 3, TOKEN_SIZE)))},
        )
        for i in range(COUNT)
    ]


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantStore]:
    opened: QdrantStore = (
        QdrantEdgeStore(tmp_path / "edge") if request.param == "edge" else QdrantServerStore(":memory:")
    )
    yield opened
    opened.close()


def test_named_vectors_are_written_and_read_back(store: QdrantStore, points: list[Point]) -> None:
    store.ensure_collection("docs", NAMED)
    store.replace_document("docs", "d0", points, known_new=True)

    read = {point.id: point for point in store.points("docs")}

    assert store.fingerprint("docs") == NAMED
    for point in points:
        back = read[point.id]
        assert set(back.named) == {"alone", "tokens"}
        np.testing.assert_allclose(back.named["alone"], point.named["alone"], atol=1e-6)
        np.testing.assert_allclose(back.named["tokens"], point.named["tokens"], atol=1e-6)
        np.testing.assert_allclose(back.vector, point.vector, atol=1e-6)


def test_a_pipeline_without_the_named_vectors_is_refused_and_a_reindex_rebuilds(
    store: QdrantStore, points: list[Point]
) -> None:
    open_collection(store, "docs", NAMED)
    store.write_points("docs", points)

    with pytest.raises(FingerprintMismatchError, match="named vectors"):
        open_collection(store, "docs", PLAIN)
    open_collection(store, "docs", PLAIN, reindex=True)

    assert store.fingerprint("docs") == PLAIN
    assert store.count("docs") == 0  # the layout changed: the collection was built anew
    store.write_points("docs", [Point(id=p.id, vector=p.vector, payload=p.payload) for p in points])
    assert all(not point.named for point in store.points("docs"))


def test_the_fingerprint_keeps_its_digest_without_named_vectors() -> None:
    assert "vectors" not in PLAIN.to_dict()
    assert Fingerprint.from_dict(NAMED.to_dict()) == NAMED
    assert NAMED.digest != PLAIN.digest
    assert NAMED.layout != PLAIN.layout
