"""Learned sparse weights (SPLADE) with the shipped model, on Qdrant Edge and qdrant-client local mode."""

from __future__ import annotations

from pathlib import Path

import pytest

import chunkwise
from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.devices import Placement
from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.learned_sparse_encoder import LearnedSparseEncoder, build_sparse
from chunkwise.connectors.retriever import open_retriever
from chunkwise.connectors.stores import open_store
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.components import build_chunker, build_embedder, build_sparse_encoder
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError
from chunkwise.pipeline.indexing import index_documents
from chunkwise.pipeline.types import SparseVector

DOCUMENTS = {
    "packages.md": "# Packages\n\nDebian packages are built with dpkg-buildpackage from a source tree.\n",
    "mail.md": "# Mail\n\nFetchmail retrieves mail from POP3 and IMAP servers for the local MTA.\n",
    "editor.md": "# Editor\n\nVim is a modal text editor: press i to insert, Esc to leave insert mode.\n",
}
QUESTION, ANSWER = "how do I retrieve mail from an IMAP server", "mail.md"
STORES = ["edge", "local"]


@pytest.fixture(scope="module")
def reference(splade_model: str):
    """sentence-transformers' own SparseEncoder of the model: what the stored weights must equal."""
    from sentence_transformers import SparseEncoder

    return SparseEncoder(splade_model, device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("splade-corpus")
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def location(root: Path, kind: str) -> str:
    return str(root / "qdrant") if kind == "edge" else f"local:{root / 'qdrant'}"


@pytest.fixture(scope="module")
def splade(splade_model: str) -> LearnedSparseEncoder:
    return build_sparse(splade_model)


def index(store, folder: Path, collection: str, encoder, sparse, *, reindex: bool = False, **options):
    """``folder`` through the whole pipeline into ``store`` (models loaded once for the module)."""
    chosen = IngestOptions(**{"chunking": "fixed", **options})
    embedder = build_embedder(chosen, encoder)
    report = index_documents(
        FileSystemSource([str(folder)]),
        UnstructuredParser(),
        build_chunker(chosen, embedder),
        embedder,
        store,
        collection,
        sparse_encoder=sparse,
        reindex=reindex,
    )
    assert not report.errors, report.errors
    return report


@pytest.fixture(scope="module", params=STORES)
def splade_store(request, tmp_path_factory, corpus, splade_model, splade, encoder) -> str:
    """The corpus ingested with SPLADE weights (fixed chunking) into a new store of each kind: into
    Qdrant Edge by the Python API's ``sparse_model``, into local mode by the pipeline."""
    store = location(tmp_path_factory.mktemp(f"splade-{request.param}"), request.param)
    if request.param == "edge":
        report = chunkwise.ingest(
            corpus, store=store, collection="docs", chunking="fixed", sparse_model=splade_model
        )
        assert (report.indexed, report.failed) == (3, 0)
    else:
        with open_store(store) as opened:
            index(opened, corpus, "docs", encoder, splade)
    return store


def as_dict(vector: SparseVector) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


def reference_weights(reference, texts: list[str], role: str = "document") -> list[dict[int, float]]:
    encode = reference.encode_document if role == "document" else reference.encode_query
    rows = encode(texts, convert_to_sparse_tensor=True).coalesce()
    indices, values = rows.indices().numpy(), rows.values().numpy()
    return [
        {
            int(i): float(v)
            for i, v in zip(indices[1][indices[0] == row], values[indices[0] == row], strict=True)
        }
        for row in range(len(texts))
    ]


def assert_same_weights(stored: dict[int, float], expected: dict[int, float]) -> None:
    assert stored.keys() == expected.keys()
    assert stored == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_the_encoder_gives_the_models_document_and_query_weights(splade, splade_model, reference) -> None:
    encoder = splade
    texts = [text for text in DOCUMENTS.values()]
    vectors = encoder.encode_documents(texts)
    for vector, expected in zip(vectors, reference_weights(reference, texts), strict=True):
        assert vector.indices == tuple(sorted(vector.indices)) and min(vector.values) > 0
        assert max(vector.indices) < reference.get_embedding_dimension()  # vocabulary ids
        assert_same_weights(as_dict(vector), expected)
    query = encoder.encode_query(QUESTION)
    assert_same_weights(as_dict(query), reference_weights(reference, [QUESTION], "query")[0])
    assert encoder.config == {"kind": "learned", "model": splade_model}


def test_a_model_that_does_not_load_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="cannot load sparse model"):
        build_sparse(str(tmp_path / "no-such-model"))
    assert build_sparse(None).config["model"] == "qdrant-bm25"


def test_the_stored_sparse_vectors_are_the_models_weights_of_each_chunk(
    splade_store, splade_model, reference
):
    with open_store(splade_store) as store:
        fingerprint = store.fingerprint("docs")
        points = list(store.points("docs"))
    assert fingerprint.sparse == {"kind": "learned", "model": splade_model} and not fingerprint.sparse_idf
    assert len(points) == 3
    expected = reference_weights(reference, [point.payload["text"] for point in points])
    for point, weights in zip(points, expected, strict=True):
        assert point.sparse is not None and min(point.sparse.values) > 0
        assert_same_weights(as_dict(point.sparse), weights)


def test_sparse_search_scores_the_raw_weights_without_idf(splade_store, reference) -> None:
    """The best chunk's score is the dot product of the query's and the chunk's weights: an IDF
    modifier on the collection would scale each term and change it."""
    with open_store(splade_store) as store:
        assert open_retriever(store, "docs").sparse_encoder.config["kind"] == "learned"
        assert sparse_score_is_the_dot_product(store, "docs", reference)


