"""Model families end to end, on Qdrant Edge and qdrant-client's local mode: Matryoshka
``dimensions``, query and document prompts, and models that do not mean-pool (fixed chunking only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import TinyModels
from typer.testing import CliRunner

import chunkwise
from chunkwise.connectors.model_traits import truncate_vectors
from chunkwise.connectors.stores import open_existing_store
from chunkwise.flows.cli import app
from chunkwise.pipeline.errors import ChunkwiseError, ConfigurationError, FingerprintMismatchError

DOCUMENTS = {
    "berlin.txt": "Berlin is the capital of Germany. The Spree flows through the city centre.",
    "paris.txt": "Paris is the capital of France. The Seine crosses the city from east to west.",
}
QUESTION = "Which river crosses Paris?"
PROMPTS = {"query": "query: ", "document": "passage: "}
INLINE = {"max_seconds_per_document": 0}  # parsed in this process: no parse worker to start per run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("families-corpus")
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


def _vectors(store: str, collection: str) -> dict[str, np.ndarray]:
    with open_existing_store(store) as opened:
        return {point.id: np.asarray(point.vector) for point in opened.points(collection)}


def _texts(store: str, collection: str) -> dict[str, str]:
    with open_existing_store(store) as opened:
        return {Path(p.payload["source"]).name: p.payload["text"] for p in opened.points(collection)}


@pytest.mark.parametrize(("kind", "chunking"), [("edge", "fixed"), ("local", "late")])
def test_dimensions_store_the_normalised_prefix_and_queries_are_cut_the_same_way(
    tmp_path, corpus, kind, chunking
):
    store = str(tmp_path / "store") if kind == "edge" else f"local:{tmp_path / 'store'}"
    chunkwise.ingest(corpus, **INLINE, store=store, collection="full", chunking=chunking)
    report = chunkwise.ingest(
        corpus, **INLINE, store=store, collection="short", chunking=chunking, dimensions=64
    )
    assert report.indexed == 2
    full, short = _vectors(store, "full"), _vectors(store, "short")
    assert short.keys() == full.keys()
    for point_id, vector in short.items():
        assert vector.shape == (64,)
        np.testing.assert_allclose(vector, truncate_vectors(full[point_id], 64), atol=1e-5)
    fingerprint = chunkwise.info(store, "short").fingerprint
    assert (fingerprint["dimension"], fingerprint["chunking"]["dimensions"]) == (64, 64)

    retriever = chunkwise.open_retriever(store, "short", k=1, mode="dense")
    try:
        assert retriever.encoder.spec.dimension == 64  # rebuilt from the fingerprint, not given
        [best] = retriever.invoke(QUESTION)
    finally:
        retriever.close()
    assert Path(best.metadata["source"]).name == "paris.txt"
    with pytest.raises(FingerprintMismatchError, match="holds 64-d vectors, not 128-d"):
        chunkwise.query(QUESTION, store=store, collection="short", dimensions=128)


def test_changing_dimensions_is_refused_unless_reindexed(tmp_path, corpus):
    store = str(tmp_path / "store")
    chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", dimensions=64)
    with pytest.raises(FingerprintMismatchError, match=r"vector size is fixed.*--reindex"):
        chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", dimensions=128)
    assert chunkwise.info(store, "docs").fingerprint["dimension"] == 64  # untouched

    report = chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", dimensions=128, reindex=True)
    assert report.indexed == 2
    assert chunkwise.info(store, "docs").fingerprint["dimension"] == 128
    assert {vector.shape for vector in _vectors(store, "docs").values()} == {(128,)}
    with pytest.raises(ConfigurationError, match=r"dimensions: .*greater than or equal to 1"):
        chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", dimensions=0)
    with pytest.raises(ConfigurationError, match=r"dimensions \(400\) exceeds the 384"):
        chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", dimensions=400)


def test_prompts_are_recorded_and_the_retriever_embeds_queries_with_the_collections(tmp_path, corpus, tiny):
    model = tiny("prompted", prompts=PROMPTS)
    store = str(tmp_path / "store")
    chunkwise.ingest(corpus, **INLINE, store=store, collection="own", model=model, chunking="late")
    chunkwise.ingest(corpus, **INLINE, store=store, collection="given", model=model, query_prompt="find: ")
    recorded = chunkwise.info(store, "own").fingerprint["chunking"]
    assert (recorded["query_prompt"], recorded["document_prompt"]) == ("query: ", "passage: ")
    assert _texts(store, "own") == DOCUMENTS  # the prompt is read by the model, never stored

    for collection, prompt in (("own", "query: "), ("given", "find: ")):
        retriever = chunkwise.open_retriever(store, collection, k=1, mode="dense")
        try:
            encoder = retriever.encoder
            assert encoder.prompt("query") == prompt
            expected = encoder.model.encode(QUESTION, prompt=prompt, normalize_embeddings=True)
            np.testing.assert_allclose(encoder.encode_query(QUESTION), expected, atol=2e-6)
            assert len(retriever.invoke(QUESTION)) == 1
        finally:
            retriever.close()

    with pytest.raises(FingerprintMismatchError, match="--reindex"):
        chunkwise.ingest(
            corpus, **INLINE, store=store, collection="own", model=model, chunking="late", document_prompt=""
        )
    report = chunkwise.ingest(
        corpus,
        **INLINE,
        store=store,
        collection="own",
        model=model,
        chunking="late",
        document_prompt="",
        reindex=True,
    )
    assert report.indexed == 2
    assert chunkwise.info(store, "own").fingerprint["chunking"]["document_prompt"] == ""


@pytest.mark.parametrize(
    ("kind", "options", "pooling"),
    [
        ("edge", {"pooling": "lasttoken", "decoder": True}, "lasttoken"),
        ("local", {"pooling": "cls"}, "cls"),
    ],
)
def test_a_model_that_does_not_mean_pool_is_refused_for_late_chunking_and_retrieves_with_fixed(
    tmp_path, corpus, tiny, kind, options, pooling
):
    model = tiny(pooling, **options)
    store = str(tmp_path / "store") if kind == "edge" else f"local:{tmp_path / 'store'}"
    with pytest.raises(ConfigurationError, match=rf"'{pooling}'.*--chunking fixed"):
        chunkwise.ingest(corpus, **INLINE, store=store, collection="docs", model=model, chunking="late")
    with pytest.raises(ChunkwiseError, match=r"no store|does not exist"):
        chunkwise.info(store, "docs")  # refused before the collection (or the store) was made

    report = chunkwise.ingest(
        corpus, **INLINE, store=store, collection="docs", model=model, chunking="fixed", headers=False
    )
    assert (report.indexed, report.failed) == (2, 0)
    # a random model, but a query that is a chunk's very text has that chunk's very vector
    [best] = chunkwise.query(DOCUMENTS["paris.txt"], store=store, collection="docs", k=1, mode="dense")
    assert Path(best.metadata["source"]).name == "paris.txt"
    assert best.metadata["score"] == pytest.approx(1.0, abs=1e-4)


def test_the_command_line_takes_dimensions_and_prompts_on_ingest_query_and_eval(tmp_path, corpus, tiny):
    model = tiny("prompted", prompts=PROMPTS)
    store = str(tmp_path / "store")
    common = ["--store", store, "--collection", "docs"]
    ingest = CliRunner().invoke(
        app,
        [
            *("ingest", str(corpus), *common, "--model", model, "--max-seconds-per-document", "0"),
            *("--dimensions", "16", "--query-prompt", "find: ", "--document-prompt", "doc: ", "--json"),
        ],
    )
    assert ingest.exit_code == 0, ingest.output
    fingerprint = chunkwise.info(store, "docs").fingerprint
    assert fingerprint["dimension"] == 16
    assert {key: fingerprint["chunking"][key] for key in ("query_prompt", "document_prompt")} == {
        "query_prompt": "find: ",
        "document_prompt": "doc: ",
    }
    query = CliRunner().invoke(app, ["query", QUESTION, *common, "--dimensions", "16", "--json", "-k", "1"])
    assert query.exit_code == 0, query.output
    assert len(json.loads(query.stdout)) == 1
    wrong = CliRunner().invoke(app, ["query", QUESTION, *common, "--dimensions", "8"])
    assert isinstance(wrong.exception, FingerprintMismatchError)  # `chunkwise` prints it as one line
    assert "holds 16-d vectors, not 8-d" in str(wrong.exception)
    for command in ("ingest", "query", "eval"):
        usage = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--dimensions" in usage and "--query-prompt" in usage
        assert ("--document-prompt" in usage) == (command != "query")
