"""The data that flows through a pipeline: documents, their elements, chunks and vectors.

All types are frozen; change them with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Element:
    """A structural piece of a document's text: a title, a paragraph, a list item, a table.

    ``document.text[start:end]`` is the element's text. ``section`` is the title of the
    section the element belongs to (``None`` before the first title).
    """

    kind: str
    start: int
    end: int
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed document: its text and the elements that make it up.

    Example::

        doc = Document(id="a1", source="/docs/faq.md", text="Hello.", content_hash="9f2c...")
    """

    id: str
    source: str
    text: str
    content_hash: str
    elements: tuple[Element, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a document's text, the unit that gets embedded and stored.

    Invariant: ``chunk.text == document.text[chunk.start:chunk.end]``.
    """

    id: str
    document_id: str
    index: int
    text: str
    start: int
    end: int
    token_count: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """What identifies an encoder's vectors: same spec, comparable vectors."""

    model: str
    dimension: int
    max_tokens: int
    normalized: bool = True


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk with its vector and the encoder that made it."""

    chunk: Chunk
    vector: np.ndarray
    encoder: str


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term weights by term id: ``values[i]`` is the weight of term ``indices[i]``.

    Example::

        SparseVector(indices=(17, 4021), values=(1.3, 0.8))
    """

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError(f"{len(self.indices)} indices but {len(self.values)} values")


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result of a search, with the stored payload of its chunk (and its dense vector if asked)."""

    id: str
    score: float
    payload: dict[str, Any]
    vector: np.ndarray | None = None

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))
