"""LateChunkingEncoder on the bundled MiniLM and on a tiny long-context BERT built here."""

from __future__ import annotations

import re

import numpy as np
import pytest

from chunkwise.connectors.late_encoder import LateChunkingEncoder, _HeaderAt
from chunkwise.connectors.offline import resolve_model
from chunkwise.pipeline.errors import ConfigurationError, EncoderError
from chunkwise.pipeline.types import Chunk, Document, Element

BERLIN = (
    "Berlin is the capital and largest city of Germany, both by area and by population. "
    "Its more than 3.85 million inhabitants make it the European Union's most populous city, "
    "as measured by population within city limits. "
    "The city is also one of the states of Germany, "
    "and is the third smallest state in the country in terms of area."
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S.*?(?<!\d)\.(?=\s|$)", text)]


@pytest.fixture(scope="module")
def late():
    return LateChunkingEncoder(window=512)


def test_late_chunking_keeps_the_context_of_the_document(late, encoder):
    """The paper's example: later sentences say "Its" and "The city", not "Berlin"."""
    spans = sentence_spans(BERLIN)
    assert [BERLIN[a:b].split()[0] for a, b in spans] == ["Berlin", "Its", "The"]
    query = encoder.encode_query("Berlin")
    late_scores = late.encode_chunks(BERLIN, spans) @ query
    naive_scores = encoder.encode_documents([BERLIN[a:b] for a, b in spans]) @ query
    assert late_scores[1] > naive_scores[1] + 0.1
    assert late_scores[2] > naive_scores[2] + 0.1


def test_vectors_are_normalised_and_the_config_is_recorded(late):
    vectors = late.encode_chunks(BERLIN, sentence_spans(BERLIN))
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert late.config == {"strategy": "late", "late_window": 512, "late_overlap": 32}
    assert LateChunkingEncoder().window == 256  # the input length MiniLM is configured for


def test_chunks_inside_one_long_unknown_word_get_its_vector(late):
    """MiniLM reads 3,000 repeated letters as one [UNK] token; every chunk cut inside it gets a vector."""
    text = "Intro sentence. " + "y" * 3000 + " Closing sentence."
    spans = [(0, 16), (16, 1016), (1016, 2016), (2016, len(text))]
    vectors = late.encode_chunks(text, spans)
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-6)  # the same single token
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_windows_beyond_the_model_are_refused():
    with pytest.raises(
        ConfigurationError, match=r"window \(1024\) exceeds the model's maximum input \(512\)"
    ):
        _ = LateChunkingEncoder(window=1024).window
    with pytest.raises(ConfigurationError, match=r"late overlap \(300\)"):
        LateChunkingEncoder(window=256, overlap=300).encode_chunks(BERLIN, [(0, 10)])


