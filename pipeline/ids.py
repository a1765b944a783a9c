"""Deterministic identifiers: the same input always gets the same id, whatever the batch."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("842753c5-907e-5201-a7f3-9e7f6793b601")


def document_id(source: str) -> str:
    """Id of the document found at ``source`` (e.g. an absolute path or a URL)."""
    return str(uuid.uuid5(_NAMESPACE, f"document:{source}"))


def chunk_id(document_id: str, content_hash: str, start: int, end: int) -> str:
    """Id of the chunk covering ``[start, end)`` of one version of a document: a UUID Qdrant accepts.

    The content hash is part of the id, so a new version of a document never overwrites the
    points of the previous one: they stay whole until the new version is completely written.
    """
    return str(uuid.uuid5(_NAMESPACE, f"chunk:{document_id}:{content_hash}:{start}:{end}"))


def content_hash(data: bytes, settings: str = "") -> str:
    """SHA-256 of a document's raw bytes and the settings that turn them into text."""
    digest = hashlib.sha256(data)
    digest.update(b"\0")
    digest.update(settings.encode("utf-8"))
    return digest.hexdigest()