def test_hybrid_search_fuses_the_learned_weights_with_the_embedding(splade_store) -> None:
    with open_store(splade_store) as store:
        retriever = open_retriever(store, "docs")  # the default: hybrid, the collection has weights
        hits = retriever.invoke(QUESTION)
    assert retriever.mode == "hybrid" and hits[0].metadata["mode"] == "hybrid"
    assert Path(hits[0].metadata["source"]).name == ANSWER


def test_the_query_side_loads_the_model_from_another_folder(splade_store, splade_model) -> None:
    with open_store(splade_store) as store:
        moved = open_retriever(store, "docs", mode="sparse", sparse_model=splade_model + "/")
        assert moved.sparse_encoder.config["model"] == splade_model  # the collection's, from elsewhere
        assert Path(moved.invoke(QUESTION)[0].metadata["source"]).name == ANSWER


def test_the_sparse_model_runs_where_it_is_placed(splade_model) -> None:
    """--device and --precision place the sparse model as they place the dense one: a device asked
    for is checked when the encoder is made, fp16 is for GPUs, a half placement loads it in fp16."""
    on_cpu = build_sparse(splade_model, device="CPU", precision="fp32")
    assert on_cpu.placement == Placement("cpu", "fp32")
    assert {(p.device.type, str(p.dtype)) for p in on_cpu.model.parameters()} == {("cpu", "torch.float32")}
    with pytest.raises(ConfigurationError, match="GPU only"):
        LearnedSparseEncoder(splade_model, device="cpu", precision="fp16")
    with pytest.raises(ConfigurationError, match="not available on this machine"):
        LearnedSparseEncoder(splade_model, device="cuda:99")
    options = IngestOptions(chunking="fixed", sparse_model=splade_model, device="cpu")
    assert build_sparse_encoder(options).placement == Placement("cpu", "fp32")
    half = LearnedSparseEncoder(splade_model)
    half.asked_placement._resolved = Placement("cpu", "fp16")  # what a GPU's placement says, without one
    assert {str(p.dtype) for p in half.model.parameters()} == {"torch.float16"}


def test_the_retriever_places_the_collection_s_sparse_model(splade_store, splade_model) -> None:
    with open_store(splade_store) as store:
        retriever = open_retriever(store, "docs", mode="sparse", device="cpu", precision="fp32")
        assert retriever.sparse_encoder.placement == Placement("cpu", "fp32")
        assert retriever.sparse_encoder is not open_retriever(store, "docs", mode="sparse").sparse_encoder
        with pytest.raises(ConfigurationError, match="GPU only"):
            open_retriever(store, "docs", mode="sparse", device="cpu", precision="fp16")


def sparse_score_is_the_dot_product(store, collection: str, reference) -> bool:
    """Whether the best sparse hit scores the plain dot product of the weights (no IDF applied)."""
    hits = open_retriever(store, collection, mode="sparse", k=1).invoke(QUESTION)
    assert Path(hits[0].metadata["source"]).name == ANSWER
    [best] = [p for p in store.points(collection) if p.id == hits[0].metadata["chunk_ids"][0]]
    query = reference_weights(reference, [QUESTION], "query")[0]
    dot = sum(weight * query.get(term, 0.0) for term, weight in as_dict(best.sparse).items())
    return hits[0].metadata["score"] == pytest.approx(dot, rel=1e-4)


def test_switching_between_bm25_and_splade_needs_a_reindex(
    tmp_path, corpus, splade_model, splade, encoder, reference
) -> None:
    """A reindex to learned weights rebuilds the collection without IDF, and back to BM25 with it."""
    with open_store(str(tmp_path / "qdrant")) as store:
        index(store, corpus, "docs", encoder, Bm25Encoder())
        with pytest.raises(ConfigurationError, match="BM25"):
            open_retriever(store, "docs", sparse_model=splade_model)  # no learned model to load
        with pytest.raises(FingerprintMismatchError, match="--reindex"):
            index(store, corpus, "docs", encoder, splade)
        index(store, corpus, "docs", encoder, splade, reindex=True)
        assert store.fingerprint("docs").sparse["kind"] == "learned" and store.count("docs") == 3
        assert sparse_score_is_the_dot_product(store, "docs", reference)
        with pytest.raises(FingerprintMismatchError, match="--reindex"):
            index(store, corpus, "docs", encoder, Bm25Encoder())
        index(store, corpus, "docs", encoder, Bm25Encoder(), reindex=True)
        assert store.fingerprint("docs").sparse["model"] == "qdrant-bm25" and store.count("docs") == 3
        hits = open_retriever(store, "docs", mode="sparse", k=1).invoke(QUESTION)
        assert Path(hits[0].metadata["source"]).name == ANSWER


def test_late_chunking_weighs_each_chunk_text_alone(tmp_path, splade, encoder, reference) -> None:
    """Dense vectors come from the document pass; the sparse weights are still each chunk's own."""
    folder = tmp_path / "long"
    folder.mkdir()
    words = ["force", "root", "admindir", "instdir", "refuse", "debug"] * 6
    sentences = [
        f"Section {n}: the {word} option changes how dpkg unpacks archives." for n, word in enumerate(words)
    ]
    (folder / "long.md").write_text("# dpkg\n\n" + " ".join(sentences) + "\n", encoding="utf-8")
    with open_store(str(tmp_path / "qdrant")) as store:
        index(store, folder, "late", encoder, splade, chunking="late", chunk_size=64, chunk_overlap=0)
        assert store.fingerprint("late").chunking["strategy"] == "late"
        points = sorted(store.points("late"), key=lambda point: point.payload["chunk_index"])
    assert len(points) > 2
    expected = reference_weights(reference, [point.payload["text"] for point in points])
    for point, weights in zip(points, expected, strict=True):
        assert_same_weights(as_dict(point.sparse), weights)
