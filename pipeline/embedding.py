"""How chunks get their vectors: each chunk alone ("fixed"), or pooled in context ("late")."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pipeline.protocols import Encoder
from pipeline.types import Chunk, Document, EncoderSpec

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

    Example::

        vectors = IndependentEmbedder(encoder).embed([(document, chunks)])[0]   # (len(chunks), dim)
    """

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    @property
    def spec(self) -> EncoderSpec:
        return self.encoder.spec

    @property
    def config(self) -> dict[str, Any]:
        return {"strategy": "fixed"}

    def embed(self, batch: Sequence[DocumentChunks]) -> list[np.ndarray]:
        vectors = self.encoder.encode_documents([chunk.text for _, chunks in batch for chunk in chunks])
        bounds = np.cumsum([0, *(len(chunks) for _, chunks in batch)])
        return [vectors[start:end] for start, end in itertools.pairwise(bounds)]


def as_embedder(encoder: Encoder | ChunkEmbedder) -> ChunkEmbedder:
    """``encoder`` itself if it embeds whole batches of chunks, else an :class:`IndependentEmbedder`."""
    return encoder if isinstance(encoder, ChunkEmbedder) else IndependentEmbedder(encoder)
