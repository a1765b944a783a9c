"""The pipeline fingerprint: what must match for vectors in one collection to be comparable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from chunkwise.pipeline.errors import FingerprintMismatchError

LEARNED_SPARSE = "learned"  # the ``kind`` of learned sparse weights (SPLADE) in ``Fingerprint.sparse``
NAMED_DENSE = "dense"  # the ``kind`` of a named vector of one row per chunk (``Fingerprint.vectors``)
MULTIVECTOR = "multivector"  # the ``kind`` of a named vector of one row per token, compared by MaxSim


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The model, vector dimension, chunking and sparse-term configuration a collection was built with.

    ``sparse`` is the configuration of the sparse (term weight) encoder, ``None`` when the
    collection has dense vectors only; ``{"kind": "learned", "model": ...}`` for learned sparse
    weights (SPLADE), else BM25's. ``vectors`` names the vectors stored beside the dense one and
    the sparse terms, each ``{"kind": "dense" | "multivector", "size": N, ...}`` with what made it
    (see :class:`~pipeline.embedding.NamedEmbedder`).

    Example::

        fp = Fingerprint(model="sentence-transformers/all-MiniLM-L6-v2", dimension=384,
                         chunking={"strategy": "fixed", "chunk_size": 256})
        fp.check_compatible(stored_fp)   # raises FingerprintMismatchError on a mismatch
    """

    model: str
    dimension: int
    chunking: dict[str, Any] = field(default_factory=dict)
    sparse: dict[str, Any] | None = None
    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A short stable hash of the whole fingerprint, stored with every point it made."""
        return hashlib.sha256(_canonical(self.to_dict()).encode("utf-8")).hexdigest()[:16]

    @property
    def sparse_idf(self) -> bool:
        """Whether the sparse vectors are scored with Qdrant's IDF modifier: BM25 term weights are,
        learned weights (which carry each term's importance already) are not."""
        return (self.sparse or {}).get("kind") != LEARNED_SPARSE

    @property
    def dense_names(self) -> tuple[str, ...]:
        """The dense vectors a dense query searches: ``"dense"`` and the named dense vectors."""
        named = (name for name, spec in self.vectors.items() if spec["kind"] == NAMED_DENSE)
        return ("dense", *sorted(named))

    @property
    def layout(self) -> tuple[Any, ...]:
        """What a collection fixes when it is created: the dense size, whether sparse terms are
        scored with IDF, and the named vectors' kinds and sizes. Another layout needs a new collection."""
        named = sorted((name, spec["kind"], int(spec["size"])) for name, spec in self.vectors.items())
        return self.dimension, self.sparse_idf, tuple(named)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "dimension": self.dimension,
            "chunking": dict(self.chunking),
        }
        if self.sparse is not None:
            data["sparse"] = dict(self.sparse)
        if self.vectors:
            data["vectors"] = {name: dict(spec) for name, spec in self.vectors.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(
            model=str(data["model"]),
            dimension=int(data["dimension"]),
            chunking=dict(data.get("chunking") or {}),
            sparse=dict(data["sparse"]) if data.get("sparse") is not None else None,
            vectors={name: dict(spec) for name, spec in (data.get("vectors") or {}).items()},
        )

    def check_compatible(self, stored: Fingerprint, *, allow_chunking_change: bool = False) -> None:
        """Raise unless vectors made by ``self`` may be written into a collection built as ``stored``.

        ``allow_chunking_change`` (a reindex) also allows the same model's vectors at another size
        (Matryoshka ``dimensions``): the collection must then be built anew.
        """
        resized = self.model == stored.model and self.dimension != stored.dimension
        if self.model != stored.model or (resized and not allow_chunking_change):
            raise FingerprintMismatchError(
                f"the collection holds vectors of {stored.model} ({stored.dimension}-d); "
                f"this pipeline makes {self.model} ({self.dimension}-d). "
                + (
                    "A collection's vector size is fixed: use the same dimensions, another collection, "
                    "or reindex to build this one anew (`chunkwise ingest --reindex`; documents the run "
                    "does not list are dropped)."
                    if resized
                    else "Use another collection, or delete this one first."
                )
            )
        if not allow_chunking_change and _canonical(self.chunking) != _canonical(stored.chunking):
            raise FingerprintMismatchError(
                f"the collection was chunked with {_canonical(stored.chunking)}; "
                f"this pipeline chunks with {_canonical(self.chunking)}. "
                "Use the same chunking options, another collection, or reindex to rebuild this one "
                "with the new options (`chunkwise ingest --reindex`)."
            )
        if not allow_chunking_change and _canonical(self.sparse) != _canonical(stored.sparse):
            raise FingerprintMismatchError(
                f"the collection's sparse vectors were made with {_canonical(stored.sparse)}; "
                f"this pipeline makes {_canonical(self.sparse)}. Use the same sparse options, "
                "another collection, or reindex (`chunkwise ingest --reindex`)."
            )
        if not allow_chunking_change and _canonical(self.vectors) != _canonical(stored.vectors):
            raise FingerprintMismatchError(
                f"the collection stores the named vectors {_canonical(stored.vectors)}; "
                f"this pipeline makes {_canonical(self.vectors)}. Use the same vector options, "
                "another collection, or reindex (`chunkwise ingest --reindex`)."
            )


def _canonical(config: dict[str, Any] | None) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))
