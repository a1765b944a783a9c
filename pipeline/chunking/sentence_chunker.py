"""Chunks of whole sentences: as many consecutive sentences as fit a token budget."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from typing import Any, Literal

from chunkwise.pipeline.chunking.sentences import sentence_spans
from chunkwise.pipeline.chunking.text_spans import (
    ElementIndex,
    element_boundaries,
    make_chunk,
    section_ranges,
)
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.protocols import Tokenizer
from chunkwise.pipeline.types import Chunk, Document

SentenceBoundaries = Literal["elements", "sections"]
SENTENCE_BOUNDARIES: tuple[str, ...] = ("elements", "sections")

Span = tuple[int, int]


class SentenceChunker:
    """Groups consecutive whole sentences into chunks of at most ``chunk_size`` tokens.

    Each document element (paragraph, title, list item) is split into sentences on its own, so
    no sentence crosses an element boundary; ``boundaries="sections"`` also keeps every chunk
    within one section. ``max_sentences`` caps the sentences per chunk ("N sentences per chunk"
    with a large ``chunk_size``), ``overlap_sentences`` repeats the last sentences of a chunk at
    the start of the next one, and ``limit`` adds a second budget such as the encoder's input
    limit. A sentence longer than the budgets is cut into windows by :class:`TokenChunker`.

    Example::

        chunker = SentenceChunker(TiktokenTokenizer(), chunk_size=128, overlap_sentences=1)
        for chunk in chunker.chunk(document):
            assert chunk.text == document.text[chunk.start:chunk.end]
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_size: int = 256,
        max_sentences: int | None = None,
        overlap_sentences: int = 0,
        boundaries: SentenceBoundaries = "elements",
        limit: TokenLimit | None = None,
    ) -> None:
        # Cuts sentences longer than the budgets; validates chunk_size and limit for both chunkers.
        self._windows = TokenChunker(tokenizer, chunk_size, 0, "words", limit)
        if max_sentences is not None and max_sentences < 1:
            raise ConfigurationError(f"max_sentences ({max_sentences}) must be >= 1 or None")
        if overlap_sentences < 0:
            raise ConfigurationError(f"overlap_sentences ({overlap_sentences}) must be >= 0")
        if max_sentences is not None and overlap_sentences >= max_sentences:
            raise ConfigurationError(
                f"overlap_sentences ({overlap_sentences}) must be < max_sentences ({max_sentences})"
            )
        if boundaries not in SENTENCE_BOUNDARIES:
            raise ConfigurationError(f"boundaries ({boundaries!r}) must be one of {SENTENCE_BOUNDARIES}")
        self.tokenizer = tokenizer
        self.chunk_size = chunk_size
        self.max_sentences = max_sentences
        self.overlap_sentences = overlap_sentences
        self.boundaries = boundaries
        self.limit = limit

    @property
    def config(self) -> dict[str, Any]:
        return {
            "chunker": "sentence",
            "tokenizer": self.tokenizer.name,
            "chunk_size": self.chunk_size,
            "max_sentences": self.max_sentences,
            "chunk_overlap_sentences": self.overlap_sentences,
            "boundaries": self.boundaries,
        }

    def chunk(self, document: Document) -> list[Chunk]:
        text = document.text
        inner = (cut for cut in element_boundaries(document.elements) if 0 < cut < len(text))
        cuts = sorted({0, len(text), *inner})
        sentences = [span for a, b in itertools.pairwise(cuts) for span in sentence_spans(text, a, b)]
        ranges = section_ranges(document) if self.boundaries == "sections" else [(0, len(text))]
        range_starts = [start for start, _ in ranges]
        groups = itertools.groupby(sentences, key=lambda span: bisect.bisect_right(range_starts, span[0]))
        elements = ElementIndex(document.elements)
        chunks: list[Chunk] = []
        for _, group in groups:
            for start, end, tokens in _Grouper(self, document, list(group)).spans():
                chunks.append(make_chunk(document, len(chunks), start, end, tokens, elements))
        return chunks

    def measure(self, text: str) -> tuple[int, bool]:
        """Token count of ``text`` and whether it fits ``chunk_size`` and ``limit``."""
        tokens = self.tokenizer.count(text)
        fits = tokens <= self.chunk_size
        if fits and self.limit is not None:
            fits = self.limit.tokenizer.count(text) <= self.limit.max_tokens
        return tokens, fits


class _Grouper:
    """Cuts one run of sentences (a section, or the whole document) into chunks."""

    def __init__(self, chunker: SentenceChunker, document: Document, sentences: list[Span]) -> None:
        self.chunker = chunker
        self.document = document
        self.sentences = sentences
        self._measured: dict[Span, tuple[int, bool]] = {}

    def spans(self) -> list[tuple[int, int, int]]:
        """``(start, end, token_count)`` of the chunks, in order."""
        out: list[tuple[int, int, int]] = []
        first, fitting, count = 0, 1, len(self.sentences)  # sentences [first, fitting) are known to fit
        while first < count:
            if not self._fits(first, fitting):
                out.extend(self._split_long(*self.sentences[first]))
                first, fitting = first + 1, first + 2
                continue
            last = self._longest_run(first, fitting)
            out.append((self.sentences[first][0], self.sentences[last - 1][1], self._tokens(first, last)))
            first, fitting = self._next_first(first, last), last + 1
        return out

    def _longest_run(self, first: int, fitting: int) -> int:
        """The largest ``last`` such that sentences ``[first, last)`` fit, by galloping then bisecting.

        Sentences ``[first, fitting)`` are known to fit.
        """
        cap = len(self.sentences)
        if self.chunker.max_sentences is not None:
            cap = min(cap, first + self.chunker.max_sentences)
        step = 1
        while fitting < cap:
            probe = min(fitting + step, cap)
            if not self._fits(first, probe):
                return self._bisect(first, fitting, probe)
            fitting, step = probe, step * 2
        return fitting

    def _bisect(self, first: int, fitting: int, too_many: int) -> int:
        while too_many - fitting > 1:
            middle = (fitting + too_many) // 2
            fitting, too_many = (middle, too_many) if self._fits(first, middle) else (fitting, middle)
        return fitting

    def _next_first(self, first: int, last: int) -> int:
        """The first sentence of the next chunk: up to ``overlap_sentences`` back, if it still fits."""
        if last >= len(self.sentences):
            return last
        start = max(first + 1, last - self.chunker.overlap_sentences)
        while start < last and not self._fits(start, last + 1):
            start += 1  # the overlap would leave no room for the next sentence: shorten it
        return start

    def _split_long(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Token windows of a sentence longer than the budgets, cut by :class:`TokenChunker`."""
        part = dataclasses.replace(self.document, text=self.document.text[start:end], elements=())
        return [(start + c.start, start + c.end, c.token_count) for c in self.chunker._windows.chunk(part)]

    def _tokens(self, first: int, last: int) -> int:
        return self._measure(first, last)[0]

    def _fits(self, first: int, last: int) -> bool:
        return self._measure(first, last)[1]

    def _measure(self, first: int, last: int) -> tuple[int, bool]:
        span = (self.sentences[first][0], self.sentences[last - 1][1])
        if span not in self._measured:
            self._measured[span] = self.chunker.measure(self.document.text[span[0] : span[1]])
        return self._measured[span]
