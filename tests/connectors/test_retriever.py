"""The langchain retriever on a real collection: MiniLM vectors, BM25 terms, Qdrant Edge and local mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document as LangchainDocument
from retriever_corpus import COLLECTION, RARE_WORD, ingest, write_corpus

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.model_defaults import defaults_for
from chunkwise.connectors.qdrant_common import prefetch_limit
from chunkwise.connectors.retriever import ChunkwiseRetriever, open_retriever
from chunkwise.connectors.stores import Store, open_store
from chunkwise.pipeline.copying import copy_collection
from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError, StoreError
from chunkwise.pipeline.types import Document, EncoderSpec

BERLIN_QUESTION = "What is the capital of Germany?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("retriever-corpus"))


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory, corpus: Path, encoder) -> Iterator[tuple[Store, dict[str, Document]]]:
    with open_store(str(tmp_path_factory.mktemp("edge") / "qdrant")) as store:
        parsed = ingest(corpus, store, encoder)
        yield store, parsed


@pytest.fixture(scope="module")
def memory_store(edge_store) -> Iterator[Store]:
    """The same collection in qdrant-client's local mode (the server's code path: the query API)."""
    source, _ = edge_store
    with open_store(":memory:") as store:
        copy_collection(source, store, COLLECTION)
        yield store


@pytest.fixture(params=["edge", "local-memory"])
def store(request, edge_store, memory_store) -> Store:
    return edge_store[0] if request.param == "edge" else memory_store


@pytest.fixture
def parsed(edge_store) -> dict[str, Document]:
    return edge_store[1]


@pytest.fixture
def retriever(store, encoder) -> ChunkwiseRetriever:
    return open_retriever(store, COLLECTION, encoder=encoder, k=3)


def source_of(documents: list[LangchainDocument]) -> list[str]:
    return [Path(document.metadata["source"]).name for document in documents]


def assert_spans_match(documents: list[LangchainDocument], parsed: dict[str, Document]) -> None:
    """Every passage is exactly its document's text between its start and end: nothing repeated."""
    for document in documents:
        text = parsed[document.metadata["source"]].text
        assert document.page_content == text[document.metadata["start"] : document.metadata["end"]]


# --- modes ----------------------------------------------------------------------------------------


def test_dense_mode_returns_k_documents_with_their_provenance(retriever, parsed) -> None:
    documents = retriever.invoke(BERLIN_QUESTION, mode="dense")

    assert len(documents) == 3
    assert all(isinstance(document, LangchainDocument) for document in documents)
    assert source_of(documents)[0] == "berlin.md"
    scores = [document.metadata["score"] for document in documents]
    assert scores == sorted(scores, reverse=True)
    for document in documents:
        metadata = document.metadata
        keys = {"source", "start", "end", "chunk_index", "page", "title", "score", "chunk_ids"}
        assert keys <= set(metadata)
        assert metadata["chunk_ids"] == [document.id]
        assert metadata["mode"] == "dense"
        assert metadata["filename"] == Path(metadata["source"]).name  # the document's own metadata
    assert documents[0].metadata["title"] == "Berlin"
    assert_spans_match(documents, parsed)


def test_sparse_mode_returns_only_chunks_holding_the_query_terms(retriever) -> None:
    documents = retriever.invoke(f"{RARE_WORD}?", mode="sparse", k=5)

    assert documents, "the word is in the corpus"
    assert all(RARE_WORD in document.page_content for document in documents)
    assert all(document.metadata["mode"] == "sparse" for document in documents)
    dense = retriever.invoke(f"{RARE_WORD}?", mode="dense", k=5)
    assert len(dense) == 5 and not all(RARE_WORD in document.page_content for document in dense)


