"""The data that flows through a pipeline: documents, their elements, chunks and vectors.

All types are frozen; change them with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chunkwise.pipeline.errors import ConfigurationError


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
    source_version: str = ""


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
    """What identifies an encoder's vectors: same spec, comparable vectors.

    ``quantization`` names a lossy form of the model's weights (``"int8"``), whose vectors differ
    from the model's own; ``None`` for the model as published. ``truncated_from`` is the model's
    own dimension when its vectors are cut to ``dimension`` (Matryoshka); ``query_prompt`` and
    ``document_prompt`` are the prompts put before queries and documents (``None``: none).
    """

    model: str
    dimension: int
    max_tokens: int
    normalized: bool = True
    quantization: str | None = None
    truncated_from: int | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None


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


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid search joins its dense and sparse rankings (each side's top ``k``).

    ``"rrf"``: reciprocal rank fusion, ``sum(w / (60 + rank))``, the sparse side weighted
    ``sparse_weight`` against the dense side's 1. ``"dbsf"``: distribution-based score fusion, each
    side's scores scaled by their mean +- 3 standard deviations, then added. Written as text:
    ``"rrf"``, ``"rrf:0.5"``, ``"dbsf"`` (:meth:`parse`, :meth:`__str__`).

    Example::

        Fusion.parse("rrf:0.5")   # Fusion(method="rrf", sparse_weight=0.5)
    """

    method: str = "rrf"
    sparse_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("rrf", "dbsf"):
            raise ConfigurationError(f"unknown fusion {self.method!r}: use rrf, rrf:WEIGHT or dbsf")
        if not self.sparse_weight > 0:
            raise ConfigurationError(f"the sparse weight ({self.sparse_weight}) must be > 0")
        if self.method == "dbsf" and self.sparse_weight != 1.0:
            raise ConfigurationError("dbsf takes no weight")

    @classmethod
    def parse(cls, text: str | Fusion) -> Fusion:
        """``text`` read as a fusion (a :class:`Fusion` as it is); a :class:`ConfigurationError`
        (a ``ValueError``) says what is allowed."""
        if isinstance(text, Fusion):
            return text
        method, _, weight = text.strip().lower().partition(":")
        try:
            return cls(method, float(weight) if weight else 1.0)
        except ValueError as error:
            raise ConfigurationError(f"fusion {text!r}: {error}") from error

    def __str__(self) -> str:
        if self.method == "rrf" and self.sparse_weight != 1.0:
            return f"rrf:{self.sparse_weight:g}"
        return self.method
