"""Model families at the encoder: Matryoshka truncation, query and document prompts, and the
pooling that late chunking needs (tiny randomly initialised models of each pooling kind)."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import TinyModels

from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.model_traits import model_prompts, truncate_vectors
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.pipeline.errors import ConfigurationError

TEXT = "Berlin is the capital of Germany. Paris is the capital of France, on the Seine."
SPANS = [(0, 33), (34, len(TEXT))]
PROMPTS = {"query": "query: ", "document": "passage: "}

# name -> (save_tiny_model options, the pooling the encoder reads)
KINDS = {
    "cls": ({"pooling": "cls"}, "cls"),
    "max": ({"pooling": "max"}, "max"),
    "weightedmean": ({"pooling": "weightedmean"}, "weightedmean"),
    "decoder-lasttoken": ({"pooling": "lasttoken", "decoder": True}, "lasttoken"),
    "mean-then-dense": ({"dense": True}, "mean, then Dense"),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyModels:
    """``tiny(name, **options)``: a tiny model's folder, saved once per name."""
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


def _close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, atol=2e-6)


def test_dimensions_keep_the_normalised_prefix_of_every_vector_fixed_late_and_query(encoder):
    short = SentenceTransformerEncoder(dimensions=64)
    assert (short.spec.dimension, short.spec.truncated_from) == (64, 384)
    full_chunks = encoder.encode_documents([TEXT[a:b] for a, b in SPANS])
    _close(short.encode_documents([TEXT[a:b] for a, b in SPANS]), truncate_vectors(full_chunks, 64))
    _close(
        short.encode_query("capital of France"),
        truncate_vectors(encoder.encode_query("capital of France"), 64),
    )
    late = LateChunkingEncoder.from_encoder(short).encode_chunks(TEXT, SPANS)
    full_late = LateChunkingEncoder.from_encoder(encoder).encode_chunks(TEXT, SPANS)
    assert late.shape == (2, 64)
    _close(late, truncate_vectors(full_late, 64))
    np.testing.assert_allclose(np.linalg.norm(late, axis=1), 1, rtol=1e-5)


def test_dimensions_out_of_range_are_refused_clearly():
    with pytest.raises(ConfigurationError, match=r"dimensions \(0\) must be >= 1"):
        SentenceTransformerEncoder(dimensions=0)
    with pytest.raises(ConfigurationError, match=r"dimensions \(512\) exceeds the 384 dimensions"):
        _ = SentenceTransformerEncoder(dimensions=512).spec
    full = SentenceTransformerEncoder(dimensions=384).spec  # the model's own: nothing is cut
    assert (full.dimension, full.truncated_from) == (384, None)


def test_prompts_are_chosen_as_sentence_transformers_chooses_them():
    class Model:
        def __init__(self, prompts: dict[str, str], default_prompt_name: str | None = None) -> None:
            self.prompts, self.default_prompt_name = prompts, default_prompt_name

    defaulted = Model({"passage": "p: ", "classification": "c: "}, "classification")
    assert model_prompts(defaulted) == ("c: ", "p: ")  # no query prompt: the default one
    ordered = Model({"query": "q: ", "corpus": "d: ", "document": "doc: "})
    assert model_prompts(ordered) == ("q: ", "doc: ")  # document before passage before corpus
    assert model_prompts(Model({})) == ("", "")


def test_the_models_prompts_and_the_given_ones_embed_as_sentence_transformers_does(tiny):
    folder = tiny("prompted", prompts=PROMPTS)
    own = SentenceTransformerEncoder(folder)
    model = own.model
    chunks = [TEXT[a:b] for a, b in SPANS]
    _close(own.encode_query("capital"), model.encode_query("capital", normalize_embeddings=True))
    _close(own.encode_documents(chunks), model.encode_document(chunks, normalize_embeddings=True))
    assert (own.spec.query_prompt, own.spec.document_prompt) == ("query: ", "passage: ")
    assert own.spec.max_tokens == 254 - 2  # "passage: " takes two tokens of every chunk's room

    given = SentenceTransformerEncoder(folder, query_prompt="find: ", document_prompt="")
    _close(given.encode_query("capital"), model.encode("capital", prompt="find: ", normalize_embeddings=True))
    _close(given.encode_documents(chunks), model.encode(chunks, prompt="", normalize_embeddings=True))
    assert (given.spec.query_prompt, given.spec.document_prompt, given.spec.max_tokens) == ("find: ", "", 254)
    plain = SentenceTransformerEncoder().spec  # no prompts anywhere: none recorded
    assert (plain.query_prompt, plain.document_prompt) == (None, None)


@pytest.mark.parametrize("include_prompt", [True, False])
def test_late_chunking_pools_the_document_prompt_into_the_first_chunk(tiny, include_prompt):
    """One chunk spanning the document is its whole token sequence: the late vector is what the
    model's own ``encode_document`` gives, prompt included as its pooling includes it."""
    folder = tiny(f"prompted-{include_prompt}", prompts=PROMPTS, include_prompt=include_prompt)
    late = LateChunkingEncoder(folder)
    model = late.base.model
    [whole] = late.encode_chunks(TEXT, [(0, len(TEXT))])
    _close(whole, model.encode_document(TEXT, normalize_embeddings=True))
    without = model.encode_document(TEXT, prompt="", normalize_embeddings=True)
    assert float(whole @ without) < 0.9999  # the prompt changed it

    two = late.encode_chunks(TEXT, SPANS)
    bare = LateChunkingEncoder(folder)
    bare.base.prompts["document"] = ""
    assert float(two[1] @ bare.encode_chunks(TEXT, SPANS)[1]) < 0.9999  # read after the prompt


@pytest.mark.parametrize("kind", KINDS)
def test_late_chunking_refuses_a_model_that_does_not_mean_pool_and_fixed_chunking_embeds(tiny, kind):
    options, pooling = KINDS[kind]
    encoder = SentenceTransformerEncoder(tiny(kind, **options))
    assert encoder.description.pooling == pooling
    with pytest.raises(ConfigurationError, match=rf"as '{pooling}'.*--chunking fixed"):
        _ = LateChunkingEncoder.from_encoder(encoder).config
    with pytest.raises(ConfigurationError, match="--chunking fixed"):
        LateChunkingEncoder.from_encoder(encoder).encode_chunks(TEXT, SPANS)
    vectors = encoder.encode_documents([TEXT[a:b] for a, b in SPANS])
    assert vectors.shape == (2, encoder.spec.dimension)
    _close(vectors, encoder.model.encode_document([TEXT[a:b] for a, b in SPANS], normalize_embeddings=True))
