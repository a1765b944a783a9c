"""Wiring from settings: the store and its API key from the environment, chunkers from options;
re-runs of the wired pipeline that load no model."""

from __future__ import annotations

import pytest

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.components import build_chunker, build_embedder, build_store
from chunkwise.flows.settings import DEFAULT_STORE, IngestOptions, Settings
from chunkwise.pipeline.chunking.sentence_chunker import SentenceChunker
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.indexing import index_documents, pipeline_fingerprint


def test_a_url_means_a_server_with_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    monkeypatch.delenv("CHUNKWISE_STORE", raising=False)
    store = build_store("https://qdrant.example.invalid:6333", Settings())
    assert store.is_server and store.api_key == "s3cret"
    client = store.client  # no request waits on the server (only a version check, in a thread)
    assert type(client._client).__name__ == "QdrantRemote"
    assert "s3cret" not in repr(Settings())


def test_the_store_defaults_to_the_embedded_folder_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("CHUNKWISE_STORE", raising=False)
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    assert build_store(None, Settings()).location == DEFAULT_STORE
    monkeypatch.setenv("CHUNKWISE_STORE", ":memory:")
    store = build_store(None, Settings())
    assert store.location == ":memory:" and not store.is_server and store.api_key is None


def test_the_sentence_chunker_is_built_with_the_encoder_limit_for_fixed_embedding(encoder):
    options = IngestOptions(
        chunking="fixed", chunker="sentence", chunk_size=64, max_sentences=3, sentence_overlap=1
    )
    chunker = build_chunker(options, encoder)
    late_chunker = build_chunker(options.model_copy(update={"chunking": "late"}), encoder)

    assert isinstance(chunker, SentenceChunker)
    assert chunker.config == {
        "chunker": "sentence",
        "tokenizer": "tiktoken:cl100k_base",
        "chunk_size": 64,
        "max_sentences": 3,
        "chunk_overlap_sentences": 1,
        "boundaries": "elements",
    }
    assert chunker.limit is not None and chunker.limit.max_tokens == encoder.spec.max_tokens
    assert late_chunker.limit is None  # late chunking reads whole documents: chunks need not fit the model


def test_the_sentence_chunker_refuses_word_boundaries(encoder):
    with pytest.raises(ConfigurationError, match="boundaries elements or sections"):
        build_chunker(IngestOptions(chunker="sentence", boundaries="words"), encoder)


def test_trust_remote_code_reaches_the_model_loader_only_when_asked():
    trusted = build_embedder(IngestOptions(chunking="late", trust_remote_code=True))
    default = build_embedder(IngestOptions(chunking="fixed"))

    assert base_encoder(trusted).trust_remote_code is True
    assert base_encoder(default).trust_remote_code is False


def base_encoder(embedder):
    """The sentence-transformers encoder inside an embedder (late chunking's, headers' or itself)."""
    inner = next(
        (getattr(embedder, name) for name in ("late", "base", "encoder") if hasattr(embedder, name)), None
    )
    return base_encoder(inner) if inner is not None else embedder


@pytest.mark.parametrize(
    ("options", "kind", "config"),
    [
        ({"chunking": "fixed", "headers": False}, "SentenceTransformerEncoder", None),
        (
            {"chunking": "fixed", "headers": True},
            "IndependentEmbedder",
            {"strategy": "fixed", "headers": True},
        ),
        (
            {"chunking": "late", "headers": False},
            "LateChunkingEncoder",
            {"strategy": "late", "late_overlap": 32},
        ),
        ({"chunking": "late", "headers": True}, "LateChunkingEncoder", {"headers": True}),
        ({"chunking": "late", "late_mix": 0.5}, "MixedEmbedder", {"late_mix": 0.5, "strategy": "late"}),
        ({"chunking": "late", "late_mix": 1.0}, "LateChunkingEncoder", {"strategy": "late"}),
    ],
)
def test_the_options_choose_the_embedder(encoder, options, kind, config):
    embedder = build_embedder(IngestOptions(**options), encoder)

    assert type(embedder).__name__ == kind
    if config is not None:
        assert config.items() <= embedder.config.items()
    assert base_encoder(embedder) is encoder  # one model for every part


@pytest.mark.parametrize(
    ("chunking", "tokenizer"), [("late", "tiktoken"), ("fixed", "tiktoken"), ("fixed", "model")]
)
def test_a_rerun_with_nothing_to_embed_loads_no_model(
    monkeypatch, tmp_path, sample_data, chunking, tokenizer
):
    monkeypatch.setenv("CHUNKWISE_CACHE_DIR", str(tmp_path / "cache"))
    options = IngestOptions(chunking=chunking, tokenizer=tokenizer, sparse=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text((sample_data / "nodejs-path.md").read_text()[:3000])

    def ingest():
        embedder = build_embedder(options)
        chunker = build_chunker(options, embedder)
        with QdrantEdgeStore(tmp_path / "store") as store:
            report = index_documents(
                FileSystemSource([docs]), UnstructuredParser(), chunker, embedder, store, "docs"
            )
        model_loaded = base_encoder(embedder)._model is not None
        return report, model_loaded, pipeline_fingerprint(embedder, chunker)

    first, loaded_first, fingerprint = ingest()
    assert (first.indexed, loaded_first) == (1, True)
    rerun, loaded_again, fingerprint_again = ingest()
    assert (rerun.unchanged, loaded_again) == (1, False)
    assert fingerprint_again == fingerprint
