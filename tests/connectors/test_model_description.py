"""Model descriptions remembered between runs, so that a run with nothing to embed loads no model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.model_description import (
    ModelDescription,
    ModelDescriptionCache,
    default_cache_folder,
)
from chunkwise.connectors.offline import resolve_model
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.connectors.tokenizers import TiktokenTokenizer
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker
from chunkwise.pipeline.errors import EncoderError
from chunkwise.pipeline.indexing import index_documents, pipeline_fingerprint

MINILM = ModelDescription(
    dimension=384, max_seq_length=256, max_positions=512, max_tokens=254, pooling="mean"
)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A copy of the bundled MiniLM that a test may change."""
    return Path(shutil.copytree(resolve_model("all-MiniLM-L6-v2"), tmp_path / "minilm"))


@pytest.fixture
def cache(tmp_path) -> ModelDescriptionCache:
    return ModelDescriptionCache(tmp_path / "cache")


def test_the_description_of_a_loaded_model_is_remembered_and_read_back_without_loading(model_folder, cache):
    first = SentenceTransformerEncoder(str(model_folder), description_cache=cache)
    assert first.description == MINILM  # no description yet: the model is loaded to read it
    assert first._model is not None

    again = SentenceTransformerEncoder(str(model_folder), description_cache=cache)
    late = LateChunkingEncoder.from_encoder(again)
    assert (again.spec, late.window) == (first.spec, 256)
    assert again._model is None


def test_a_changed_model_file_is_described_anew(model_folder, cache):
    assert SentenceTransformerEncoder(str(model_folder), description_cache=cache).description == MINILM
    settings = model_folder / "sentence_bert_config.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "max_seq_length": 128}))

    changed = SentenceTransformerEncoder(str(model_folder), description_cache=cache)
    assert changed.description.max_seq_length == 128
    assert changed._model is not None  # the cached description was not used
    assert LateChunkingEncoder.from_encoder(changed).window == 128


def test_the_options_that_change_a_description_are_part_of_its_key(model_folder, cache):
    assert SentenceTransformerEncoder(str(model_folder), description_cache=cache).description == MINILM
    shorter = SentenceTransformerEncoder(str(model_folder), max_tokens=64, description_cache=cache)
    assert shorter.description.max_seq_length == 64
    assert cache.get(str(model_folder), {"max_tokens": None, "trust_remote_code": False}) == MINILM


def test_a_wrong_remembered_description_is_caught_when_the_model_loads_and_then_corrected(
    model_folder, cache
):
    options = {"max_tokens": None, "trust_remote_code": False}
    wrong = ModelDescription(
        dimension=768, max_seq_length=256, max_positions=512, max_tokens=254, pooling="mean"
    )
    cache.put(str(model_folder), options, wrong)
    encoder = SentenceTransformerEncoder(str(model_folder), description_cache=cache)
    assert encoder.spec.dimension == 768

    with pytest.raises(EncoderError, match="remembered description"):
        encoder.encode_documents(["Berlin is the capital of Germany."])
    assert cache.get(str(model_folder), options) == MINILM
    assert encoder.spec.dimension == 384  # the same encoder goes on with the loaded model's values


def test_unreadable_or_unwritable_caches_are_ignored(model_folder, tmp_path):
    options = {"max_tokens": None}
    blocked = ModelDescriptionCache(tmp_path / "a-file")
    (tmp_path / "a-file").write_text("not a folder")
    blocked.put(str(model_folder), options, MINILM)  # cannot write: no error
    assert blocked.get(str(model_folder), options) is None

    cache = ModelDescriptionCache(tmp_path / "cache")
    cache.put(str(model_folder), options, MINILM)
    [entry] = (tmp_path / "cache").iterdir()
    entry.write_text("{not json")
    assert cache.get(str(model_folder), options) is None


@pytest.mark.parametrize(
    "edit",
    [
        {"dimension": "384"},
        {"dimension": None},
        {"max_tokens": 254.0},
        {"max_positions": 0},
        {"dimension": True},
        {"pooling": None},
        {"query_prompt": 3},
    ],
)
def test_a_remembered_description_of_the_wrong_types_is_ignored(model_folder, cache, edit):
    options = {"max_tokens": None, "trust_remote_code": False}
    cache.put(str(model_folder), options, MINILM)
    [entry] = cache.folder.iterdir()
    entry.write_text(json.dumps({**json.loads(entry.read_text()), **edit}))

    assert cache.get(str(model_folder), options) is None
    assert SentenceTransformerEncoder(str(model_folder), description_cache=cache).description == MINILM
    assert cache.get(str(model_folder), options) == MINILM  # described anew from the loaded model


def test_models_named_on_the_hub_are_not_cached(cache):
    cache.put("someone/some-model", {}, MINILM)
    assert cache.get("someone/some-model", {}) is None
    assert not cache.folder.exists()


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CHUNKWISE_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_folder() == tmp_path / "mine"
    monkeypatch.delenv("CHUNKWISE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_folder() == tmp_path / "xdg" / "chunkwise"


def test_a_rerun_over_unchanged_documents_loads_no_model(tmp_path, model_folder, cache, sample_data):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("git-bisect.txt", "nodejs-path.md"):  # two small documents say as much as eight
        shutil.copy(sample_data / name, docs / name)

    def ingest():
        late = LateChunkingEncoder.from_encoder(
            SentenceTransformerEncoder(str(model_folder), description_cache=cache)
        )
        chunker = TokenChunker(TiktokenTokenizer(), chunk_size=200, chunk_overlap=0)
        with QdrantEdgeStore(tmp_path / "store") as store:
            report = index_documents(
                FileSystemSource([docs]), UnstructuredParser(), chunker, late, store, "docs"
            )
        return report, late, pipeline_fingerprint(late, chunker)

    first, first_late, first_fingerprint = ingest()
    assert first.indexed > 0 and first_late.base._model is not None

    rerun, late, fingerprint = ingest()
    assert (rerun.indexed, rerun.unchanged, rerun.failed) == (0, first.indexed, 0)
    assert late.base._model is None
    assert fingerprint == first_fingerprint
