"""Character-level helpers shared by chunkers: word boundaries, trimming, chunk metadata."""

from __future__ import annotations

import bisect
import itertools
import unicodedata
from collections.abc import Sequence

from chunkwise.pipeline.ids import chunk_id
from chunkwise.pipeline.types import Chunk, Document, Element


def is_word_char(char: str) -> bool:
    """Letters, digits, underscore and combining marks: characters a cut must not separate."""
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


def is_word_boundary(text: str, position: int) -> bool:
    """True when cutting ``text`` at ``position`` does not split a word."""
    if position <= 0 or position >= len(text):
        return True
    return not (is_word_char(text[position - 1]) and is_word_char(text[position]))


def boundary_at_or_before(text: str, position: int, floor: int) -> int | None:
    """The last word boundary in ``(floor, position]``, or ``None`` if the span is one word."""
    while position > floor:
        if is_word_boundary(text, position):
            return position
        position -= 1
    return None


def boundary_at_or_after(text: str, position: int, ceiling: int) -> int:
    """The first word boundary in ``[position, ceiling]`` (``ceiling`` itself if none before)."""
    while position < ceiling and not is_word_boundary(text, position):
        position += 1
    return position


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` so it neither starts nor ends with white space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def element_boundaries(elements: Sequence[Element]) -> list[int]:
    """Sorted unique start and end offsets of the elements."""
    return sorted({offset for element in elements for offset in (element.start, element.end)})


def section_ranges(document: Document) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of the document's sections; one range when it has no sections."""
    cuts = [0]
    previous = None
    for element in document.elements:
        if element.section != previous and element.start > 0:
            cuts.append(element.start)
        previous = element.section
    cuts.append(len(document.text))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


class ElementIndex:
    """Finds the elements overlapping a span, to describe a chunk by its elements."""

    def __init__(self, elements: Sequence[Element]) -> None:
        self._elements = list(elements)
        self._ends = [element.end for element in self._elements]

    def describe(self, start: int, end: int) -> dict[str, object]:
        """The kinds, pages and section title of the elements overlapping ``[start, end)``."""
        inside = []
        for element in self._elements[bisect.bisect_right(self._ends, start) :]:
            if element.start >= end:
                break
            inside.append(element)
        return {
            "element_kinds": list(dict.fromkeys(e.kind for e in inside)),
            "pages": sorted({e.page for e in inside if e.page is not None}),
            "section": next((e.section for e in inside if e.section), None),
        }


def make_chunk(
    document: Document, index: int, start: int, end: int, token_count: int, elements: ElementIndex
) -> Chunk:
    """A chunk of ``document.text[start:end]`` described by the elements it overlaps."""
    return Chunk(
        id=chunk_id(document.id, document.content_hash, start, end),
        document_id=document.id,
        index=index,
        text=document.text[start:end],
        start=start,
        end=end,
        token_count=token_count,
        metadata=elements.describe(start, end),
    )