def reciprocal_rank_scores(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Qdrant's fusion: each ranking gives 1 / (k + rank), the first rank being 0."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, point_id in enumerate(ranking):
            scores[point_id] = scores.get(point_id, 0.0) + 1 / (k + rank)
    return scores


def test_hybrid_mode_fuses_the_dense_and_sparse_rankings(store, encoder, retriever) -> None:
    query = "Which package put a file on the disk?"
    depth = prefetch_limit(5)  # what each side brings to the fusion
    dense = store.search(COLLECTION, encoder.encode_query(query), depth)
    sparse = store.search(COLLECTION, None, depth, sparse=Bm25Encoder().encode_query(query))
    expected = reciprocal_rank_scores([[hit.id for hit in dense], [hit.id for hit in sparse]])

    documents = retriever.invoke(query, mode="hybrid", fusion="rrf", k=5)

    for document in documents:
        assert document.metadata["score"] == pytest.approx(expected[document.id], rel=1e-4)
    best = sorted(expected.values(), reverse=True)[:5]
    assert [d.metadata["score"] for d in documents] == pytest.approx(best, rel=1e-4)
    assert dense[0].id != sparse[0].id, "the two rankings must disagree for this test to mean something"


def test_the_default_mode_is_hybrid_when_the_collection_has_term_weights(store, encoder) -> None:
    assert open_retriever(store, COLLECTION, encoder=encoder).mode == "hybrid"


def test_hybrid_fuses_as_the_models_defaults_say_unless_told_otherwise(store, encoder, retriever) -> None:
    query = "Which package put a file on the disk?"
    depth = prefetch_limit(5)
    dense = {hit.id for hit in store.search(COLLECTION, encoder.encode_query(query), depth)}
    sparse = {
        hit.id for hit in store.search(COLLECTION, None, depth, sparse=Bm25Encoder().encode_query(query))
    }

    assert retriever.fusion == str(defaults_for(encoder.spec.model).fusion)
    by_scores = retriever.invoke(query, fusion="dbsf", k=5)
    by_rank = retriever.invoke(query, fusion="rrf", k=5)
    weighted = retriever.invoke(query, fusion="rrf:4", k=5)

    assert {d.id for d in by_scores} <= dense | sparse and {d.id for d in weighted} <= dense | sparse
    assert [d.metadata["score"] for d in by_scores] != pytest.approx([d.metadata["score"] for d in by_rank])
    assert weighted[0].id in sparse  # BM25's side weighs four times the embedding's
    with pytest.raises(ConfigurationError, match="unknown fusion 'sum'"):
        retriever.invoke(query, fusion="sum")


def test_a_collection_without_term_weights_searches_densely_and_refuses_other_modes(
    tmp_path, corpus, encoder
) -> None:
    with open_store(str(tmp_path / "dense-only")) as store:
        ingest(corpus, store, encoder, sparse=False)
        retriever = open_retriever(store, COLLECTION, encoder=encoder)
        assert retriever.mode == "dense"
        assert source_of(retriever.invoke(BERLIN_QUESTION))[0] == "berlin.md"
        with pytest.raises(ConfigurationError, match="needs term weights"):
            retriever.invoke(BERLIN_QUESTION, mode="hybrid")
        with pytest.raises(ConfigurationError, match="needs term weights"):
            open_retriever(store, COLLECTION, encoder=encoder, mode="sparse")


def test_an_unknown_mode_is_refused(retriever) -> None:
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        retriever.invoke(BERLIN_QUESTION, mode="keyword")


# --- filters and threshold ------------------------------------------------------------------------


def test_filter_on_an_exact_source(retriever, corpus) -> None:
    apt = str(corpus / "faq" / "apt.md")
    documents = retriever.invoke(BERLIN_QUESTION, filter={"source": apt})
    assert documents and {document.metadata["source"] for document in documents} == {apt}


def test_filter_on_a_source_glob(retriever) -> None:
    documents = retriever.invoke(BERLIN_QUESTION, k=10, filter={"source": "*/faq/*.md"})
    assert documents
    assert set(source_of(documents)) == {"apt.md", "dpkg.md"}


def test_a_list_of_globs_and_exact_sources_matches_any_of_them(retriever, corpus) -> None:
    documents = retriever.invoke(
        BERLIN_QUESTION, k=20, filter={"source": ["*/notes/first-*", str(corpus / "faq" / "dpkg.md")]}
    )
    assert set(source_of(documents)) == {"first-copy.txt", "dpkg.md"}


def test_a_glob_that_matches_no_source_finds_nothing(retriever) -> None:
    assert retriever.invoke(BERLIN_QUESTION, filter={"source": "*/nowhere/*"}) == []


def test_filter_on_document_ids_and_document_metadata(retriever, store) -> None:
    ids = {Path(p.payload["source"]).name: p.payload["document_id"] for p in store.points(COLLECTION)}
    berlin, apt = ids["berlin.md"], ids["apt.md"]

    by_id = retriever.invoke(BERLIN_QUESTION, k=20, filter={"document_id": [berlin, apt]})
    assert set(source_of(by_id)) == {"berlin.md", "apt.md"}

    text_files = retriever.invoke(BERLIN_QUESTION, k=20, filter={"metadata.format": "txt"})
    assert set(source_of(text_files)) == {"first-copy.txt", "second-copy.txt"}


def test_a_filter_value_that_cannot_be_matched_is_refused(retriever) -> None:
    with pytest.raises(ConfigurationError, match="cannot be matched"):
        retriever.invoke(BERLIN_QUESTION, filter={"start": 1.5})


def test_score_threshold_drops_weaker_hits(retriever) -> None:
    every = retriever.invoke(BERLIN_QUESTION, k=10, mode="dense")
    threshold = (every[1].metadata["score"] + every[2].metadata["score"]) / 2

    kept = retriever.invoke(BERLIN_QUESTION, k=10, mode="dense", score_threshold=threshold)

    assert [document.id for document in kept] == [document.id for document in every[:2]]


# --- context expansion ----------------------------------------------------------------------------


def chunk_texts(store: Store, source: str) -> list[tuple[int, str, int, int]]:
    points = store.points(COLLECTION, with_vectors=False, filters={"source": source})
    return sorted((p.payload["chunk_index"], p.id, p.payload["start"], p.payload["end"]) for p in points)


def test_expand_adds_neighbours_on_each_side_without_repeating_their_overlap(
    retriever, store, parsed
) -> None:
    source = next(s for s in parsed if s.endswith("berlin.md"))
    chunks = chunk_texts(store, source)
    index = next(  # a chunk that overlaps both its neighbours (one long paragraph)
        i
        for i in range(1, len(chunks) - 1)
        if chunks[i][2] < chunks[i - 1][3] and chunks[i + 1][2] < chunks[i][3]
    )
    anchor = parsed[source].text[chunks[index][2] : chunks[index][3]]
    [hit] = retriever.invoke(anchor, mode="dense", k=1, filter={"source": source})
    assert hit.metadata["chunk_index"] == index

    [passage] = retriever.invoke(anchor, mode="dense", k=1, expand=1, filter={"source": source})

    assert passage.metadata["chunk_ids"] == [chunks[i][1] for i in (index - 1, index, index + 1)]
    assert passage.metadata["start"] == chunks[index - 1][2]
    assert passage.metadata["end"] == chunks[index + 1][3]
    assert_spans_match([passage], parsed)
    assert passage.id == hit.id and passage.metadata["score"] == hit.metadata["score"]


@pytest.mark.parametrize("edge", ["first", "last"])
def test_expand_stops_at_the_edges_of_the_document(retriever, store, parsed, edge) -> None:
    source = next(s for s in parsed if s.endswith("berlin.md"))
    chunks = chunk_texts(store, source)
    index = 0 if edge == "first" else len(chunks) - 1
    anchor = parsed[source].text[chunks[index][2] : chunks[index][3]]

    [passage] = retriever.invoke(anchor, mode="dense", k=1, expand=2, filter={"source": source})

    assert passage.metadata["chunk_index"] == index
    wanted = range(0, 3) if edge == "first" else range(index - 2, index + 1)
    assert passage.metadata["chunk_ids"] == [chunks[i][1] for i in wanted]
    assert_spans_match([passage], parsed)


def test_expand_section_returns_the_hits_whole_section_and_no_more(retriever, parsed) -> None:
    [passage] = retriever.invoke("trams in the eastern districts", mode="dense", k=1, expand="section")
    text = parsed[passage.metadata["source"]].text

    assert passage.metadata["title"] == "Transport"
    assert passage.page_content.startswith("Transport")
    assert passage.page_content.endswith("survived the division of the city.")
    assert "Spandau" not in passage.page_content and "Berlinale" not in passage.page_content
    assert len(passage.metadata["chunk_ids"]) > 1
    assert passage.page_content == text[passage.metadata["start"] : passage.metadata["end"]]


def test_overlapping_expanded_hits_are_merged_and_k_passages_still_returned(retriever, parsed) -> None:
    plain = retriever.invoke(BERLIN_QUESTION, mode="dense", k=4)
    expanded = retriever.invoke(BERLIN_QUESTION, mode="dense", k=4, expand=3)

    assert len(expanded) == 4
    ids = [chunk for document in expanded for chunk in document.metadata["chunk_ids"]]
    assert len(ids) == len(set(ids)), "no chunk may appear in two passages"
    assert expanded[0].id == plain[0].id
    assert_spans_match(expanded, parsed)


def test_an_invalid_expansion_is_refused(store, encoder, retriever) -> None:
    with pytest.raises(ValueError, match="expand must be"):
        open_retriever(store, COLLECTION, encoder=encoder, expand=-1)
    with pytest.raises(ValueError, match="expand must be"):
        retriever.invoke(BERLIN_QUESTION, expand="paragraph")


# --- MMR ------------------------------------------------------------------------------------------


def test_mmr_skips_a_duplicate_of_a_passage_it_already_returned(retriever) -> None:
    query = "how is sourdough bread baked"
    plain = retriever.invoke(query, mode="dense", k=2)
    assert plain[0].page_content == plain[1].page_content, "the two copies rank first and second"

    diverse = retriever.invoke(query, mode="dense", k=2, mmr=True)

    assert diverse[0].id == plain[0].id
    assert diverse[1].page_content != diverse[0].page_content


# --- invoke, batch, async -------------------------------------------------------------------------


def test_k_given_per_call_overrides_the_constructor(retriever) -> None:
    assert len(retriever.invoke(BERLIN_QUESTION, k=1)) == 1
    assert len(retriever.invoke(BERLIN_QUESTION, k=5)) == 5
    assert len(retriever.invoke(BERLIN_QUESTION)) == 3


def test_an_unknown_call_option_is_refused(retriever) -> None:
    with pytest.raises(TypeError, match="unknown retriever options: top_n"):
        retriever.invoke(BERLIN_QUESTION, top_n=3)


def test_ainvoke_and_batch_give_the_same_documents_as_invoke(retriever) -> None:
    questions = [BERLIN_QUESTION, "Which package owns a file?", "pin a package version"]
    one_by_one = [retriever.invoke(question) for question in questions]

    assert retriever.batch(questions) == one_by_one
    assert asyncio.run(retriever.ainvoke(questions[1])) == one_by_one[1]

    async def gather() -> list[list[LangchainDocument]]:
        return list(await asyncio.gather(*(retriever.ainvoke(question) for question in questions)))

    assert asyncio.run(gather()) == one_by_one
    assert asyncio.run(retriever.abatch(questions)) == one_by_one


# --- the collection's own encoders ----------------------------------------------------------------


class OtherModel:
    """Stands for an encoder of another model: only its spec is read before the refusal."""

    def __init__(self, model: str, dimension: int) -> None:
        self.spec = EncoderSpec(model=model, dimension=dimension, max_tokens=512)

    def encode_query(self, text: str) -> np.ndarray:
        raise AssertionError("a refused encoder must never embed")


@pytest.mark.parametrize(
    ("model", "dimension"),
    [("BAAI/bge-small-en-v1.5", 384), ("sentence-transformers/all-MiniLM-L6-v2", 768)],
)
def test_an_encoder_of_another_model_or_dimension_is_refused(store, model, dimension) -> None:
    with pytest.raises(FingerprintMismatchError, match="Leave the encoder out"):
        open_retriever(store, COLLECTION, encoder=OtherModel(model, dimension))


def test_a_sparse_encoder_with_other_settings_is_refused(store, encoder) -> None:
    with pytest.raises(FingerprintMismatchError, match="term weights were made with"):
        open_retriever(store, COLLECTION, encoder=encoder, sparse_encoder=Bm25Encoder(k=2.0))


def test_the_collections_own_encoder_is_built_from_its_fingerprint(store, encoder) -> None:
    retriever = open_retriever(store, COLLECTION)

    assert retriever.encoder.spec == encoder.spec
    assert retriever.sparse_encoder.config == retriever.fingerprint.sparse
    expected = store.search(COLLECTION, encoder.encode_query(BERLIN_QUESTION), 3)
    documents = retriever.invoke(BERLIN_QUESTION, mode="dense", k=3)
    assert [document.id for document in documents] == [hit.id for hit in expected]


def test_a_missing_collection_is_a_clear_error(store, encoder) -> None:
    with pytest.raises(StoreError, match=r"does not exist.*chunkwise ingest"):
        open_retriever(store, "no-such-collection", encoder=encoder)


def test_a_retriever_opened_from_a_location_closes_its_store(tmp_path, corpus, encoder) -> None:
    location = str(tmp_path / "qdrant")
    with open_store(location) as store:
        ingest(corpus, store, encoder)

    retriever = ChunkwiseRetriever(store=location, collection=COLLECTION, encoder=encoder)
    assert source_of(retriever.invoke(BERLIN_QUESTION))[0] == "berlin.md"
    retriever.close()

    with open_store(location) as reopened:  # the lock was released
        assert reopened.count(COLLECTION) > 0
