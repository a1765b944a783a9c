"""Cut a run's documents into batches that can be indexed apart, and tell which are already done."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chunkwise.pipeline.errors import DocumentError
from chunkwise.pipeline.ids import content_hash, document_id
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.source import SourceItem

VERSION_PREFIX = "version:"


@dataclass(frozen=True, slots=True)
class PlannedDocument:
    """A listed document and the hash of its bytes when the run was planned (``None``: unreadable),
    or, for a source that versions its documents, ``version:`` and the version (nothing is read)."""

    item: SourceItem
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class Batch:
    """Documents indexed together; ``current`` when the store holds every one of them whole, from
    these bytes and the pipeline of ``fingerprint``.

    Example::

        batch.items          # what to give index_items
        batch.cache_key(scope="/srv/qdrant docs")  # the same documents, bytes and pipeline: same key
    """

    number: int
    of: int
    documents: tuple[PlannedDocument, ...]
    fingerprint: str
    current: bool

    @property
    def items(self) -> list[SourceItem]:
        return [document.item for document in self.documents]

    @property
    def label(self) -> str:
        return f"{self.number}/{self.of}"

    def cache_key(self, scope: str) -> str | None:
        """A key naming this batch's documents, their bytes and metadata and the pipeline, within
        ``scope`` (a store and collection); ``None`` when a document could not be read."""
        if any(document.content_hash is None for document in self.documents):
            return None
        named = [(d.item.uri, d.content_hash, d.item.metadata) for d in self.documents]
        described = [scope, self.fingerprint, named]  # metadata: a new commit of the same blobs is a new key
        return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def plan_batches(
    items: Sequence[SourceItem],
    read: Callable[[SourceItem], bytes],
    parser_settings: str,
    stored: Mapping[str, StoredDocument],
    fingerprint: str,
    batch_documents: int,
) -> list[Batch]:
    """Batches of at most ``batch_documents`` of ``items``, in order, each hashed and checked
    against the ``stored`` manifest. A document that cannot be read now is left to its batch to
    report (the batch is then never current).

    Example::

        batches = plan_batches(items, source.read, parser.settings,
                               store.stored_documents("docs"), fingerprint.digest, 32)
    """
    if batch_documents < 1:
        raise ValueError(f"batch_documents ({batch_documents}) must be >= 1")
    planned = [PlannedDocument(item, _hash(item, read, parser_settings)) for item in items]
    groups = [planned[start : start + batch_documents] for start in range(0, len(planned), batch_documents)]
    return [
        Batch(
            number=number,
            of=len(groups),
            documents=tuple(group),
            fingerprint=fingerprint,
            current=all(_is_current(document, stored, fingerprint) for document in group),
        )
        for number, group in enumerate(groups, start=1)
    ]


def _hash(item: SourceItem, read: Callable[[SourceItem], bytes], parser_settings: str) -> str | None:
    """What names the item's bytes: the source's version when it gives one (nothing is read), else
    the hash of the bytes; ``None`` when they cannot be read."""
    if item.version:
        return VERSION_PREFIX + item.version
    try:
        return content_hash(read(item), parser_settings)
    except DocumentError:
        return None


def _is_current(document: PlannedDocument, stored: Mapping[str, StoredDocument], fingerprint: str) -> bool:
    entry = stored.get(document_id(document.item.uri))
    if document.content_hash is None or entry is None:
        return False
    item = document.item
    if item.version:
        kept = entry.has_version(item.version, fingerprint)
    else:
        kept = entry.is_current(document.content_hash, fingerprint)
    return kept and entry.is_described_by(item.version or "", item.metadata)
