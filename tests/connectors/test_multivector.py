"""Multi-vector (ColBERT) token vectors from a tiny late-interaction model, and MaxSim search on
Qdrant Edge and qdrant-client local mode."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from tiny_models import COLBERT_SIZE, save_tiny_colbert

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.devices import Placement
from chunkwise.connectors.multivector_encoder import (
    MultivectorEncoder,
    _TransformerEncoder,
    cap_tokens,
    maxsim,
    pool_tokens,
    read_layout,
    shared_multivector,
)
from chunkwise.connectors.qdrant_common import rescore_limit
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.retriever import ChunkwiseRetriever
from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Chunk, Document

SENTENCES = [
    "Debian packages are built with dpkg-buildpackage from a source tree.",
    "Fetchmail retrieves mail from POP3 and IMAP servers for the local MTA.",
    "Vim is a modal text editor: press i to insert, Esc to leave insert mode.",
    "The kernel schedules processes and threads on every processor core.",
    "Apt resolves package dependencies and downloads archives from mirrors.",
    "Mutt reads mail from local mailboxes and remote IMAP folders.",
    "Emacs binds commands to key chords and runs Lisp code.",
    "Systemd starts services at boot and restarts them when they fail.",
    "Git records snapshots of a tree and merges branches of history.",
    "Postfix delivers mail between servers over SMTP.",
]
QUESTION = "which program reads mail from an IMAP server"
TEXT = (
    "Debian packages are built with dpkg-buildpackage from a source tree. "
    "Fetchmail retrieves mail from POP3 and IMAP servers. Vim is a modal text editor."
)


@pytest.fixture(scope="module")
def colbert_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_colbert(tmp_path_factory.mktemp("colbert-st"))


@pytest.fixture(scope="module")
def colbert(colbert_folder: str) -> MultivectorEncoder:
    return MultivectorEncoder(colbert_folder)


def document_and_chunks(text: str = TEXT) -> tuple[Document, list[Chunk]]:
    """``text`` cut at its sentences into chunks."""
    bounds, start = [], 0
    for end in [i + 1 for i, c in enumerate(text) if c == "."]:
        bounds.append((start, end))
        start = end + 1
    document = Document(id="d", source="d.md", text=text, content_hash="h")
    chunks = [
        Chunk(id=f"c{i}", document_id="d", index=i, text=text[a:b], start=a, end=b, token_count=0)
        for i, (a, b) in enumerate(bounds)
    ]
    return document, chunks


def reference_pass(folder: str, text: str) -> tuple[list[int], np.ndarray]:
    """The tokens of ``[CLS] [unused1] text [SEP]`` and their projected, normalised vectors, by
    transformers and safetensors directly (what the encoder must agree with)."""
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("[unused1] " + text)["input_ids"]
    ids = [ids[0], tokenizer.convert_tokens_to_ids("[unused1]"), *tokenizer(text)["input_ids"][1:]]
    with torch.inference_mode():
        states = BertModel.from_pretrained(folder)(torch.tensor([ids]))[0][0].numpy()
    weight = load_file(str(Path(folder) / "1_Dense" / "model.safetensors"))["linear.weight"]
    vectors = states @ weight.T
    return ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_queries_and_chunks_are_unit_token_vectors_without_specials_or_punctuation(colbert) -> None:
    query = colbert.encode_query("how are packages built")
    assert query.shape == (32, COLBERT_SIZE)  # [CLS] [Q] 4 words [SEP], padded with [MASK] to 32
    assert np.allclose(np.linalg.norm(query, axis=1), 1, atol=1e-5)
    text = "Debian packages are built, with dpkg-buildpackage."
    tokens = colbert.reader.tokenizer.tokenizer.tokenize(text)
    [vectors] = colbert.encode_documents([text])
    assert vectors.shape == (len([t for t in tokens if t not in string.punctuation]), COLBERT_SIZE)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert colbert.vector_config == {
        "kind": "multivector",
        "size": COLBERT_SIZE,
        "model": colbert.model_name,
        "chunks": "alone",
    }


def test_both_checkpoint_layouts_load_to_the_same_vectors(colbert, tmp_path) -> None:
    stanford = MultivectorEncoder(save_tiny_colbert(tmp_path / "colbert", layout="colbert"))
    assert (stanford.layout.kind, colbert.layout.kind) == ("colbert", "sentence-transformers")
    assert stanford.layout.query_marker == colbert.layout.query_marker == "[unused0]"
    assert np.array_equal(stanford.encode_query("mail"), colbert.encode_query("mail"))
    assert np.array_equal(stanford.encode_documents([TEXT])[0], colbert.encode_documents([TEXT])[0])


def test_chunk_vectors_are_the_model_s_own_token_vectors(colbert, colbert_folder) -> None:
    _, reference = reference_pass(colbert_folder, "Vim is a modal text editor")
    [vectors] = colbert.encode_documents(["Vim is a modal text editor"])
    assert np.allclose(vectors, reference[2:-1], atol=1e-5)  # without [CLS], [D] and [SEP]


def test_late_chunks_are_slices_of_the_document_pass(colbert_folder) -> None:
    document, chunks = document_and_chunks()
    late = MultivectorEncoder(colbert_folder, late=True)
    [per_chunk] = late.embed([(document, chunks)])
    ids, reference = reference_pass(colbert_folder, TEXT)
    tokenizer = late.reader.tokenizer
    _, starts = tokenizer.ids_and_starts(TEXT)
    skipped = set(late.reader.tokenizer.tokenizer.convert_tokens_to_ids(list(string.punctuation)))
    for chunk, vectors in zip(chunks, per_chunk, strict=True):
        rows = [
            2 + t for t, s in enumerate(starts) if chunk.start <= s < chunk.end and ids[2 + t] not in skipped
        ]
        assert np.allclose(vectors, reference[rows], atol=1e-5)
    alone = MultivectorEncoder(colbert_folder).embed([(document, chunks)])[0]
    assert not np.allclose(alone[1], per_chunk[1], atol=1e-3)  # in context, the vectors differ
    assert late.vector_config["chunks"] == "late"


def test_late_chunks_over_many_windows_keep_one_vector_per_token(colbert_folder) -> None:
    document, chunks = document_and_chunks(" ".join([TEXT] * 6))
    windowed = MultivectorEncoder(colbert_folder, late=True, window=24, overlap=4).embed([(document, chunks)])
    whole = MultivectorEncoder(colbert_folder, late=True).embed([(document, chunks)])
    assert [len(v) for v in windowed[0]] == [len(v) for v in whole[0]]


def test_pooling_and_the_cap_bound_the_stored_vectors(colbert_folder, colbert) -> None:
    [full] = colbert.encode_documents([TEXT])
    [pooled] = MultivectorEncoder(colbert_folder, pool_factor=3).encode_documents([TEXT])
    [capped] = MultivectorEncoder(colbert_folder, max_tokens=5).encode_documents([TEXT])
    [both] = MultivectorEncoder(colbert_folder, pool_factor=2, max_tokens=4).encode_documents([TEXT])
    assert (len(pooled), len(capped), len(both)) == (-(-len(full) // 3), 5, 4)
    assert np.allclose(pooled[0], pool_tokens(full[:3], 3)[0], atol=1e-6)
    for vectors in (pooled, capped, both):
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_pool_and_cap_arithmetic() -> None:
    rows = np.eye(5, dtype=np.float32)
    pooled = pool_tokens(rows, 2)
    assert pooled.shape == (3, 5)
    assert np.allclose(pooled[0], [2**-0.5, 2**-0.5, 0, 0, 0]) and np.allclose(pooled[2], rows[4])
    assert cap_tokens(rows, 2).shape == (2, 5) and cap_tokens(rows, 9) is rows
    assert maxsim(rows[:2], rows) == pytest.approx(2.0)


def test_a_folder_that_is_no_model_is_refused_clearly(tmp_path) -> None:
    from chunkwise.pipeline.errors import ConfigurationError

    assert read_layout(tmp_path).projections == ()
    with pytest.raises(ConfigurationError, match="--multivector-model"):
        _ = MultivectorEncoder(str(tmp_path)).reader
    with pytest.raises(ConfigurationError, match="pool factor"):
        MultivectorEncoder("x", pool_factor=0)


@pytest.fixture(scope="module", params=["edge", "local"])
def token_store(request, tmp_path_factory, colbert, encoder):
    """SENTENCES, one chunk each, with dense vectors, BM25 terms and token vectors, in a store of
    each kind; and the token vectors written."""
    opened = (
        QdrantEdgeStore(tmp_path_factory.mktemp("mv-edge") / "qdrant")
        if request.param == "edge"
        else QdrantServerStore(":memory:")
    )
    bm25 = Bm25Encoder()
    fingerprint = Fingerprint(
        model=encoder.spec.model,
        dimension=encoder.spec.dimension,
        chunking={"strategy": "fixed"},
        sparse=bm25.config,
        vectors={"multivector": colbert.vector_config},
    )
    opened.ensure_collection("mv", fingerprint)
    dense, terms = encoder.encode_documents(SENTENCES), bm25.encode_documents(SENTENCES)
    tokens = colbert.encode_documents(SENTENCES)
    opened.write_points(
        "mv",
        [
            Point(
                id=f"00000000-0000-0000-0000-{i:012d}",
                vector=dense[i],
                payload={"document_id": f"d{i}", "source": f"s{i}", "text": text},
                sparse=terms[i],
                named={"multivector": tokens[i]},
            )
            for i, text in enumerate(SENTENCES)
        ],
    )
    yield opened, fingerprint, tokens
    opened.close()


def stored_tokens(store) -> dict[str, np.ndarray]:
    return {point.id: point.named["multivector"] for point in store.points("mv")}


def test_the_store_keeps_each_chunk_s_token_vectors(token_store) -> None:
    store, _, tokens = token_store
    stored = stored_tokens(store)
    for i, written in enumerate(tokens):
        assert np.allclose(stored[f"00000000-0000-0000-0000-{i:012d}"], written, atol=1e-6)


def test_maxsim_ranking_from_the_store_equals_numpy_maxsim(token_store, colbert) -> None:
    store, _, _ = token_store
    query = colbert.encode_query(QUESTION)
    hits = store.search("mv", None, len(SENTENCES), multivector=query)
    scores = {chunk: maxsim(query, vectors) for chunk, vectors in stored_tokens(store).items()}
    assert [hit.id for hit in hits] == sorted(scores, key=lambda chunk: -scores[chunk])
    assert [hit.score for hit in hits] == pytest.approx([scores[hit.id] for hit in hits], rel=1e-4)
    best = store.search_documents("mv", None, 3, multivector=query)
    assert [hit.id for hit in best] == [hit.id for hit in hits[:3]]  # one chunk per document here


def test_hybrid_rescoring_orders_the_prefetched_candidates_by_maxsim(token_store, colbert, encoder) -> None:
    store, _, _ = token_store
    dense, terms = encoder.encode_query(QUESTION), Bm25Encoder().encode_query(QUESTION)
    tokens = colbert.encode_query(QUESTION)
    depth = rescore_limit(1)
    candidates = {hit.id for hit in store.search("mv", dense, depth)}
    candidates |= {hit.id for hit in store.search("mv", None, depth, sparse=terms)}
    assert len(candidates) < len(SENTENCES)  # the rescoring sees some chunks only
    scores = {chunk: maxsim(tokens, vectors) for chunk, vectors in stored_tokens(store).items()}
    rescored = store.search("mv", dense, 1, sparse=terms, multivector=tokens)
    assert [hit.id for hit in rescored] == [max(candidates, key=lambda chunk: scores[chunk])]
    assert rescored[0].score == pytest.approx(scores[rescored[0].id], rel=1e-4)
    dense_only = store.search("mv", dense, 2, multivector=tokens)
    from_dense = {hit.id for hit in store.search("mv", dense, rescore_limit(2))}
    assert [hit.id for hit in dense_only] == sorted(from_dense, key=lambda chunk: -scores[chunk])[:2]


def test_another_multivector_configuration_is_refused_clearly(token_store, colbert) -> None:
    store, fingerprint, _ = token_store
    pooled = {**colbert.vector_config, "pool_factor": 2}
    for vectors in ({}, {"multivector": pooled}):
        other = Fingerprint(**{**fingerprint.to_dict(), "vectors": vectors})  # type: ignore[arg-type]
        with pytest.raises(FingerprintMismatchError, match=r"named vectors.*reindex"):
            store.ensure_collection("mv", other)


def test_device_and_precision_place_the_model_and_fp16_is_refused_on_the_cpu(colbert_folder) -> None:
    on_cpu = MultivectorEncoder(colbert_folder, device="cpu", precision="fp32")
    assert on_cpu.placement == Placement("cpu", "fp32") and on_cpu.device == "cpu"
    weights = next(on_cpu.reader.base.token_model.parameters())
    assert weights.device.type == "cpu" and str(weights.dtype) == "torch.float32"
    with pytest.raises(ConfigurationError, match="GPU only"):
        MultivectorEncoder(colbert_folder, device="cpu", precision="fp16")
    with pytest.raises(ConfigurationError, match="device must be one of"):
        MultivectorEncoder(colbert_folder, device="gpu")
    assert shared_multivector(colbert_folder, device="cpu").asked_placement.device == "cpu"
    assert shared_multivector(colbert_folder, device="cpu") is shared_multivector(colbert_folder, None, "CPU")
    assert shared_multivector(colbert_folder) is not shared_multivector(colbert_folder, device="cpu")


def test_a_half_placement_loads_the_model_in_fp16(colbert_folder) -> None:
    base = _TransformerEncoder(read_layout(colbert_folder), "tiny", device="cpu")
    base.asked_placement._resolved = Placement("cpu", "fp16")  # what a GPU's placement says, without one
    assert {str(p.dtype) for p in base._load().parameters()} == {"torch.float16"}


def test_a_shared_encoder_reuses_the_loaded_model(colbert) -> None:
    pooled = colbert.share(pool_factor=2, max_tokens=3)
    assert pooled.reader.base is colbert.reader.base and pooled.placement == colbert.placement
    [alone] = colbert.encode_documents([TEXT])
    [bounded] = pooled.encode_documents([TEXT])
    assert np.allclose(bounded, cap_tokens(pool_tokens(alone, 2), 3), atol=1e-6)


def test_the_retriever_places_the_collection_s_multivector_model(token_store, colbert, encoder) -> None:
    store, _, _ = token_store
    retriever = ChunkwiseRetriever(
        store=store, collection="mv", encoder=encoder, device="cpu", precision="fp32"
    )
    tokens = retriever.multivector_encoder
    assert (tokens.asked_placement.device, tokens.asked_placement.precision) == ("cpu", "fp32")
    assert tokens.model_name == colbert.model_name
    with pytest.raises(ConfigurationError, match="not both"):
        ChunkwiseRetriever(
            store=store, collection="mv", encoder=encoder, multivector_encoder=colbert, multivector_model="x"
        )
