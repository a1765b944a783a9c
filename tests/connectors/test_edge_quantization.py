"""Quantized collections in the embedded store: created quantized, searched with rescoring, kept as made."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import chunkwise
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.flows import components
from chunkwise.flows.cli import app
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point

DIMENSION = 64
FINGERPRINT = Fingerprint(model="test/model", dimension=DIMENSION, chunking={"chunk_size": 64})


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres, as embeddings of texts on a few dozen topics are."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, DIMENSION))
    vectors = centres[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, DIMENSION))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


VECTORS = clustered(3000)
QUERIES = clustered(20, seed=1)


def build(folder: Path, quantization: str | None) -> None:
    with QdrantEdgeStore(folder, index_after=1000, quantization=quantization) as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points(
            "docs",
            [
                Point(id=f"00000000-0000-0000-0000-{i:012d}", vector=v, payload={"document_id": f"d{i}"})
                for i, v in enumerate(VECTORS)
            ],
        )  # closing builds the HNSW index and the quantized copy


def recall_at_10(store: QdrantEdgeStore, **search: bool) -> float:
    exact = np.argsort(-(QUERIES @ VECTORS.T), axis=1)[:, :10]
    found = 0
    for query, truth in zip(QUERIES, exact, strict=True):
        hits = store.search("docs", query, k=10, **search)
        found += len({int(hit.id.rsplit("-", 1)[1]) for hit in hits} & set(truth.tolist()))
    return found / exact.size


@pytest.mark.parametrize("quantization", ["scalar", "binary"])
def test_a_quantized_collection_ranks_its_candidates_on_the_original_vectors(
    tmp_path: Path, quantization: str
) -> None:
    build(tmp_path / "store", quantization)
    config = json.loads((tmp_path / "store/collections/docs/shard/edge_config.json").read_text())
    assert quantization in config["vectors"]["dense"]["quantization_config"]

    with QdrantEdgeStore(tmp_path / "store") as store:  # opened later without the option: as created
        assert store.quantization_of("docs") == quantization
        hits = store.search("docs", QUERIES[0], k=10)
        assert recall_at_10(store, exact=True) == 1.0  # exact search reads the original vectors
    originals = {f"00000000-0000-0000-0000-{i:012d}": float(v @ QUERIES[0]) for i, v in enumerate(VECTORS)}
    assert [hit.score for hit in hits] == pytest.approx([originals[hit.id] for hit in hits], abs=1e-5)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_scalar_quantization_keeps_the_exact_neighbours(tmp_path: Path) -> None:
    build(tmp_path / "store", "scalar")

    with QdrantEdgeStore(tmp_path / "store") as store:
        assert recall_at_10(store) >= 0.95  # int8 candidates, twice k, rescored


def test_oversampling_sets_how_many_binary_candidates_are_rescored(tmp_path: Path) -> None:
    """Binary codes of 64-d vectors rank coarsely: twice k candidates miss neighbours, and a store
    that rescores every point (oversampling x k = all 3,000) finds the exact ones."""
    build(tmp_path / "store", "binary")

    with QdrantEdgeStore(tmp_path / "store") as store:
        assert store.oversampling == 2.0
        coarse = recall_at_10(store)
        store.oversampling = len(VECTORS) / 10
        assert coarse < recall_at_10(store) == 1.0
    with pytest.raises(ConfigurationError, match="oversampling"):
        QdrantEdgeStore(tmp_path / "store", oversampling=0.5)


def test_a_collection_keeps_the_quantization_it_was_created_with(tmp_path: Path, caplog) -> None:
    build(tmp_path / "store", None)

    with (
        caplog.at_level(logging.WARNING),
        QdrantEdgeStore(tmp_path / "store", quantization="binary") as store,
    ):
        assert store.quantization_of("docs") is None
        assert recall_at_10(store) >= 0.9
    assert "created with quantization none: it keeps it" in caplog.text


def test_an_unknown_quantization_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'scalar', 'binary'"):
        QdrantEdgeStore("unused", quantization="product")  # type: ignore[arg-type]


def test_ingest_and_copy_take_a_quantization(tmp_path: Path, sample_data: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "faq.md").write_text((sample_data / "nodejs-path.md").read_text()[:3000])
    store, copied = str(tmp_path / "store"), str(tmp_path / "binary")

    chunkwise.ingest(corpus, store=store, collection="docs", quantization="scalar")
    chunkwise.copy(store, copied, collection="docs", quantization="binary")

    for location, quantization in ((store, "scalar"), (copied, "binary")):
        with QdrantEdgeStore(location) as opened:
            assert opened.quantization_of("docs") == quantization
    first, second = (passages(location, "how does path.join build a path?") for location in (store, copied))
    assert first and first == second  # a handful of chunks: rescoring ranks them exactly in both


def test_the_oversampling_asked_for_reaches_the_store_each_entry_point_opens(
    tmp_path: Path, sample_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chunkwise query --oversampling``, ``chunkwise.query(oversampling=)`` and a retriever opened
    by location open their store with it; given an open store, they refuse it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "faq.md").write_text((sample_data / "nodejs-path.md").read_text()[:3000])
    store, question = str(tmp_path / "store"), "how does path.join build a path?"
    chunkwise.ingest(corpus, store=store, collection="docs", quantization="binary")
    opened_with: list[float | None] = []
    real = components.open_existing_store

    def spied(*arguments, **options):
        opened = real(*arguments, **options)
        opened_with.append(opened.oversampling)
        return opened

    monkeypatch.setattr(components, "open_existing_store", spied)
    hits = chunkwise.query(question, store=store, collection="docs", oversampling=50)
    query = ["query", question, "--store", store, "--collection", "docs", "--json"]
    oversampled = CliRunner().invoke(app, [*query, "--oversampling", "8"])
    default = CliRunner().invoke(app, query)
    assert hits and oversampled.exit_code == default.exit_code == 0, oversampled.output
    assert opened_with == [50, 8, 2.0]  # the embedded store's default: 2
    retriever = chunkwise.open_retriever(store, "docs", oversampling=12)
    try:
        assert retriever.store.oversampling == 12 and retriever.invoke(question)
    finally:
        retriever.close()

    refused = CliRunner().invoke(app, [*query, "--oversampling", "0.5"])
    assert refused.exit_code == 2 and "--oversampling" in refused.output, refused.output
    with QdrantEdgeStore(store) as opened:
        for open_store_given in (
            lambda: chunkwise.query(question, store=opened, collection="docs", oversampling=50),
            lambda: chunkwise.open_retriever(opened, "docs", oversampling=50),
        ):
            with pytest.raises(ConfigurationError, match="open_store"):
                open_store_given()


def passages(store: str, query: str) -> list[str]:
    retriever = chunkwise.open_retriever(store, "docs", mode="dense")
    try:
        return [document.page_content for document in retriever.invoke(query)]
    finally:
        retriever.close()
