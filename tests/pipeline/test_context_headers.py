"""Contextual headers: the title and section a chunk is embedded under, and the embedders that use them."""

from __future__ import annotations

import numpy as np
import pytest

from chunkwise.pipeline.context import HEADER_TOKENS, context_header, document_title, fit_header, join_header
from chunkwise.pipeline.embedding import IndependentEmbedder, MixedEmbedder, mix_vectors
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.types import Chunk, Document, Element, EncoderSpec

TEXT = "Installing\n\nRun the installer.\n\nPinning versions\n\nHold a package at its version."


def document(**metadata) -> Document:
    elements = (
        Element("Title", 0, 10, section="Installing"),
        Element("NarrativeText", 12, 30, section="Installing"),
        Element("Title", 32, 48, section="Pinning versions"),
        Element("NarrativeText", 50, len(TEXT), section="Pinning versions"),
    )
    return Document("d", "/docs/guide.md", TEXT, "h", elements, {"filename": "guide.md", **metadata})


def chunk(start: int, end: int, section: str | None) -> Chunk:
    return Chunk("c", "d", 0, TEXT[start:end], start, end, 5, {"section": section})


class WordTokenizer:
    """One token per word: enough to check budgets by hand."""

    name = "words"

    def encode(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def decode(self, ids):  # pragma: no cover - not used
        raise NotImplementedError

    def token_starts(self, text: str) -> list[int]:  # pragma: no cover - not used
        raise NotImplementedError

    def count(self, text: str) -> int:
        return len(text.split())


class RecordingEncoder:
    """Returns one vector per text, and keeps the texts it was asked to embed."""

    def __init__(self, max_tokens: int = 100) -> None:
        self.texts: list[str] = []
        self.tokenizer = WordTokenizer()
        self.spec = EncoderSpec("m", 2, max_tokens)

    def encode_documents(self, texts):
        self.texts.extend(texts)
        return np.ones((len(texts), 2), dtype=np.float32)

    def encode_query(self, text):
        return np.ones(2, dtype=np.float32)


def test_the_title_comes_from_metadata_then_the_first_title_then_the_file_name() -> None:
    assert document(title="The guide").metadata["title"] == "The guide"
    assert document_title(document(title="The guide")) == "The guide"
    assert document_title(document()) == "Installing"
    untitled = Document("d", "/docs/notes.txt", "Plain text.", "h", (), {})
    assert document_title(untitled) == "notes"


def test_the_header_joins_title_and_section_once() -> None:
    assert (
        context_header(document(), chunk(50, len(TEXT), "Pinning versions"))
        == "Installing — Pinning versions"
    )
    assert context_header(document(), chunk(12, 30, "Installing")) == "Installing"  # the same twice
    assert join_header("A — B", "text") == "A — B\n\ntext" and join_header("", "text") == "text"


def test_a_long_header_is_cut_between_words_to_its_budget() -> None:
    header = " ".join(f"w{i}" for i in range(50))
    within = lambda budget: lambda text: WordTokenizer().count(text) <= budget  # noqa: E731
    assert fit_header(header, within(5)) == "w0 w1 w2 w3 w4"
    assert fit_header("short one", within(5)) == "short one"
    assert fit_header(header, within(0)) == ""


def test_fixed_chunks_are_embedded_under_their_header_and_stored_as_they_are() -> None:
    encoder, pinned = RecordingEncoder(), chunk(50, len(TEXT), "Pinning versions")

    IndependentEmbedder(encoder, headers=True).embed([(document(), [pinned])])
    IndependentEmbedder(encoder).embed([(document(), [pinned])])

    assert encoder.texts == [f"Installing — Pinning versions\n\n{pinned.text}", pinned.text]
    assert pinned.text == TEXT[pinned.start : pinned.end]
    assert IndependentEmbedder(encoder, headers=True).config == {"strategy": "fixed", "headers": True}
    assert IndependentEmbedder(encoder).config == {"strategy": "fixed"}


def test_a_chunk_at_the_input_limit_leaves_its_header_only_the_room_there_is() -> None:
    encoder = RecordingEncoder(max_tokens=10)
    words = chunk(50, len(TEXT), "Pinning versions")  # 6 words: room for 3 header words (one spare)

    IndependentEmbedder(encoder, headers=True).embed([(document(), [words])])

    assert encoder.texts == [f"Installing — Pinning\n\n{words.text}"]
    assert HEADER_TOKENS >= 3


def test_mixed_vectors_are_the_normalised_weighted_sum() -> None:
    late, alone = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])

    mixed = mix_vectors(late, alone, 0.75)

    assert mixed == pytest.approx(np.array([[0.75, 0.25]]) / np.hypot(0.75, 0.25))
    assert mix_vectors(late, alone, 1.0) == pytest.approx(late)
    assert mix_vectors(late, alone, 0.0) == pytest.approx(alone)


def test_the_mix_weight_must_lie_between_zero_and_one() -> None:
    alone = IndependentEmbedder(RecordingEncoder())
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        MixedEmbedder(alone, alone, 1.5)


class JointCountingTokenizer(WordTokenizer):
    """Counts the paragraph break between header and text as two more tokens."""

    def count(self, text: str) -> int:
        return len(text.split()) + 2 * text.count("\n\n")


def test_a_tokenizer_that_counts_the_joint_never_gets_a_text_over_the_limit() -> None:
    encoder = RecordingEncoder(max_tokens=11)
    encoder.tokenizer = JointCountingTokenizer()
    words = chunk(50, len(TEXT), "Pinning versions")  # 6 words; header + joint must fit in 5

    IndependentEmbedder(encoder, headers=True).embed([(document(), [words])])

    [text] = encoder.texts
    assert encoder.tokenizer.count(text) <= 11 and text.endswith(words.text)
    assert text.startswith("Installing")
