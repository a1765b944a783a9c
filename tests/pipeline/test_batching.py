"""plan_batches: batches in listing order, hashed, and current only when the store holds them whole."""

from __future__ import annotations

from collections import Counter

import pytest

from chunkwise.pipeline.batching import plan_batches
from chunkwise.pipeline.errors import SourceError
from chunkwise.pipeline.ids import content_hash, document_id
from chunkwise.pipeline.manifest import DocumentVersion, StoredDocument
from chunkwise.pipeline.source import SourceItem

FINGERPRINT = "pipeline-a"
SETTINGS = "parser-settings"
FILES = {f"/docs/{name}.md": f"text of {name}".encode() for name in "abcde"}
ITEMS = [SourceItem(uri=uri, name=uri.rsplit("/", 1)[1]) for uri in FILES]


def read(item: SourceItem) -> bytes:
    if item.uri not in FILES:
        raise SourceError("the file vanished before it could be read")
    return FILES[item.uri]


def stored(*uris: str, fingerprint: str = FINGERPRINT, whole: bool = True) -> dict[str, StoredDocument]:
    entries = {}
    for uri in uris:
        version = DocumentVersion(content_hash(FILES[uri], SETTINGS), fingerprint, chunk_count=3)
        entries[document_id(uri)] = StoredDocument(
            document_id(uri), uri, Counter({version: 3 if whole else 2})
        )
    return entries


def test_batches_keep_the_listing_order_and_size():
    batches = plan_batches(ITEMS, read, SETTINGS, {}, FINGERPRINT, batch_documents=2)

    assert [[item.uri for item in batch.items] for batch in batches] == [
        ["/docs/a.md", "/docs/b.md"],
        ["/docs/c.md", "/docs/d.md"],
        ["/docs/e.md"],
    ]
    assert [batch.label for batch in batches] == ["1/3", "2/3", "3/3"]
    assert not any(batch.current for batch in batches)


def test_a_batch_is_current_only_when_every_document_is_stored_whole_by_this_pipeline():
    manifest = {
        **stored("/docs/a.md", "/docs/b.md", "/docs/c.md"),
        **stored("/docs/d.md", whole=False),
        **stored("/docs/e.md", fingerprint="pipeline-b"),
    }

    batches = plan_batches(ITEMS, read, SETTINGS, manifest, FINGERPRINT, batch_documents=2)

    assert [batch.current for batch in batches] == [True, False, False]


def test_the_cache_key_follows_content_pipeline_and_scope():
    [batch] = plan_batches(ITEMS[:2], read, SETTINGS, {}, FINGERPRINT, batch_documents=2)
    [same] = plan_batches(ITEMS[:2], read, SETTINGS, stored("/docs/a.md"), FINGERPRINT, batch_documents=2)
    [other_pipeline] = plan_batches(ITEMS[:2], read, SETTINGS, {}, "pipeline-b", batch_documents=2)
    [other_parser] = plan_batches(ITEMS[:2], read, "pdf=hi_res", {}, FINGERPRINT, batch_documents=2)

    key = batch.cache_key("store\0docs")
    assert key == same.cache_key("store\0docs")  # what the store holds is not part of the key
    assert key != other_pipeline.cache_key("store\0docs")
    assert key != other_parser.cache_key("store\0docs")
    assert key != batch.cache_key("store\0other")


def test_an_unreadable_document_has_no_hash_and_its_batch_is_never_cached():
    vanished = SourceItem(uri="/docs/gone.md", name="gone.md")

    [batch] = plan_batches([ITEMS[0], vanished], read, SETTINGS, stored("/docs/a.md"), FINGERPRINT, 5)

    assert [document.content_hash is None for document in batch.documents] == [False, True]
    assert not batch.current
    assert batch.cache_key("scope") is None


def test_batch_documents_must_be_positive():
    with pytest.raises(ValueError, match="batch_documents"):
        plan_batches(ITEMS, read, SETTINGS, {}, FINGERPRINT, batch_documents=0)
