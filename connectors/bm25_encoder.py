"""Sparse BM25 term weights, computed in-process by Qdrant's own BM25 model (``qdrant_edge.Bm25``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chunkwise.connectors.qdrant_common import sparse_vector
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.types import SparseVector

MODEL = "qdrant-bm25"


class Bm25Encoder:
    """BM25 term weights for a chunk's words, for keyword and hybrid search.

    Documents get saturated term frequencies normalised by length (``k``, ``b``,
    ``avg_len``, in words); queries get weight 1 per distinct term. The collection's IDF
    modifier supplies the inverse document frequency at search time, so weights never need
    recomputing as the collection grows. Words are lowercased, stop words dropped and
    stemmed for ``language``. Term ids are hashes, the same in Qdrant Edge and on a server.

    Example::

        bm25 = Bm25Encoder()
        [vector] = bm25.encode_documents(["Debian packages are built with dpkg-buildpackage."])
        query = bm25.encode_query("how are packages built")
    """

    def __init__(
        self, language: str = "english", k: float = 1.2, b: float = 0.75, avg_len: float = 256.0
    ) -> None:
        from qdrant_edge import Bm25, Bm25Config

        try:
            self._model = Bm25(Bm25Config(k=k, b=b, avg_len=avg_len, language=language))
        except ValueError as error:
            raise ConfigurationError(f"invalid BM25 options: {error}") from error
        self._config = {"model": MODEL, "language": language, "k": k, "b": b, "avg_len": avg_len}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bm25Encoder:
        """The encoder a collection's fingerprint describes (its ``sparse`` part)."""
        options = {key: value for key, value in config.items() if key != "model"}
        if config.get("model") != MODEL:
            raise ConfigurationError(
                f"unknown sparse model {config.get('model')!r}; chunkwise makes {MODEL!r}"
            )
        return cls(**options)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [sparse_vector(self._model.embed_document(text)) for text in texts]

    def encode_query(self, text: str) -> SparseVector:
        return sparse_vector(self._model.embed_query(text))
