"""How chunks get their vectors: each chunk alone ("fixed"), or pooled in context ("late")."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chunkwise.pipeline.context import HEADER_TOKENS, context_header, fit_header, join_header
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.fingerprint import NAMED_DENSE
from chunkwise.pipeline.protocols import Encoder, Tokenizer
from chunkwise.pipeline.types import Chunk, Document, EncoderSpec

DocumentChunks = tuple[Document, Sequence[Chunk]]
NamedRows = np.ndarray | Sequence[np.ndarray]  # a document's named vectors: one per chunk, or rows
RESERVED_NAMES = ("dense", "sparse")  # the collection's own dense vector and sparse terms


@runtime_checkable
class ChunkEmbedder(Protocol):
    """Gives every chunk of a batch of documents its vector; ``config`` names the strategy.

    ``embed`` gives one array per document (a row per chunk), or :class:`ChunkVectors` where named
    vectors come with the dense ones (:class:`NamedVectorsEmbedder`).
    """

    @property
    def spec(self) -> EncoderSpec: ...

    @property
    def config(self) -> dict[str, Any]: ...

    def embed(self, batch: Sequence[DocumentChunks]) -> Sequence[np.ndarray | ChunkVectors]: ...


class IndependentEmbedder:
    """Embeds each chunk's text on its own, all chunks of a batch in one encoder call.

    One call lets the encoder sort every text of the batch by length, so padding stays minimal.
    With ``headers``, each chunk is embedded under its contextual header (document title and
    section, see :mod:`pipeline.context`), cut to the room the chunk leaves in the model's input.

    Example::

        vectors = IndependentEmbedder(encoder).embed([(document, chunks)])[0]   # (len(chunks), dim)
        IndependentEmbedder(encoder, headers=True)  # "Title — Section\n\nchunk text" is embedded
    """

    def __init__(self, encoder: Encoder, *, headers: bool = False) -> None:
        self.encoder = encoder
        self.headers = headers

    @property
    def spec(self) -> EncoderSpec:
        return self.encoder.spec

    @property
    def config(self) -> dict[str, Any]:
        return {"strategy": "fixed", **({"headers": True} if self.headers else {})}

    @property
    def tokenizer(self) -> Tokenizer:
        return self.encoder.tokenizer

    def encode_query(self, text: str) -> np.ndarray:
        return self.encoder.encode_query(text)

    def embed(self, batch: Sequence[DocumentChunks]) -> list[np.ndarray]:
        texts = [self._text(document, chunk) for document, chunks in batch for chunk in chunks]
        return split_by_document(self.encoder.encode_documents(texts), batch)

    def _text(self, document: Document, chunk: Chunk) -> str:
        if not self.headers:
            return chunk.text
        count, budget = self.encoder.tokenizer.count, self.spec.max_tokens
        room = min(HEADER_TOKENS, budget - count(chunk.text) - 1)  # one token spare for the joint

        def fits(header: str) -> bool:  # and the joint may take more: the joined text must fit too
            return count(header) <= room and count(join_header(header, chunk.text)) <= budget

        return join_header(fit_header(context_header(document, chunk), fits), chunk.text)


def split_by_document(vectors: np.ndarray, batch: Sequence[DocumentChunks]) -> list[np.ndarray]:
    """The rows of ``vectors`` (one per chunk of ``batch``, in order) split per document."""
    bounds = np.cumsum([0, *(len(chunks) for _, chunks in batch)])
    return [vectors[start:end] for start, end in itertools.pairwise(bounds)]


class MixedEmbedder:
    """Each chunk's late vector mixed with its vector alone: ``normalise(a*late + (1-a)*alone)``.

    ``weight`` (``a``) 1 gives late chunking, 0 each chunk alone; in between, the chunk's own
    content keeps its weight while its document's context still pulls it. Both embedders run.

    Example::

        mixed = MixedEmbedder(late_encoder, IndependentEmbedder(encoder), weight=0.5)
    """

    def __init__(self, late: ChunkEmbedder, alone: ChunkEmbedder, weight: float) -> None:
        if not 0 <= weight <= 1:
            raise ConfigurationError(f"late mix ({weight}) must be between 0 and 1")
        self.late = late
        self.alone = alone
        self.weight = weight

    @property
    def spec(self) -> EncoderSpec:
        return self.late.spec

    @property
    def tokenizer(self) -> Tokenizer:
        return self.late.tokenizer  # type: ignore[attr-defined]

    def encode_query(self, text: str) -> np.ndarray:
        return self.late.encode_query(text)  # type: ignore[attr-defined]

    @property
    def config(self) -> dict[str, Any]:
        alone = {f"alone_{key}": value for key, value in self.alone.config.items() if key != "strategy"}
        return {**self.late.config, **alone, "late_mix": self.weight}

    def embed(self, batch: Sequence[DocumentChunks]) -> list[np.ndarray]:
        late, alone = self.late.embed(batch), self.alone.embed(batch)
        return [
            mix_vectors(dense_rows(a), dense_rows(b), self.weight) for a, b in zip(late, alone, strict=True)
        ]


def mix_vectors(late: np.ndarray, alone: np.ndarray, weight: float) -> np.ndarray:
    """``normalise(weight * late + (1 - weight) * alone)``, row by row."""
    mixed = weight * late.astype(np.float32) + (1 - weight) * alone.astype(np.float32)
    return mixed / np.maximum(np.linalg.norm(mixed, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True, slots=True)
class ChunkVectors:
    """A document's chunk vectors: ``dense`` (one row per chunk) and the ``named`` vectors stored
    beside it, by name, one array per chunk (1-D dense, 2-D: one row per token)."""

    dense: np.ndarray
    named: Mapping[str, NamedRows]

    def named_of(self, index: int) -> dict[str, np.ndarray]:
        """The named vectors of chunk ``index``."""
        return {name: vectors[index] for name, vectors in self.named.items()}


@runtime_checkable
class NamedEmbedder(Protocol):
    """Makes a vector stored under a name beside each chunk's dense vector.

    ``vector_config`` is its entry in :attr:`Fingerprint.vectors`: ``{"kind": "dense" |
    "multivector", "size": N, ...}`` plus what made it; ``embed`` gives, per document of the
    batch, one array per chunk.
    """

    @property
    def vector_config(self) -> dict[str, Any]: ...

    def embed(self, batch: Sequence[DocumentChunks]) -> Sequence[NamedRows]: ...


class DenseNamed:
    """A :class:`ChunkEmbedder`'s vectors as a named dense vector (the chunk alone beside the late one).

    Example::

        alone = DenseNamed(IndependentEmbedder(encoder, headers=True))
        alone.vector_config   # {"kind": "dense", "size": 384, "strategy": "fixed", "headers": True}
    """

    def __init__(self, embedder: ChunkEmbedder) -> None:
        self.embedder = embedder

    @property
    def vector_config(self) -> dict[str, Any]:
        return {"kind": NAMED_DENSE, "size": self.embedder.spec.dimension, **self.embedder.config}

    def embed(self, batch: Sequence[DocumentChunks]) -> Sequence[NamedRows]:
        return [dense_rows(vectors) for vectors in self.embedder.embed(batch)]


class NamedVectorsEmbedder:
    """``main``'s dense vectors plus, per chunk, the vectors of each ``named`` embedder.

    The collection stores each named vector beside the dense one (:attr:`Fingerprint.vectors`
    records them); searches may use any of them.

    Example::

        embedder = NamedVectorsEmbedder(late_encoder, {"alone": DenseNamed(IndependentEmbedder(encoder))})
        [vectors] = embedder.embed([(document, chunks)])   # ChunkVectors: .dense, .named["alone"]
    """

    def __init__(self, main: ChunkEmbedder, named: Mapping[str, NamedEmbedder]) -> None:
        for name in named:
            if name in RESERVED_NAMES:
                raise ConfigurationError(f"{name!r} is the name of a built-in vector: name it otherwise")
        self.main = main
        self.named = dict(named)

    @property
    def spec(self) -> EncoderSpec:
        return self.main.spec

    @property
    def tokenizer(self) -> Tokenizer:
        return self.main.tokenizer  # type: ignore[attr-defined]

    def encode_query(self, text: str) -> np.ndarray:
        return self.main.encode_query(text)  # type: ignore[attr-defined]

    @property
    def config(self) -> dict[str, Any]:
        return self.main.config

    @property
    def vectors(self) -> dict[str, dict[str, Any]]:
        """The fingerprint's entries of the named vectors."""
        return {name: embedder.vector_config for name, embedder in self.named.items()}

    def embed(self, batch: Sequence[DocumentChunks]) -> list[ChunkVectors]:
        dense = self.main.embed(batch)
        named = {name: embedder.embed(batch) for name, embedder in self.named.items()}
        return [
            ChunkVectors(dense_rows(vectors), {name: named[name][i] for name in named})
            for i, vectors in enumerate(dense)
        ]


def dense_rows(vectors: np.ndarray | ChunkVectors) -> np.ndarray:
    """The dense rows of one document's vectors, whether named vectors came with them or not."""
    return vectors.dense if isinstance(vectors, ChunkVectors) else vectors


def named_vectors(embedder: ChunkEmbedder) -> dict[str, dict[str, Any]]:
    """The named vectors ``embedder`` makes beside the dense one (its fingerprint entries)."""
    return dict(getattr(embedder, "vectors", None) or {})


def as_embedder(encoder: Encoder | ChunkEmbedder) -> ChunkEmbedder:
    """``encoder`` itself if it embeds whole batches of chunks, else an :class:`IndependentEmbedder`."""
    return encoder if isinstance(encoder, ChunkEmbedder) else IndependentEmbedder(encoder)
