"""Fixed windows of N tokens with M tokens of overlap, cut between words."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from chunkwise.pipeline.chunking.text_spans import (
    ElementIndex,
    boundary_at_or_after,
    boundary_at_or_before,
    element_boundaries,
    make_chunk,
    section_ranges,
    trim,
)
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.protocols import Tokenizer
from chunkwise.pipeline.types import Chunk, Document

Boundaries = Literal["words", "elements", "sections"]
BOUNDARIES: tuple[str, ...] = ("words", "elements", "sections")


@dataclass(frozen=True, slots=True)
class TokenLimit:
    """A second budget every chunk must also fit, e.g. the encoder's input limit in its own tokens."""

    tokenizer: Tokenizer
    max_tokens: int


class TokenChunker:
    """Cuts a document into windows of at most ``chunk_size`` tokens, overlapping by ``chunk_overlap``.

    Cuts fall between words (a single word longer than a window is split between tokens).
    ``boundaries="elements"`` prefers to end a chunk where a document element (paragraph,
    title, list item) ends; ``"sections"`` also never lets a chunk cross into the next section.
    ``limit`` adds a second budget, such as the embedding model's input limit in its own
    tokens, so no chunk is ever truncated by the encoder.

    Example::

        chunker = TokenChunker(TiktokenTokenizer(), chunk_size=256, chunk_overlap=32)
        for chunk in chunker.chunk(document):
            assert chunk.text == document.text[chunk.start:chunk.end]
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_size: int = 256,
        chunk_overlap: int = 32,
        boundaries: Boundaries = "words",
        limit: TokenLimit | None = None,
    ) -> None:
        if chunk_size < 8:
            raise ConfigurationError(f"chunk_size ({chunk_size}) must be >= 8")
        if not 0 <= chunk_overlap < chunk_size:
            raise ConfigurationError(
                f"chunk_overlap ({chunk_overlap}) must be >= 0 and < chunk_size ({chunk_size})"
            )
        if boundaries not in BOUNDARIES:
            raise ConfigurationError(f"boundaries ({boundaries!r}) must be one of {BOUNDARIES}")
        if limit is not None and limit.max_tokens < 8:
            raise ConfigurationError(f"limit.max_tokens ({limit.max_tokens}) must be >= 8")
        self.tokenizer = tokenizer
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.boundaries = boundaries
        self.limit = limit

    @property
    def config(self) -> dict[str, Any]:
        return {
            "chunker": "token",
            "tokenizer": self.tokenizer.name,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "boundaries": self.boundaries,
        }

    def chunk(self, document: Document) -> list[Chunk]:
        spans = _Spans(self, document)
        ranges = section_ranges(document) if self.boundaries == "sections" else [(0, len(document.text))]
        chunks: list[Chunk] = []
        elements = ElementIndex(document.elements)
        for range_start, range_end in ranges:
            for start, end, tokens in spans.windows(range_start, range_end):
                chunks.append(make_chunk(document, len(chunks), start, end, tokens, elements))
        return chunks

    def measure(self, text: str) -> tuple[int, int | None]:
        """Token count of ``text`` and, if it breaks a budget, the offset of the first token too many."""
        starts = self.tokenizer.token_starts(text)
        overflow = starts[self.chunk_size] if len(starts) > self.chunk_size else None
        if self.limit is not None:
            limit_starts = self.limit.tokenizer.token_starts(text)
            if len(limit_starts) > self.limit.max_tokens:
                limit_overflow = limit_starts[self.limit.max_tokens]
                overflow = limit_overflow if overflow is None else min(overflow, limit_overflow)
        return len(starts), overflow


class _Spans:
    """The window search over one document's text."""

    def __init__(self, chunker: TokenChunker, document: Document) -> None:
        self.chunker = chunker
        self.text = document.text
        self.token_starts = chunker.tokenizer.token_starts(self.text)
        use_elements = chunker.boundaries != "words"
        self.element_cuts = element_boundaries(document.elements) if use_elements else []

    def windows(self, range_start: int, range_end: int) -> Iterator[tuple[int, int, int]]:
        """Yield ``(start, end, token_count)`` of consecutive chunks covering the range."""
        start, _ = trim(self.text, range_start, range_end)
        previous_end = previous_window_end = range_start
        while start < range_end:
            window_end, tokens = self._window_end(start, range_end, previous_end)
            chunk_start, chunk_end = trim(self.text, start, window_end)
            if chunk_end <= previous_end:  # the overlap left no room to move on: drop it
                start, _ = trim(self.text, previous_window_end, range_end)
                previous_end = start
                continue
            if chunk_end > chunk_start:
                yield chunk_start, chunk_end, tokens
                previous_end = chunk_end
            previous_window_end = window_end
            next_start = self._next_start(start, chunk_start, chunk_end, window_end)
            start, _ = trim(self.text, next_start, range_end)

    def _window_end(self, start: int, range_end: int, previous_end: int) -> tuple[int, int]:
        """The furthest cut after ``start`` whose text fits the budgets, and its token count."""
        first_token = bisect.bisect_left(self.token_starts, start)
        last_token = first_token + self.chunker.chunk_size
        ceiling = self.token_starts[last_token] if last_token < len(self.token_starts) else range_end
        ceiling = min(max(ceiling, start + 1), range_end)
        while True:
            end = self._preferred_cut(start, ceiling, range_end, previous_end)
            chunk_start, chunk_end = trim(self.text, start, end)
            tokens, overflow = self.chunker.measure(self.text[chunk_start:chunk_end])
            if overflow is None or end - start <= 1:
                return end, tokens
            ceiling = max(start + 1, min(end - 1, chunk_start + overflow))

    def _preferred_cut(self, start: int, ceiling: int, range_end: int, previous_end: int) -> int:
        """An element boundary in ``(start, ceiling]``, else a word boundary, else ``ceiling``."""
        if ceiling >= range_end:
            return range_end
        index = bisect.bisect_right(self.element_cuts, ceiling) - 1
        if index >= 0 and self.element_cuts[index] > max(start, previous_end):
            candidate = self.element_cuts[index]
            if trim(self.text, start, candidate)[1] > previous_end:
                return candidate
        word_cut = boundary_at_or_before(self.text, ceiling, start)
        return word_cut if word_cut is not None else ceiling

    def _next_start(self, start: int, chunk_start: int, chunk_end: int, window_end: int) -> int:
        """Where the next window starts: ``chunk_overlap`` tokens before the end, between words."""
        overlap = self.chunker.chunk_overlap
        if overlap == 0:
            return window_end
        end_token = bisect.bisect_left(self.token_starts, chunk_end)
        back = self._start_of_last_tokens(end_token, overlap) if end_token > overlap else chunk_start
        candidate = boundary_at_or_after(self.text, max(back, chunk_start + 1), chunk_end)
        return candidate if start < candidate < chunk_end else window_end

    def _start_of_last_tokens(self, end_token: int, count: int) -> int:
        """The first offset from which at most ``count`` tokens lie before token ``end_token``.

        Several byte-level tokens can start at one character (e.g. an emoji's bytes); a cut
        cannot split a character, so the offset moves to the next character in that case.
        """
        index = end_token - count
        back = self.token_starts[index]
        if bisect.bisect_left(self.token_starts, back) < index:
            following = bisect.bisect_right(self.token_starts, back)
            back = self.token_starts[following] if following < end_token else len(self.text)
        return back
