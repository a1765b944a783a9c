"""The stored-document manifest: telling whole documents from what an interrupted write left."""

from __future__ import annotations

from chunkwise.pipeline.manifest import summarize


def payloads(document: str, content: str, fingerprint: str, chunk_count: int, points: int) -> list[dict]:
    return [
        {
            "document_id": document,
            "source": f"/docs/{document}.md",
            "content_hash": content,
            "fingerprint": fingerprint,
            "chunk_count": chunk_count,
        }
        for _ in range(points)
    ]


def test_a_whole_document_is_current_for_its_content_and_pipeline_only():
    [stored] = summarize(payloads("a", "h1", "p1", 3, 3)).values()
    assert stored.source == "/docs/a.md"
    assert stored.is_current("h1", "p1") and stored.is_whole_from("p1")
    assert not stored.is_current("h2", "p1")
    assert not stored.is_current("h1", "p2") and not stored.is_whole_from("p2")


def test_a_document_missing_points_is_neither_current_nor_whole():
    [stored] = summarize(payloads("a", "h1", "p1", 3, 2)).values()
    assert not stored.is_current("h1", "p1") and not stored.is_whole_from("p1")


def test_two_versions_side_by_side_are_neither_current_nor_whole():
    [stored] = summarize(payloads("a", "h1", "p1", 2, 2) + payloads("a", "h2", "p1", 3, 3)).values()
    assert len(stored.points) == 2
    assert not stored.is_current("h1", "p1") and not stored.is_current("h2", "p1")
    assert not stored.is_whole_from("p1")


def test_documents_are_counted_apart_and_old_payloads_without_the_fields_are_incomplete():
    stored = summarize(
        payloads("a", "h1", "p1", 1, 1) + payloads("b", "h2", "p1", 2, 2) + [{"document_id": "c"}]
    )
    assert set(stored) == {"a", "b", "c"}
    assert stored["b"].is_current("h2", "p1")
    assert not stored["c"].is_whole_from("p1")
