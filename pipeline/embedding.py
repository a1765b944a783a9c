"""How chunks get their vectors: each chunk alone ("fixed"), or pooled in context ("late")."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chunkwise.pipeline.context import HEADER_TOKENS, context_header, fit_header, join_header
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.protocols import Encoder, Tokenizer
from chunkwise.pipeline.types import Chunk, Document, EncoderSpec

DocumentChunks = tuple[Document, Sequence[Chunk]]


@runtime_checkable
class ChunkEmbedder(Protocol):
    """Gives every chunk of a batch of documents its vector; ``config`` names the strategy."""

    @property
    def spec(self) -> EncoderSpec: ...

    @property
    def config(self) -> dict[str, Any]: ...

    def embed(self, batch: Sequence[DocumentChunks]) -> list[np.ndarray]: ...


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
        return [mix_vectors(a, b, self.weight) for a, b in zip(late, alone, strict=True)]


def mix_vectors(late: np.ndarray, alone: np.ndarray, weight: float) -> np.ndarray:
    """``normalise(weight * late + (1 - weight) * alone)``, row by row."""
    mixed = weight * late.astype(np.float32) + (1 - weight) * alone.astype(np.float32)
    return mixed / np.maximum(np.linalg.norm(mixed, axis=-1, keepdims=True), 1e-12)


def as_embedder(encoder: Encoder | ChunkEmbedder) -> ChunkEmbedder:
    """``encoder`` itself if it embeds whole batches of chunks, else an :class:`IndependentEmbedder`."""
    return encoder if isinstance(encoder, ChunkEmbedder) else IndependentEmbedder(encoder)