@pytest.fixture(scope="module")
def long_context_model(tmp_path_factory):
    """A randomly initialised BERT with 2,048 positions and MiniLM's tokenizer, saved as a model folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("long-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=2048,
    )
    tokenizer.model_max_length = 2048  # as a long-context model's tokenizer says
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_long_context_model_reads_a_long_document_in_one_window(long_context_model):
    import torch
    from transformers import AutoModel, AutoTokenizer

    text = " ".join([BERLIN] * 12)
    late = LateChunkingEncoder(long_context_model)
    assert late.window == 2048
    tokenizer = AutoTokenizer.from_pretrained(long_context_model)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert 512 < len(encoded["input_ids"]) < 2046
    spans = sentence_spans(text)
    vectors = late.encode_chunks(text, spans)

    model = AutoModel.from_pretrained(long_context_model).eval()
    ids = [tokenizer.cls_token_id, *encoded["input_ids"], tokenizer.sep_token_id]
    with torch.no_grad():
        states = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    starts = np.array([start for start, _ in encoded["offset_mapping"]])
    for index, (start, end) in enumerate(spans):
        rows = [1 + i for i in np.flatnonzero((starts >= start) & (starts < end))]
        rows += [0] if index == 0 else []
        rows += [len(ids) - 1] if index == len(spans) - 1 else []
        expected = states[rows].mean(axis=0)
        cosine = float(vectors[index] @ expected / np.linalg.norm(expected))
        assert cosine >= 0.9999


def test_a_model_without_token_embeddings_is_refused(tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    static = StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=16)
    SentenceTransformer(modules=[static]).save(str(tmp_path / "static"))
    with pytest.raises(EncoderError, match="late chunking needs a transformer model"):
        LateChunkingEncoder(str(tmp_path / "static")).encode_chunks(BERLIN, [(0, 20)])


def _sections_document() -> tuple[Document, list[Chunk]]:
    """Two sections, each a title and a paragraph; one chunk per paragraph-and-title pair."""
    parts = [
        ("Installing", "Title"),
        ("Run the installer and answer its questions about the disk and the network.", "NarrativeText"),
        ("Pinning versions", "Title"),
        ("Hold a package at its version so that upgrades leave it as it is.", "NarrativeText"),
    ]
    text, elements, section = "", [], None
    for content, kind in parts:
        start = len(text) + (2 if text else 0)
        text += ("\n\n" if text else "") + content
        section = content if kind == "Title" else section
        elements.append(Element(kind, start, len(text), section=section))
    document = Document("d", "/docs/guide.md", text, "h", tuple(elements), {"filename": "guide.md"})
    cut = elements[2].start
    chunks = [
        Chunk("a", "d", 0, text[:cut], 0, cut, 20, {"section": "Installing"}),
        Chunk("b", "d", 1, text[cut:], cut, len(text), 20, {"section": "Pinning versions"}),
    ]
    return document, chunks


def test_late_chunks_read_under_headers_match_a_forward_pass_done_by_hand(encoder):
    """One window: [CLS] header document [SEP]; header tokens join no chunk, [CLS]/[SEP] join the ends."""
    import torch

    document, chunks = _sections_document()
    late = LateChunkingEncoder.from_encoder(encoder, headers=True)

    vectors = late.embed([(document, chunks)])[0]

    tokenizer = late.tokenizer.tokenizer
    header = tokenizer("Installing", add_special_tokens=False)["input_ids"]  # title = first section
    body = tokenizer(document.text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [tokenizer.cls_token_id, *header, *body["input_ids"], tokenizer.sep_token_id]
    with torch.inference_mode():
        states = late.base.token_model(input_ids=torch.tensor([ids]))[0][0].numpy()
    starts = [start for start, _ in body["offset_mapping"]]
    first = 1 + len(header)
    expected = []
    for index, chunk in enumerate(chunks):
        rows = [first + t for t, start in enumerate(starts) if chunk.start <= start < chunk.end]
        rows += [0] if index == 0 else [len(ids) - 1]
        mean = states[rows].mean(axis=0)
        expected.append(mean / np.linalg.norm(mean))
    np.testing.assert_allclose(vectors, np.stack(expected), atol=1e-5)
    assert late.config == {"strategy": "late", "late_window": 256, "late_overlap": 32, "headers": True}


def test_each_window_is_read_under_the_header_of_the_chunk_it_starts_in(encoder):
    document, chunks = _sections_document()
    late = LateChunkingEncoder.from_encoder(encoder, window=24, overlap=0, headers=True)

    tokens = late._tokenize(document.text, _HeaderAt(document, chunks))
    decoded = [late.tokenizer.tokenizer.decode(ids) for ids in tokens.headers]

    assert len(tokens.windows) >= 2
    first_of_second_section = next(
        k for k, w in enumerate(tokens.windows) if tokens.starts[w.keep_from] >= chunks[1].start
    )
    assert set(decoded[:first_of_second_section]) == {"installing"}
    assert set(decoded[first_of_second_section:]) == {"installing — pinning versions"}
    plain = LateChunkingEncoder.from_encoder(encoder, window=24, overlap=0).embed([(document, chunks)])[0]
    headed = late.embed([(document, chunks)])[0]
    assert not np.allclose(plain, headed)  # the header changes what the chunks are read with
