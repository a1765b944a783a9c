"""index_documents with the real parser, tokenizer, MiniLM encoder and the embedded Qdrant Edge store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline import indexing
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import FingerprintMismatchError, PruneRefusedError, StoreUnavailableError
from chunkwise.pipeline.ids import document_id
from chunkwise.pipeline.indexing import index_documents, index_items, settle_unlisted
from chunkwise.pipeline.source import SourceItem

SMALL_SAMPLES = ["git-bisect.txt", "python-sorting-howto.docx"]


class CountingEncoder:
    """Delegates to the real encoder and counts the texts it embeds."""

    def __init__(self, encoder):
        self.inner = encoder
        self.texts = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_documents(self, texts):
        self.texts += len(texts)
        return self.inner.encode_documents(texts)


@pytest.fixture
def corpus(tmp_path, sample_data) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in SMALL_SAMPLES:
        shutil.copy(sample_data / name, folder / name)
    return folder


@pytest.fixture
def chunker(tiktoken_tokenizer, encoder):
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    return TokenChunker(
        tiktoken_tokenizer, chunk_size=128, chunk_overlap=16, boundaries="elements", limit=limit
    )


@pytest.fixture
def store(tmp_path):
    with QdrantEdgeStore(tmp_path / "store") as store:
        yield store


def ingest(folder, chunker, encoder, store, **options):
    return index_documents(
        FileSystemSource([folder]), UnstructuredParser(), chunker, encoder, store, "docs", **options
    )


def test_every_document_is_indexed_with_exact_payloads(corpus, chunker, encoder, store):
    events = []
    report = ingest(corpus, chunker, encoder, store, batch_chunks=10_000, progress=events.append)
    assert (report.seen, report.indexed, report.failed, report.exit_code) == (2, 2, 0, 0)
    assert store.count("docs") == report.chunks > 2 * 3
    assert [(e.seen, e.done, e.status) for e in events] == [
        (0, 0, "started"),
        (1, 0, "parsed"),
        (2, 0, "parsed"),
        (2, 1, "indexed"),
        (2, 2, "indexed"),
    ]
    assert all(e.total == 2 for e in events)
    parser = UnstructuredParser()
    for name in SMALL_SAMPLES:
        path = corpus / name
        document = parser.parse(SourceItem(uri=str(path), name=name), path.read_bytes())
        mine = sorted(
            (p.payload for p in store.points("docs") if p.payload["source"] == str(path)),
            key=lambda payload: payload["chunk_index"],
        )
        assert [p["chunk_index"] for p in mine] == list(range(len(mine)))
        for payload in mine:
            assert payload["text"] == document.text[payload["start"] : payload["end"]]
            assert payload["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
            assert payload["fingerprint"] == store.fingerprint("docs").digest
            assert payload["token_count"] <= 128 and payload["element_kinds"]


def test_a_corrupt_file_gets_one_error_and_the_others_are_indexed(corpus, chunker, encoder, store):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    (corpus / "empty.md").write_bytes(b"")
    report = ingest(corpus, chunker, encoder, store)
    assert report.indexed == 2 and report.exit_code == 2
    assert sorted((Path(e.source).name, e.stage) for e in report.errors) == [
        ("broken.pdf", "parse"),
        ("empty.md", "parse"),
    ]
    assert all(e.error for e in report.errors)
    assert {
        Path(h.payload["source"]).name for h in store.search("docs", encoder.encode_query("git bisect"), 50)
    } <= set(SMALL_SAMPLES)


def test_a_rerun_skips_unchanged_documents_without_embedding(corpus, chunker, encoder, store):
    first = ingest(corpus, chunker, encoder, store)
    counting = CountingEncoder(encoder)
    second = ingest(corpus, chunker, counting, store)
    assert (second.indexed, second.unchanged, counting.texts) == (0, 2, 0)
    assert store.count("docs") == first.chunks


def test_an_edited_document_is_replaced_without_stale_chunks(corpus, chunker, encoder, store):
    ingest(corpus, chunker, encoder, store)
    edited = corpus / "git-bisect.txt"
    edited.write_text("git-bisect(1)\n\nUse binary search to find the commit that introduced a bug.\n")
    report = ingest(corpus, chunker, encoder, store)
    assert (report.indexed, report.unchanged) == (1, 1)
    remaining = store.count("docs", filters={"source": str(edited)})
    assert remaining == 1
    top = store.search("docs", encoder.encode_query("binary search for the commit that introduced a bug"), 1)[
        0
    ]
    assert top.payload["source"] == str(edited) and "binary search" in top.text


def test_another_chunking_configuration_is_refused(corpus, chunker, tiktoken_tokenizer, encoder, store):
    ingest(corpus, chunker, encoder, store)
    other = TokenChunker(tiktoken_tokenizer, chunk_size=64, chunk_overlap=0)
    with pytest.raises(FingerprintMismatchError, match="chunk_size"):
        ingest(corpus, other, encoder, store)


def test_a_document_the_encoder_refuses_is_reported_alone(tmp_path, tiktoken_tokenizer, encoder, store):
    unguarded = TokenChunker(tiktoken_tokenizer, chunk_size=1000, chunk_overlap=0)  # no model limit
    (tmp_path / "a.txt").write_text("Berlin is the capital of Germany.")
    (tmp_path / "long.txt").write_text(" ".join(f"word{i}" for i in range(900)))
    (tmp_path / "z.txt").write_text("Paris is the capital of France.")
    report = ingest(tmp_path, unguarded, encoder, store)
    assert [(Path(e.source).name, e.stage) for e in report.errors] == [("long.txt", "embed")]
    assert "input limit" in report.errors[0].error
    assert report.indexed == 2 and store.count("docs") == 2


class WritesFailAfter:
    """A real store whose writes start failing after ``allowed`` documents (the store went down)."""

    def __init__(self, store, allowed):
        self.store, self.allowed, self.writes = store, allowed, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def replace_document(self, collection, document_id, points, **options):
        if self.writes >= self.allowed:
            raise StoreUnavailableError("Qdrant did not answer after 5 attempts")
        self.writes += 1
        return self.store.replace_document(collection, document_id, points, **options)


def test_a_store_failure_stops_the_run_and_keeps_what_was_written(corpus, chunker, encoder, store):
    failing = WritesFailAfter(store, allowed=1)
    with pytest.raises(StoreUnavailableError):
        ingest(corpus, chunker, encoder, failing, batch_chunks=1)
    assert store.count("docs") > 0 and store.document_count("docs") == 1


def test_sparse_term_weights_are_stored_with_each_chunk_and_found_by_keyword(corpus, chunker, encoder, store):
    bm25 = Bm25Encoder()

    report = ingest(corpus, chunker, encoder, store, sparse_encoder=bm25)

    assert store.fingerprint("docs").sparse == bm25.config
    points = list(store.points("docs"))
    assert len(points) == report.chunks
    for point in points:
        assert point.sparse == bm25.encode_documents([point.payload["text"]])[0]
    holders = {}  # a word's term id -> the chunks holding it
    for point in points:
        for word in point.payload["text"].split():
            for term in bm25.encode_query(word).indices:
                holders.setdefault(term, set()).add(point.id)
    unique = {  # chunks with a word no other chunk has
        point.id: word
        for point in points
        for word in point.payload["text"].split()
        if holders.get(_term(bm25, word)) == {point.id}
    }
    assert len(unique) >= len(points) // 2
    for point_id, word in unique.items():  # that word finds its chunk first
        hits = store.search("docs", None, k=1, sparse=bm25.encode_query(word))
        assert [hit.id for hit in hits] == [point_id]


def test_a_collection_built_without_sparse_terms_needs_a_reindex_for_them(corpus, chunker, encoder, store):
    ingest(corpus, chunker, encoder, store)

    with pytest.raises(FingerprintMismatchError, match="sparse"):
        ingest(corpus, chunker, encoder, store, sparse_encoder=Bm25Encoder())
    report = ingest(corpus, chunker, encoder, store, sparse_encoder=Bm25Encoder(), reindex=True)

    assert report.indexed == 2 and all(point.sparse is not None for point in store.points("docs"))


def _term(bm25: Bm25Encoder, word: str) -> int | None:
    indices = bm25.encode_query(word).indices
    return indices[0] if len(indices) == 1 else None


def test_batches_of_index_items_build_what_one_index_documents_run_builds(tmp_path, corpus, chunker, encoder):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\nnot a pdf body\n")
    with QdrantEdgeStore(tmp_path / "whole") as whole:
        expected = ingest(corpus, chunker, encoder, whole)
        expected_points = {p.id: p.payload for p in whole.points("docs", with_vectors=False)}
    source = FileSystemSource([corpus])
    items = list(source.items())
    with QdrantEdgeStore(tmp_path / "batches") as store:
        reports = [
            index_items(
                source, items[start : start + 2], UnstructuredParser(), chunker, encoder, store, "docs"
            )
            for start in range(0, len(items), 2)
        ]
        points = {p.id: p.payload for p in store.points("docs", with_vectors=False)}
        again = index_items(source, items[1:2], UnstructuredParser(), chunker, encoder, store, "docs")

    assert [r.seen for r in reports] == [2, 1]
    assert sum(r.indexed for r in reports) == expected.indexed == 2
    assert [f.source for r in reports for f in r.errors] == [f.source for f in expected.errors]
    assert points == expected_points
    assert items[0].name == "broken.pdf"
    assert (again.seen, again.unchanged, again.indexed) == (1, 1, 0)


def test_settle_unlisted_prunes_what_the_source_covers_and_counts_the_rest(
    tmp_path, corpus, chunker, encoder
):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(corpus / SMALL_SAMPLES[0], other / "kept.txt")
    with QdrantEdgeStore(tmp_path / "store") as store:
        ingest(corpus, chunker, encoder, store)
        index_documents(FileSystemSource([other]), UnstructuredParser(), chunker, encoder, store, "docs")
        fingerprint = store.fingerprint("docs")
        stored = store.stored_documents("docs")
        (corpus / SMALL_SAMPLES[0]).unlink()
        source = FileSystemSource([corpus])
        uris = [item.uri for item in source.items()]
        listed = {document_id(uri) for uri in uris}
        unlisted = [entry for key, entry in stored.items() if key not in listed]
        deleted_sources: list[str] = []

        counted = settle_unlisted(store, "docs", unlisted, fingerprint.digest)
        settled = settle_unlisted(
            store,
            "docs",
            unlisted,
            fingerprint.digest,
            prune=source,
            listed=uris,
            on_delete=lambda entry: deleted_sources.append(entry.source),
        )
        remaining = {entry.source for entry in store.stored_documents("docs").values()}
        outdated = settle_unlisted(store, "docs", unlisted[:1], "another pipeline")

    assert counted == (0, 0)  # both unlisted documents are whole from this pipeline
    assert settled == (1, 0)
    assert deleted_sources == [str(corpus / SMALL_SAMPLES[0])]
    assert remaining == {str(other / "kept.txt"), str(corpus / SMALL_SAMPLES[1])}
    assert outdated == (0, 1)


def test_freed_memory_is_handed_back_after_each_written_batch(corpus, chunker, encoder, store, monkeypatch):
    stored_at_release: list[int] = []
    real_release = indexing.release_free_memory

    def release() -> bool:
        stored_at_release.append(store.count("docs"))
        return real_release()

    monkeypatch.setattr(indexing, "release_free_memory", release)
    report = ingest(corpus, chunker, encoder, store, batch_chunks=1)  # a batch per document

    assert report.indexed == 2
    assert len(stored_at_release) == 2  # the empty flush at the end releases nothing
    assert 0 < stored_at_release[0] < stored_at_release[1] == report.chunks


def test_a_prune_over_several_folders_is_refused_when_one_of_them_lists_nothing(tmp_path, chunker, encoder):
    """An unmounted share beside a mounted one: the other folder's files must not hide that it is empty."""
    mounted, unmounted = tmp_path / "mounted", tmp_path / "unmounted"
    for folder, count in ((mounted, 12), (unmounted, 2)):
        folder.mkdir()
        for number in range(count):
            (folder / f"note-{number}.md").write_text(
                f"# Note {number}\n\nMirror {number} syncs every hour.\n"
            )
    with QdrantEdgeStore(tmp_path / "store") as store:
        index_documents(
            FileSystemSource([mounted, unmounted]), UnstructuredParser(), chunker, encoder, store, "docs"
        )
        for file in unmounted.iterdir():
            file.unlink()
        (mounted / "note-0.md").unlink()  # and a file really removed from the other folder

        with pytest.raises(
            PruneRefusedError, match=rf"all 2 stored documents under {unmounted}, which list none"
        ):
            index_documents(
                FileSystemSource([mounted, unmounted]),
                UnstructuredParser(),
                chunker,
                encoder,
                store,
                "docs",
                prune=True,
            )
        assert store.document_count("docs") == 14  # nothing was deleted
        report = index_documents(
            FileSystemSource([mounted, unmounted]),
            UnstructuredParser(),
            chunker,
            encoder,
            store,
            "docs",
            prune=True,
            prune_force=True,
        )
        assert (report.deleted, store.document_count("docs")) == (3, 11)
