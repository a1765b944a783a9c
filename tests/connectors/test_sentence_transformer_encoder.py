"""SentenceTransformerEncoder on the bundled MiniLM."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from chunkwise.connectors.model_description import ModelDescriptionCache
from chunkwise.connectors.offline import DEFAULT_MODEL
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.pipeline.errors import ConfigurationError, EncoderError, EncodingError

TEXTS = ["Berlin is the capital of Germany.", "Paris is the capital of France.", "dpkg --search foo"]


def test_construction_loads_nothing():
    encoder = SentenceTransformerEncoder("not/a-real-model")
    assert encoder._model is None
    with pytest.raises(EncoderError, match="not/a-real-model"):
        _ = encoder.spec


def test_spec_describes_the_model(encoder):
    spec = encoder.spec
    assert (spec.model, spec.dimension, spec.normalized) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
        True,
    )
    assert spec.max_tokens == encoder.model.max_seq_length - 2


def test_vectors_match_sentence_transformers_and_are_normalised(encoder):
    vectors = encoder.encode_documents(TEXTS)
    expected = encoder.model.encode(TEXTS, normalize_embeddings=True)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_queries_land_near_their_answer(encoder):
    query = encoder.encode_query("What is the capital of Germany?")
    scores = encoder.encode_documents(TEXTS) @ query
    assert query.shape == (384,) and int(np.argmax(scores)) == 0


def test_texts_over_the_input_limit_are_refused_not_truncated(encoder):
    too_long = " ".join(["word"] * (encoder.spec.max_tokens + 1))
    with pytest.raises(EncodingError, match=r"text 1 has 255 tokens, over .* input limit of 254"):
        encoder.encode_documents(["short", too_long])
    assert encoder.encode_documents([" ".join(["word"] * encoder.spec.max_tokens)]).shape == (1, 384)


def test_empty_input_gives_an_empty_matrix(encoder):
    assert encoder.encode_documents([]).shape == (0, 384)


def test_bad_batch_size_is_refused():
    with pytest.raises(ConfigurationError, match=r"batch_size \(0\)"):
        SentenceTransformerEncoder(batch_size=0)


def test_its_tokenizer_loads_the_model_only_when_it_counts(encoder):
    fresh = SentenceTransformerEncoder()
    tokenizer = fresh.tokenizer
    assert fresh._model is None
    assert tokenizer.name == f"hf:{encoder.model.tokenizer.name_or_path}"  # as chunking configs record it
    assert tokenizer.count(TEXTS[0]) == len(
        encoder.model.tokenizer(TEXTS[0], add_special_tokens=False)["input_ids"]
    )
    assert fresh._model is not None


def test_threads_asking_for_the_model_at_once_load_it_once(tmp_path, monkeypatch):
    loads = []
    real_load = SentenceTransformerEncoder._load

    def counted_load(self):
        loads.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every thread to be waiting on the first load
        return real_load(self)

    monkeypatch.setattr(SentenceTransformerEncoder, "_load", counted_load)
    encoder = SentenceTransformerEncoder(description_cache=ModelDescriptionCache(tmp_path / "cache"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: encoder.model, range(8)))
    assert len(loads) == 1
    assert all(model is models[0] for model in models)


def test_retrievers_share_one_encoder_per_model_across_threads():
    from chunkwise.connectors.retriever import shared_encoder

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        encoders = list(pool.map(lambda _: shared_encoder(DEFAULT_MODEL), range(8)))
    assert all(encoder is encoders[0] for encoder in encoders)
