"""Passages: search hits widened to their neighbouring chunks and joined without repeating overlap.

A passage is one or more consecutive chunks of one version of a document. Chunks carry their
character span (``start``, ``end``) in the document's text, so consecutive chunks that overlap
are joined by keeping only the part of each chunk past its predecessor's end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chunkwise.pipeline.types import SearchHit

Expansion = int | str  # N neighbours on each side, or "section"
SECTION = "section"


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as stored: its point id and payload (``text``, ``start``, ``end``, ``chunk_index``, ...)."""

    id: str
    payload: Mapping[str, Any]

    @property
    def index(self) -> int:
        return int(self.payload["chunk_index"])

    @property
    def start(self) -> int:
        return int(self.payload["start"])

    @property
    def end(self) -> int:
        return int(self.payload["end"])


@dataclass(frozen=True, slots=True)
class Passage:
    """The text a hit stands for once expanded: ``chunks`` in document order, ``hit`` the best of them.

    Example::

        passage = Passage(hit=hit, chunks=(before, chunk, after))
        passage.text, passage.start, passage.end
    """

    hit: SearchHit
    chunks: tuple[StoredChunk, ...]

    @property
    def text(self) -> str:
        return join_chunks(self.chunks)

    @property
    def start(self) -> int:
        return self.chunks[0].start

    @property
    def end(self) -> int:
        return max(chunk.end for chunk in self.chunks)

    @property
    def chunk_ids(self) -> list[str]:
        return [chunk.id for chunk in self.chunks]

    @property
    def indices(self) -> range:
        return range(self.chunks[0].index, self.chunks[-1].index + 1)


def check_expansion(expand: Expansion) -> Expansion:
    """``expand`` if it is a number of neighbours (>= 0) or ``"section"``, else a ``ValueError``."""
    if expand == SECTION or (isinstance(expand, int) and not isinstance(expand, bool) and expand >= 0):
        return expand
    raise ValueError(f'expand must be a number of neighbouring chunks (>= 0) or "section", not {expand!r}')


def neighbour_indices(index: int, expand: int) -> list[int]:
    """Chunk indices ``index - expand`` to ``index + expand`` (the first chunk is 0)."""
    return list(range(max(0, index - expand), index + expand + 1))


def section_run(chunks: Sequence[StoredChunk], index: int) -> list[StoredChunk]:
    """The unbroken run of chunks around chunk ``index`` that lie in the same section as it.

    A section title can occur twice in a document; only the run that holds the chunk counts.
    """
    ordered = sorted(chunks, key=lambda chunk: chunk.index)
    position = next(i for i, chunk in enumerate(ordered) if chunk.index == index)
    section = ordered[position].payload.get("section")
    first = last = position
    while first > 0 and _continues(ordered[first - 1], ordered[first], section):
        first -= 1
    while last + 1 < len(ordered) and _continues(ordered[last], ordered[last + 1], section):
        last += 1
    return ordered[first : last + 1]


def read_section(
    read: Callable[[list[int] | None], list[StoredChunk]],
    index: int,
    count: int | None = None,
    reach: int = 8,
) -> list[StoredChunk]:
    """The chunks ``read(indices)`` gives for ever wider windows around chunk ``index``, until the
    window holds the whole run of its section (:func:`section_run`), or shows chunk ``index`` gone.

    A document of ``count`` chunks that one window would cover is read whole (``read(None)``). The
    work is bounded by the section's length, not the document's: a long document is not read whole
    for one hit.

    Example::

        chunks = read_section(lambda indices: chunks_at(document, indices), index=12, count=400)
        passage = section_run(chunks, 12)
    """
    if count is not None and count <= 2 * reach + 1:
        return read(None)
    while True:
        chunks = read(neighbour_indices(index, reach))
        if not any(chunk.index == index for chunk in chunks):
            return chunks
        run = section_run(chunks, index)
        starts_inside = run[0].index > index - reach or run[0].index == 0
        if starts_inside and run[-1].index < index + reach:  # a chunk past the window could continue it
            return chunks
        reach *= 4


def _continues(before: StoredChunk, after: StoredChunk, section: Any) -> bool:
    same_section = before.payload.get("section") == section and after.payload.get("section") == section
    return same_section and after.index == before.index + 1


def join_chunks(chunks: Iterable[StoredChunk]) -> str:
    """The text of consecutive chunks, each overlap with the previous chunk kept once.

    Chunks are trimmed of white space, so the text between two chunks that do not touch is
    white space: it comes back as a space, or as a blank line where it was longer.
    """
    text, end = "", None
    for chunk in sorted(chunks, key=lambda chunk: chunk.start):
        chunk_text = str(chunk.payload.get("text", ""))
        if end is None:
            text, end = chunk_text, chunk.end
        elif chunk.start < end:
            text += chunk_text[end - chunk.start :]
            end = max(end, chunk.end)
        else:
            text += _gap(chunk.start - end) + chunk_text
            end = chunk.end
    return text


def _gap(length: int) -> str:
    return "" if length == 0 else " " if length == 1 else "\n\n"


def merge_overlapping(passages: Sequence[Passage]) -> list[Passage]:
    """Passages of the same document version that share a chunk become one, ranked where the first was.

    ``passages`` are in rank order; the merged passage keeps the better-ranked hit.
    """
    merged: list[Passage] = []
    for passage in passages:
        for position, kept in enumerate(merged):
            if _same_version(kept, passage) and _share_chunks(kept, passage):
                chunks = {chunk.id: chunk for chunk in (*kept.chunks, *passage.chunks)}
                ordered = tuple(sorted(chunks.values(), key=lambda chunk: chunk.index))
                merged[position] = Passage(hit=kept.hit, chunks=ordered)
                break
        else:
            merged.append(passage)
    # a merged passage may now reach one it missed before: merge until nothing changes
    return merge_overlapping(merged) if len(merged) < len(passages) else merged


def _same_version(a: Passage, b: Passage) -> bool:
    keys = ("document_id", "content_hash")
    return all(a.hit.payload.get(key) == b.hit.payload.get(key) for key in keys)


def _share_chunks(a: Passage, b: Passage) -> bool:
    return a.indices.start < b.indices.stop and b.indices.start < a.indices.stop
