"""TokenChunker invariants, as properties over generated text, with tiktoken and the model's tokenizer."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkwise.pipeline.chunking.text_spans import is_word_boundary
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.types import Document, Element

VOCABULARY = [
    "Berlin",
    "capital",
    "Germany",
    "the",
    "of",
    "and",
    "inhabitants",
    "naïve",
    "Größe",
    "café",
    "日本語",
    "テキスト",
    "Ελληνικά",
    "русский",
    "emoji🎉",
    "x²",
    "e\u0301te\u0301",
    "dpkg",
    "--search",
    "foo_bar",
    "3.85",
    "https://example.org/a?b=c",
    "😀😀",
    "ﬁne",
]
SEPARATORS = [" ", "  ", "\n", "\n\n", ", ", ". ", "\t", " — ", "; "]

word = st.one_of(
    st.sampled_from(VOCABULARY),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Prose-like text, sometimes with a passage repeated verbatim."""
    words = draw(st.lists(word, min_size=0, max_size=400))
    separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, separators, strict=True))
    if draw(st.booleans()):
        text = text + "\n\n" + text
    return text


sizes = st.tuples(st.integers(min_value=16, max_value=120), st.integers(min_value=0, max_value=100)).map(
    lambda pair: (pair[0], pair[1] % pair[0])
)
PROPERTY_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def make_document(text: str, elements: tuple[Element, ...] = ()) -> Document:
    return Document(id="doc-1", source="/tmp/doc.txt", text=text, content_hash="h", elements=elements)


def check_invariants(chunker: TokenChunker, text: str) -> None:
    document = make_document(text)
    chunks = chunker.chunk(document)
    tokenizer = chunker.tokenizer
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text and chunk.text == chunk.text.strip()
        assert chunk.token_count == tokenizer.count(chunk.text) <= chunker.chunk_size
        assert is_word_boundary(text, chunk.start) and is_word_boundary(text, chunk.end)
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\1" * (chunk.end - chunk.start)
    uncovered = [i for i, c in enumerate(text) if not covered[i] and not c.isspace()]
    assert not uncovered, f"characters {uncovered[:5]} are in no chunk"
    token_starts = tokenizer.token_starts(text)
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start and before.end < after.end
        shared = bisect.bisect_left(token_starts, before.end) - bisect.bisect_left(token_starts, after.start)
        assert shared <= chunker.chunk_overlap
        if chunker.chunk_overlap == 0:
            assert after.start >= before.end
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)


@PROPERTY_SETTINGS
@given(text=documents(), size_overlap=sizes)
def test_tiktoken_chunks_keep_every_invariant(tiktoken_tokenizer, text, size_overlap):
    size, overlap = size_overlap
    check_invariants(TokenChunker(tiktoken_tokenizer, size, overlap, boundaries="words"), text)


@PROPERTY_SETTINGS
@given(text=documents(), size_overlap=sizes)
def test_model_tokenizer_chunks_keep_every_invariant(model_tokenizer, text, size_overlap):
    size, overlap = size_overlap
    check_invariants(TokenChunker(model_tokenizer, size, overlap, boundaries="words"), text)


