"""The ONNX Runtime backends against PyTorch: the same vectors (fp32), an export made once, int8 recorded."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.offline import resolve_model
from chunkwise.connectors.onnx_backend import Pooling, cosines, export_folder
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.retriever import open_retriever
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.pipeline.chunking.sentences import sentence_spans
from chunkwise.pipeline.chunking.token_chunker import TokenChunker
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.indexing import pipeline_fingerprint

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BERLIN = (
    "Berlin is the capital and largest city of Germany. It lies on the Spree. "
    "The city has about 3.8 million inhabitants. Its history goes back to the 13th century. "
    "After the Second World War the city was divided; the wall fell in 1989. "
)
# Lengths from one token to over 200, so every batch below pads most of its rows.
TEXTS = [
    "Hi",
    "Berlin is the capital of Germany.",
    BERLIN,
    BERLIN * 4,
    "dpkg -S /usr/bin/ls tells which package a file came from.",
    "x " * 30,
    "To list the files of a package, run dpkg -L with its name.",
    BERLIN * 2,
]


@pytest.fixture(scope="module")
def onnx_encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(backend="onnx", batch_size=4)


@pytest.fixture(scope="module")
def torch_encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(batch_size=4)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(cosines(a, b).min())


def _token_ids(encoder: SentenceTransformerEncoder, texts: list[str]) -> list[list[int]]:
    return encoder.model.tokenizer(texts, truncation=True, max_length=256)["input_ids"]


def test_pooled_vectors_match_pytorch_on_mixed_length_batches(onnx_encoder, torch_encoder):
    expected = torch_encoder.encode_documents(TEXTS)
    vectors = onnx_encoder.encode_documents(TEXTS)
    assert vectors.shape == expected.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    assert _min_cosine(vectors, expected) >= 0.999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = onnx_encoder.encode_query("capital of Germany")
    assert float(query @ torch_encoder.encode_query("capital of Germany")) >= 0.999


def test_token_vectors_match_pytorch_on_a_padded_batch(onnx_encoder, torch_encoder):
    inputs = _token_ids(torch_encoder, TEXTS)
    exported = onnx_encoder.token_states(inputs)
    expected = torch_encoder.token_states(inputs)
    for ids, mine, theirs in zip(inputs, exported, expected, strict=True):
        assert mine.shape == theirs.shape == (len(ids), 384)
        assert _min_cosine(mine, theirs) >= 0.999
    # and as sentence-transformers gives them, for the one text in a batch of its own
    reference = torch_encoder.model.encode([BERLIN], output_value="token_embeddings")[0].numpy()
    assert _min_cosine(onnx_encoder.token_states(_token_ids(torch_encoder, [BERLIN]))[0], reference) >= 0.999


def test_late_chunking_matches_pytorch(onnx_encoder, torch_encoder):
    document = BERLIN * 6  # several windows of 64 tokens, the last one shorter: padded batches
    spans = sentence_spans(document)
    documents = [(document, spans), (BERLIN, sentence_spans(BERLIN))]
    late = LateChunkingEncoder.from_encoder(onnx_encoder, window=64, overlap=8, batch_size=3)
    reference = LateChunkingEncoder.from_encoder(torch_encoder, window=64, overlap=8, batch_size=3)
    assert late.config == reference.config
    for mine, theirs in zip(
        late.encode_chunks_many(documents), reference.encode_chunks_many(documents), strict=True
    ):
        assert mine.shape == theirs.shape
        assert _min_cosine(mine, theirs) >= 0.999


def test_fp32_onnx_keeps_the_fingerprint_and_int8_is_recorded(onnx_encoder, torch_encoder, model_tokenizer):
    chunker = TokenChunker(model_tokenizer, chunk_size=64, chunk_overlap=8)
    int8 = SentenceTransformerEncoder(backend="onnx-int8")
    plain = pipeline_fingerprint(torch_encoder, chunker)
    assert pipeline_fingerprint(onnx_encoder, chunker) == plain
    quantized = pipeline_fingerprint(int8, chunker)
    assert quantized.chunking == {**plain.chunking, "model_quantization": "int8"}
    assert quantized.digest != plain.digest
    late = LateChunkingEncoder.from_encoder(int8, window=64)
    assert pipeline_fingerprint(late, chunker).chunking["model_quantization"] == "int8"
    # int8 vectors are close to the model's, not equal to them
    vectors, expected = int8.encode_documents(TEXTS), torch_encoder.encode_documents(TEXTS)
    assert 0.95 <= _min_cosine(vectors, expected) < 0.99999


def test_a_retriever_embeds_queries_of_an_int8_collection_with_int8_weights(model_tokenizer):
    int8 = SentenceTransformerEncoder(backend="onnx-int8")
    chunker = TokenChunker(model_tokenizer, chunk_size=64, chunk_overlap=8)
    fingerprint = pipeline_fingerprint(int8, chunker)
    with QdrantServerStore(":memory:") as store:
        store.ensure_collection("docs", fingerprint)
        retriever = open_retriever(store, "docs", mode="dense")
        assert retriever.encoder.backend == "onnx-int8"
        query = "Which package does a file come from?"
        np.testing.assert_allclose(retriever.encoder.encode_query(query), int8.encode_query(query), atol=1e-6)
        plain = SentenceTransformerEncoder(batch_size=4)
        store.ensure_collection("plain", pipeline_fingerprint(plain, chunker))
        assert open_retriever(store, "plain", mode="dense").encoder.backend == "torch"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with MiniLM's tokenizer, saved as a plain transformers folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(MINILM))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_tiny_bert_exports_once_and_matches(tiny_bert, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CHUNKWISE_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="chunkwise.connectors.onnx_backend"):
        first = SentenceTransformerEncoder(tiny_bert, backend="onnx", batch_size=3)
        vectors = first.encode_documents(TEXTS)
    assert any("exporting" in record.getMessage() for record in caplog.records)
    exported = export_folder(tiny_bert) / "model.onnx"
    assert exported.is_file() and exported.is_relative_to(tmp_path)
    stamp = exported.stat().st_mtime_ns

    reference = SentenceTransformerEncoder(tiny_bert, batch_size=3)
    assert _min_cosine(vectors, reference.encode_documents(TEXTS)) >= 0.999
    inputs = _token_ids(reference, TEXTS)
    for mine, theirs in zip(first.token_states(inputs), reference.token_states(inputs), strict=True):
        assert _min_cosine(mine, theirs) >= 0.999

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="chunkwise.connectors.onnx_backend"):
        second = SentenceTransformerEncoder(tiny_bert, backend="onnx")
        np.testing.assert_allclose(second.encode_documents(TEXTS[:2]), vectors[:2], atol=1e-5)
    assert not any("exporting" in record.getMessage() for record in caplog.records)
    assert exported.stat().st_mtime_ns == stamp  # the cached export was read, not made again


def test_an_unknown_backend_is_refused():
    with pytest.raises(
        ConfigurationError, match=r"backend must be one of torch, onnx, onnx-int8, not 'tensorrt'"
    ):
        SentenceTransformerEncoder(backend="tensorrt")
    with pytest.raises(ConfigurationError, match="runs on the CPU"):
        SentenceTransformerEncoder(backend="onnx", device="cuda")


def test_a_model_the_backend_cannot_run_is_refused(tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(MINILM))
    SentenceTransformer(modules=[StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=16)]).save(
        str(tmp_path / "static")
    )
    encoder = SentenceTransformerEncoder(str(tmp_path / "static"), backend="onnx")
    with pytest.raises(ConfigurationError, match="use backend 'torch'"):
        encoder.encode_query("Berlin")


@pytest.mark.parametrize("mode", Pooling.SUPPORTED)
def test_numpy_pooling_is_sentence_transformers_pooling(mode):
    import torch
    from sentence_transformers.models import Pooling as TorchPooling

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(3, 7, 8)).astype(np.float32)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    features = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}
    expected = TorchPooling(8, pooling_mode=mode)(features)["sentence_embedding"].numpy()
    np.testing.assert_allclose(Pooling((mode,))(hidden, mask), expected, rtol=1e-5, atol=1e-6)
