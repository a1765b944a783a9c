"""What a collection holds for each document, read back from the points' payloads.

Every point carries its document's id, source, content hash, pipeline fingerprint digest and
chunk count. Summed up per document, they tell a complete document (all its points from one
version, as many as that version has chunks) from what an interrupted write left behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST_FIELDS = (
    "document_id",
    "source",
    "content_hash",
    "source_version",
    "fingerprint",
    "chunk_count",
    "metadata",
)


@dataclass(frozen=True, slots=True)
class DocumentVersion:
    """One version of a document: its content, the pipeline that embedded it, its chunk count, and
    the version its source gave the bytes (``""`` when it gave none)."""

    content_hash: str
    fingerprint: str
    chunk_count: int
    source_version: str = ""


@dataclass(slots=True)
class StoredDocument:
    """The points one document has in a collection, counted per version.

    Example::

        stored = store.stored_documents("docs")[document_id("/docs/faq.md")]
        stored.is_current(content_hash, fingerprint.digest)   # False after a crash mid-write
        stored.is_whole_from(fingerprint.digest)               # whole, whatever its content
    """

    document_id: str
    source: str
    points: Counter[DocumentVersion] = field(default_factory=Counter)
    metadata: dict[str, Any] = field(default_factory=dict)  # the document's, as its first point holds it

    def is_current(self, content_hash: str, fingerprint: str) -> bool:
        """Whether the document is stored whole, from this content and this pipeline only."""
        version = self._whole_version()
        if version is None:
            return False
        return version.content_hash == content_hash and version.fingerprint == fingerprint

    def has_version(self, source_version: str, fingerprint: str) -> bool:
        """Whether the document is stored whole, from the bytes the source calls ``source_version``
        and this pipeline only: it need not be read again."""
        version = self._whole_version()
        return (
            version is not None
            and bool(source_version)
            and version.source_version == source_version
            and version.fingerprint == fingerprint
        )

    def is_described_by(self, source_version: str, metadata: Mapping[str, Any]) -> bool:
        """Whether the stored points already say what the source says now of the same bytes: its
        version (``""``: none) and each of its ``metadata`` keys. When not, a run refreshes the
        payload (:meth:`~pipeline.protocols.StoreWriter.refresh_document`) instead of re-embedding."""
        version = self._whole_version()
        return (
            version is not None
            and version.source_version == source_version
            and all(self.metadata.get(key) == value for key, value in metadata.items())
        )

    def is_whole_from(self, fingerprint: str) -> bool:
        """Whether the document is stored whole (whatever its content) by this pipeline only."""
        version = self._whole_version()
        return version is not None and version.fingerprint == fingerprint

    def _whole_version(self) -> DocumentVersion | None:
        """The document's one version when all its points belong to it and none is missing."""
        if len(self.points) != 1:
            return None
        [(version, count)] = self.points.items()
        return version if count == version.chunk_count else None


def summarize(payloads: Iterable[Mapping[str, Any]]) -> dict[str, StoredDocument]:
    """Each document's points counted per version, from payloads holding ``MANIFEST_FIELDS``."""
    documents: dict[str, StoredDocument] = {}
    for payload in payloads:
        document_id = str(payload.get("document_id", ""))
        stored = documents.get(document_id)
        if stored is None:
            metadata = payload.get("metadata")
            stored = documents[document_id] = StoredDocument(
                document_id, str(payload.get("source", "")), metadata=dict(metadata or {})
            )
        version = DocumentVersion(
            content_hash=str(payload.get("content_hash", "")),
            fingerprint=str(payload.get("fingerprint", "")),
            chunk_count=int(payload.get("chunk_count") or 0),
            source_version=str(payload.get("source_version") or ""),
        )
        stored.points[version] += 1
    return documents
