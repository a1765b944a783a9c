"""What a store writes: a point id, its vector and the payload built from its chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.types import Chunk, Document, SparseVector


@dataclass(frozen=True, slots=True)
class Point:
    """One stored chunk: its id, dense ``vector``, optional ``sparse`` term weights and ``payload``.

    ``named`` holds the vectors stored beside the dense one under the names of the collection's
    :attr:`Fingerprint.vectors`: 1-D for a dense vector, 2-D (one row per token) for a multivector.
    """

    id: str
    vector: np.ndarray
    payload: dict[str, Any]
    sparse: SparseVector | None = None
    named: dict[str, np.ndarray] = field(default_factory=dict)


def chunk_payload(
    document: Document, chunk: Chunk, fingerprint: Fingerprint, chunk_count: int
) -> dict[str, Any]:
    """The payload stored with a chunk's vector.

    Keys: ``text``, ``document_id``, ``source``, ``chunk_index``, ``chunk_count`` (chunks of
    this version of the document), ``start``, ``end``, ``token_count``, ``element_kinds``,
    ``pages``, ``section``, ``content_hash``, ``source_version`` (what the source called these
    bytes, ``""`` when nothing), ``encoder`` (the model) and ``fingerprint`` (the
    digest of the pipeline fingerprint, which the collection holds in full), plus the
    document's metadata under ``metadata``.
    """
    return {
        "text": chunk.text,
        "document_id": document.id,
        "source": document.source,
        "chunk_index": chunk.index,
        "chunk_count": chunk_count,
        "start": chunk.start,
        "end": chunk.end,
        "token_count": chunk.token_count,
        "element_kinds": list(chunk.metadata.get("element_kinds", [])),
        "pages": list(chunk.metadata.get("pages", [])),
        "section": chunk.metadata.get("section"),
        "content_hash": document.content_hash,
        "source_version": document.source_version,
        "encoder": fingerprint.model,
        "fingerprint": fingerprint.digest,
        "metadata": dict(document.metadata),
    }