@PROPERTY_SETTINGS
@given(text=documents(), size_overlap=sizes)
def test_chunks_also_fit_a_second_limit(tiktoken_tokenizer, model_tokenizer, text, size_overlap):
    size, overlap = size_overlap
    limit = TokenLimit(model_tokenizer, max(8, size // 2))
    chunker = TokenChunker(tiktoken_tokenizer, size, overlap, limit=limit)
    for chunk in chunker.chunk(make_document(text)):
        assert model_tokenizer.count(chunk.text) <= limit.max_tokens
        assert tiktoken_tokenizer.count(chunk.text) <= size


def test_a_word_longer_than_a_window_is_split_between_tokens(tiktoken_tokenizer):
    text = "start " + "x" * 3000 + " end"
    chunks = TokenChunker(tiktoken_tokenizer, chunk_size=16, chunk_overlap=4).chunk(make_document(text))
    assert all(c.token_count <= 16 for c in chunks)
    assert "".join(c.text for c in chunks if "x" in c.text).count("x") >= 3000
    assert chunks[-1].text.endswith("end")


def test_empty_and_blank_documents_have_no_chunks(tiktoken_tokenizer):
    chunker = TokenChunker(tiktoken_tokenizer)
    assert chunker.chunk(make_document("")) == []
    assert chunker.chunk(make_document(" \n\t ")) == []


def paragraphs_document(paragraphs: list[str], sections: list[str | None]) -> Document:
    text = "\n\n".join(paragraphs)
    elements, offset = [], 0
    for paragraph, section in zip(paragraphs, sections, strict=True):
        kind = "Title" if paragraph == section else "NarrativeText"
        elements.append(Element(kind, offset, offset + len(paragraph), page=1, section=section))
        offset += len(paragraph) + 2
    return make_document(text, tuple(elements))


PARAGRAPHS = [
    "Berlin",
    "Berlin is the capital and largest city of Germany, both by area and by population.",
    "Its more than 3.85 million inhabitants make it the most populous city of the European Union.",
    "The city is also one of the states of Germany, and the third smallest state in the country.",
    "Paris",
    "Paris is the capital and largest city of France.",
    "The city has an estimated population of two million residents in an area of 105 km².",
]
SECTIONS = ["Berlin"] * 4 + ["Paris"] * 3


def test_repeated_passages_get_their_own_offsets(tiktoken_tokenizer):
    passage = "Late chunking pools token vectors over each span of the document."
    document = paragraphs_document([passage] * 3, [None] * 3)
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=16, chunk_overlap=0, boundaries="elements")
    chunks = chunker.chunk(document)
    assert [c.start for c in chunks] == [0, len(passage) + 2, 2 * len(passage) + 4]
    assert all(c.text == passage for c in chunks)
    assert len({c.id for c in chunks}) == 3


def test_element_boundaries_end_chunks_where_elements_end(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    ends = {e.end for e in document.elements}
    starts = {e.start for e in document.elements}
    chunks = TokenChunker(tiktoken_tokenizer, chunk_size=40, chunk_overlap=0, boundaries="elements").chunk(
        document
    )
    assert len(chunks) > 1
    assert all(c.start in starts and c.end in ends for c in chunks)


def test_sections_are_never_crossed(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    paris = document.text.index("Paris")
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=512, chunk_overlap=0, boundaries="sections")
    chunks = chunker.chunk(document)
    assert [c.text.split("\n")[0] for c in chunks] == ["Berlin", "Paris"]
    assert chunks[0].end < paris <= chunks[1].start
    assert chunks[0].metadata["section"] == "Berlin" and chunks[1].metadata["section"] == "Paris"


def test_chunk_metadata_names_kinds_pages_and_section(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    first = TokenChunker(tiktoken_tokenizer, chunk_size=512, chunk_overlap=0).chunk(document)[0]
    assert first.metadata == {"element_kinds": ["Title", "NarrativeText"], "pages": [1], "section": "Berlin"}


def test_words_mode_may_cross_elements(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    chunks = TokenChunker(tiktoken_tokenizer, chunk_size=512, chunk_overlap=0).chunk(document)
    assert len(chunks) == 1 and chunks[0].text == document.text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"chunk_size": 4}, "chunk_size (4) must be >= 8"),
        ({"chunk_size": 64, "chunk_overlap": 64}, "chunk_overlap (64) must be >= 0 and < chunk_size (64)"),
        ({"chunk_overlap": -1}, "chunk_overlap (-1)"),
        ({"boundaries": "pages"}, "boundaries ('pages') must be one of"),
    ],
)
def test_bad_settings_are_refused_with_the_value_named(tiktoken_tokenizer, arguments, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TokenChunker(tiktoken_tokenizer, **arguments)


def test_config_identifies_the_settings(tiktoken_tokenizer):
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=128, chunk_overlap=16, boundaries="sections")
    assert chunker.config == {
        "chunker": "token",
        "tokenizer": "tiktoken:cl100k_base",
        "chunk_size": 128,
        "chunk_overlap": 16,
        "boundaries": "sections",
    }
