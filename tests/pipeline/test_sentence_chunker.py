"""Sentence splitting and SentenceChunker: examples, settings, and invariants as properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkwise.pipeline.chunking.sentence_chunker import SentenceChunker
from chunkwise.pipeline.chunking.sentences import sentence_spans
from chunkwise.pipeline.chunking.text_spans import element_boundaries
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.protocols import Chunker
from chunkwise.pipeline.types import Document, Element


def make_document(text: str, elements: tuple[Element, ...] = ()) -> Document:
    return Document(id="doc-1", source="/tmp/doc.txt", text=text, content_hash="h", elements=elements)


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


# --- sentence splitting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith met Mr. Jones and Mrs. Brown, e.g. at noon, i.e. early. They talked.",
            ["Dr. Smith met Mr. Jones and Mrs. Brown, e.g. at noon, i.e. early.", "They talked."],
        ),
        (
            "Apples, pears etc. Are fruit vs. Vegetables. Sure.",
            ["Apples, pears etc. Are fruit vs. Vegetables.", "Sure."],
        ),
        ("See Fig. 3 and No. 5, e. g. this one. Next.", ["See Fig. 3 and No. 5, e. g. this one.", "Next."]),
        (
            "J. R. R. Tolkien wrote it. The U.S. Army did not.",
            ["J. R. R. Tolkien wrote it.", "The U.S. Army did not."],
        ),
        (
            "Pi is 3.14 and v1.2.3 shipped in 2020. It grew 3.85%.",
            ["Pi is 3.14 and v1.2.3 shipped in 2020.", "It grew 3.85%."],
        ),
        (
            "What?! No way!!! Fine... Wait... what now? Ok…",
            ["What?!", "No way!!!", "Fine...", "Wait... what now?", "Ok…"],
        ),
        ('He said "Go." Then he left.', ['He said "Go."', "Then he left."]),
        (
            '"Really?" she asked. (It was.) [Yes!] «Non.» Done',
            ['"Really?" she asked.', "(It was.)", "[Yes!]", "«Non.»", "Done"],
        ),
        (
            "I said no. No. 7 is mine. No. That is final.",
            ["I said no.", "No. 7 is mine.", "No.", "That is final."],
        ),
        ("Title\n\nBody without a stop\n \t\nlast line", ["Title", "Body without a stop", "last line"]),
        ("one line\nsame sentence. next one", ["one line\nsame sentence. next one"]),
        (
            "Größe zählt. Über alles! Ελληνικά κείμενα. Русский текст.",
            ["Größe zählt.", "Über alles!", "Ελληνικά κείμενα.", "Русский текст."],
        ),
        ("日本語です。次の文です。 最後", ["日本語です。", "次の文です。", "最後"]),
        ("First. Second without a stop", ["First.", "Second without a stop"]),
        ("  padded sentence.   ", ["padded sentence."]),
        ("", []),
        (" \n\n\t ", []),
    ],
)
def test_sentences_are_split_where_they_end(text, expected):
    assert sentences_of(text) == expected


def test_a_range_is_split_on_its_own_with_document_offsets():
    text = "Before. Inside one. Inside two.  After."
    start, end = text.index("Inside"), text.index("After")
    spans = sentence_spans(text, start, end)
    assert spans == [(start, start + 11), (start + 12, start + 23)]
    assert [text[a:b] for a, b in spans] == ["Inside one.", "Inside two."]


sentence_texts = st.text(st.sampled_from("aZé. !?\n\"')(3日。"), max_size=120)


@settings(max_examples=200, deadline=None)
@given(text=sentence_texts, bounds=st.tuples(st.integers(0, 130), st.integers(0, 130)))
def test_sentence_spans_are_trimmed_ordered_and_cover_the_range(text, bounds):
    start, end = min(min(bounds), len(text)), min(max(bounds), len(text))
    spans = sentence_spans(text, start, end)
    for a, b in spans:
        assert start <= a < b <= end
        assert text[a:b] == text[a:b].strip()
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    covered = {i for a, b in spans for i in range(a, b)}
    assert all(i in covered for i in range(start, end) if not text[i].isspace())


# --- grouping ------------------------------------------------------------------------------------

SENTENCES = [
    "Berlin is the capital and largest city of Germany.",
    "Its more than 3.85 million inhabitants make it the most populous city of the EU.",
    "The city is also one of the states of Germany.",
    "Dr. Smith moved there in 2020, e.g. for work.",
    "Was it worth it?!",
    "He says it was.",
    "Paris is the capital and largest city of France.",
    "It has an estimated population of two million residents.",
]
PROSE = " ".join(SENTENCES)


def test_sentences_are_grouped_while_they_fit_the_budget(tiktoken_tokenizer):
    chunker = SentenceChunker(tiktoken_tokenizer, chunk_size=30)
    chunks = chunker.chunk(make_document(PROSE))
    assert len(chunks) > 2
    assert " ".join(c.text for c in chunks) == PROSE
    for before, after in itertools.pairwise(chunks):
        assert before.token_count <= 30
        next_sentence = sentences_of(after.text)[0]
        assert tiktoken_tokenizer.count(before.text + " " + next_sentence) > 30  # it would not have fit
    assert {s for c in chunks for s in sentences_of(c.text)} == set(SENTENCES)


def test_max_sentences_puts_n_sentences_in_each_chunk(tiktoken_tokenizer):
    chunker = SentenceChunker(tiktoken_tokenizer, chunk_size=100_000, max_sentences=3)
    chunks = chunker.chunk(make_document(PROSE))
    assert [c.text for c in chunks] == [" ".join(SENTENCES[i : i + 3]) for i in (0, 3, 6)]


def test_a_sentence_longer_than_the_budget_is_cut_into_windows(tiktoken_tokenizer):
    long_sentence = "This sentence goes on " + "and on " * 200 + "until it stops."
    text = f"Short one. {long_sentence} Short two."
    chunks = SentenceChunker(tiktoken_tokenizer, chunk_size=24).chunk(make_document(text))
    assert chunks[0].text == "Short one." and chunks[-1].text == "Short two."
    pieces = chunks[1:-1]
    assert len(pieces) >= 200 * 2 // 24
    assert all(0 < c.token_count <= 24 for c in pieces)
    assert " ".join(c.text for c in pieces) == long_sentence


def test_overlap_repeats_the_last_sentences_of_the_previous_chunk(tiktoken_tokenizer):
    chunker = SentenceChunker(tiktoken_tokenizer, chunk_size=100_000, max_sentences=3, overlap_sentences=1)
    chunks = chunker.chunk(make_document(PROSE))
    expected = [SENTENCES[0:3], SENTENCES[2:5], SENTENCES[4:7], SENTENCES[6:8]]
    assert [c.text for c in chunks] == [" ".join(group) for group in expected]


def test_overlap_gives_way_when_it_leaves_no_room_to_move_on(tiktoken_tokenizer):
    # No two neighbouring sentences fit 20 tokens together: an overlap must not stall the chunker.
    text = " ".join(SENTENCES[:4])
    chunks = SentenceChunker(tiktoken_tokenizer, chunk_size=20, overlap_sentences=2).chunk(
        make_document(text)
    )
    assert [c.text for c in chunks] == SENTENCES[:4]
    # An overlap larger than a chunk keeps all but its first sentence, and each chunk adds a new one.
    chunks = SentenceChunker(tiktoken_tokenizer, chunk_size=30, overlap_sentences=5).chunk(
        make_document(PROSE)
    )
    expected = [SENTENCES[0:2], SENTENCES[1:3], SENTENCES[2:4], SENTENCES[3:6], SENTENCES[4:8]]
    assert [c.text for c in chunks] == [" ".join(group) for group in expected]


def paragraphs_document(paragraphs: list[str], sections: list[str], separator: str = "\n\n") -> Document:
    text = separator.join(paragraphs)
    elements, offset = [], 0
    for paragraph, section in zip(paragraphs, sections, strict=True):
        kind = "Title" if paragraph == section else "NarrativeText"
        elements.append(Element(kind, offset, offset + len(paragraph), page=1, section=section))
        offset += len(paragraph) + len(separator)
    return make_document(text, tuple(elements))


PARAGRAPHS = ["Berlin", " ".join(SENTENCES[:3]), " ".join(SENTENCES[3:6]), "Paris", " ".join(SENTENCES[6:])]
SECTIONS = ["Berlin"] * 3 + ["Paris"] * 2


def test_sentences_never_cross_element_boundaries(tiktoken_tokenizer):
    document = paragraphs_document(["Introduction", "First sentence. Second one."], [None, None], "\n")
    plain = make_document(document.text)
    chunker = SentenceChunker(tiktoken_tokenizer, max_sentences=1)
    assert [c.text for c in chunker.chunk(document)] == ["Introduction", "First sentence.", "Second one."]
    assert [c.text for c in chunker.chunk(plain)] == ["Introduction\nFirst sentence.", "Second one."]


def test_sections_are_never_crossed_but_elements_are(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    paris = document.text.index("Paris\n")
    by_section = SentenceChunker(tiktoken_tokenizer, chunk_size=512, boundaries="sections").chunk(document)
    assert [c.text.split("\n")[0] for c in by_section] == ["Berlin", "Paris"]
    assert by_section[0].end < paris <= by_section[1].start
    assert [c.metadata["section"] for c in by_section] == ["Berlin", "Paris"]
    by_element = SentenceChunker(tiktoken_tokenizer, chunk_size=512).chunk(document)
    assert [c.text for c in by_element] == [document.text]


def test_chunks_match_token_chunker_ids_and_metadata(tiktoken_tokenizer):
    document = paragraphs_document(PARAGRAPHS, SECTIONS)
    sentence_chunks = SentenceChunker(tiktoken_tokenizer, chunk_size=512).chunk(document)
    token_chunks = TokenChunker(tiktoken_tokenizer, chunk_size=512, chunk_overlap=0).chunk(document)
    assert sentence_chunks == token_chunks
    assert sentence_chunks[0].metadata == {
        "element_kinds": ["Title", "NarrativeText"],
        "pages": [1],
        "section": "Berlin",
    }


def test_empty_and_blank_documents_have_no_chunks(tiktoken_tokenizer):
    chunker = SentenceChunker(tiktoken_tokenizer)
    assert isinstance(chunker, Chunker)
    assert chunker.chunk(make_document("")) == []
    assert chunker.chunk(make_document(" \n\n\t ")) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"chunk_size": 7}, "chunk_size (7) must be >= 8"),
        ({"max_sentences": 0}, "max_sentences (0) must be >= 1"),
        ({"overlap_sentences": -1}, "overlap_sentences (-1) must be >= 0"),
        ({"max_sentences": 2, "overlap_sentences": 2}, "overlap_sentences (2) must be < max_sentences (2)"),
        ({"boundaries": "words"}, "boundaries ('words') must be one of"),
    ],
)
def test_bad_settings_are_refused_with_the_value_named(tiktoken_tokenizer, arguments, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SentenceChunker(tiktoken_tokenizer, **arguments)


def test_a_limit_below_eight_tokens_is_refused(tiktoken_tokenizer):
    with pytest.raises(ConfigurationError, match=r"limit.max_tokens \(4\) must be >= 8"):
        SentenceChunker(tiktoken_tokenizer, limit=TokenLimit(tiktoken_tokenizer, 4))


def test_config_identifies_the_settings(tiktoken_tokenizer):
    chunker = SentenceChunker(
        tiktoken_tokenizer, chunk_size=128, max_sentences=4, overlap_sentences=1, boundaries="sections"
    )
    assert chunker.config == {
        "chunker": "sentence",
        "tokenizer": "tiktoken:cl100k_base",
        "chunk_size": 128,
        "max_sentences": 4,
        "chunk_overlap_sentences": 1,
        "boundaries": "sections",
    }


# --- invariants ----------------------------------------------------------------------------------

WORDS = ["Berlin", "capital", "the", "of", "Größe", "café", "日本語", "Ελληνικά", "emoji🎉", "3.85", "v1.2.3"]
WORDS += ["Dr.", "e.g.", "etc.", "J.", "x" * 60, "https://example.org/a?b=c", "😀😀", "ﬁne"]
ENDINGS = [" ", " ", " ", ", ", ". ", "? ", "?! ", "... ", '." ', ".\n", "\n\n", "。", " (a.) "]

word = st.one_of(st.sampled_from(WORDS), st.text(st.characters(blacklist_categories=("Cs",)), max_size=8))


@st.composite
def prose(draw: st.DrawFn) -> tuple[str, tuple[Element, ...]]:
    """Sentence-like text, sometimes with one very long sentence, and sometimes with elements."""
    words = draw(st.lists(word, max_size=300))
    endings = draw(st.lists(st.sampled_from(ENDINGS), min_size=len(words), max_size=len(words)))
    if words and draw(st.booleans()):
        endings[draw(st.integers(0, len(words) - 1))] = " " + "and on " * 150 + ". "
    text = "".join(w + e for w, e in zip(words, endings, strict=True))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=6))))
    count = max(len(cuts) - 1, 0)
    sections = draw(st.lists(st.sampled_from(["A", "B", None]), min_size=count, max_size=count))
    elements = [
        Element("NarrativeText", a, b, section=s)
        for (a, b), s in zip(itertools.pairwise(cuts), sections, strict=True)
    ]
    return text, tuple(elements)


chunker_options = st.tuples(
    st.integers(8, 120),
    st.none() | st.integers(1, 6),
    st.integers(0, 5),
    st.sampled_from(["elements", "sections"]),
).map(lambda o: (o[0], o[1], o[2] if o[1] is None else o[2] % o[1], o[3]))  # overlap < max_sentences
PROPERTY_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def document_sentences(document: Document) -> list[tuple[int, int]]:
    cuts = sorted({0, len(document.text), *element_boundaries(document.elements)})
    return [span for a, b in itertools.pairwise(cuts) for span in sentence_spans(document.text, a, b)]


def fits_alone(chunker: SentenceChunker, text: str) -> bool:
    limit = chunker.limit
    within_limit = limit is None or limit.tokenizer.count(text) <= limit.max_tokens
    return chunker.tokenizer.count(text) <= chunker.chunk_size and within_limit


def check_invariants(chunker: SentenceChunker, document: Document) -> None:
    text, tokenizer = document.text, chunker.tokenizer
    chunks = chunker.chunk(document)
    sentences = document_sentences(document)
    starts, ends = {a for a, _ in sentences}, {b for _, b in sentences}
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text and chunk.text == chunk.text.strip()
        assert chunk.token_count == tokenizer.count(chunk.text) <= chunker.chunk_size
        if chunker.limit is not None:
            assert chunker.limit.tokenizer.count(chunk.text) <= chunker.limit.max_tokens
        if chunk.start not in starts or chunk.end not in ends:  # a piece of one oversized sentence
            (sentence,) = [(a, b) for a, b in sentences if a <= chunk.start and chunk.end <= b]
            assert not fits_alone(chunker, text[sentence[0] : sentence[1]])
        else:
            inside = [s for s in sentences if chunk.start <= s[0] and s[1] <= chunk.end]
            assert chunker.max_sentences is None or len(inside) <= chunker.max_sentences
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\1" * (chunk.end - chunk.start)
    uncovered = [i for i, c in enumerate(text) if not covered[i] and not c.isspace()]
    assert not uncovered, f"characters {uncovered[:5]} are in no chunk"
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start and before.end < after.end
        shared = [s for s in sentences if after.start <= s[0] and s[1] <= before.end]
        assert len(shared) <= chunker.overlap_sentences
        if chunker.overlap_sentences == 0:
            assert after.start >= before.end
    assert [c.index for c in chunks] == list(range(len(chunks)))


@PROPERTY_SETTINGS
@given(document=prose(), options=chunker_options)
def test_chunks_keep_every_invariant(tiktoken_tokenizer, document, options):
    size, max_sentences, overlap, boundaries = options
    chunker = SentenceChunker(tiktoken_tokenizer, size, max_sentences, overlap, boundaries)
    check_invariants(chunker, make_document(*document))


@PROPERTY_SETTINGS
@given(document=prose(), options=chunker_options)
def test_chunks_also_fit_a_second_limit(tiktoken_tokenizer, model_tokenizer, document, options):
    size, max_sentences, overlap, boundaries = options
    limit = TokenLimit(model_tokenizer, max(8, size // 2))
    chunker = SentenceChunker(tiktoken_tokenizer, size, max_sentences, overlap, boundaries, limit)
    check_invariants(chunker, make_document(*document))
