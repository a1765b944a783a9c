"""Re-runs on real components: reindexing, pruning, store failures and what the next run repairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

import chunkwise.connectors.qdrant_server_store as server_store_module
from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    PruneRefusedError,
    StoreError,
)
from chunkwise.pipeline.indexing import check_prune, index_documents, pipeline_fingerprint
from chunkwise.pipeline.types import EncoderSpec

COLLECTION = "docs"


def head(source: Path, target: Path, lines: int = 80) -> None:
    """The first ``lines`` lines of a sample document (every test ingests several times)."""
    target.write_text("".join(source.read_text().splitlines(keepends=True)[:lines]))


@pytest.fixture
def team(tmp_path, sample_data) -> Path:
    """A folder of two sample documents (one in a subfolder)."""
    folder = tmp_path / "team"
    (folder / "guides").mkdir(parents=True)
    head(sample_data / "git-bisect.txt", folder / "git-bisect.txt")
    head(sample_data / "nodejs-path.md", folder / "guides" / "nodejs-path.md")
    return folder


@pytest.fixture
def other(tmp_path, sample_data) -> Path:
    """Another folder, ingested into the same collection."""
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(sample_data / "python-sorting-howto.docx", folder / "sorting.docx")
    return folder


def chunker_of(tokenizer, encoder, size: int = 128, overlap: int = 16) -> TokenChunker:
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    return TokenChunker(tokenizer, chunk_size=size, chunk_overlap=overlap, boundaries="elements", limit=limit)


@pytest.fixture
def chunker(tiktoken_tokenizer, encoder) -> TokenChunker:
    return chunker_of(tiktoken_tokenizer, encoder)


@pytest.fixture
def rechunker(tiktoken_tokenizer, encoder) -> TokenChunker:
    return chunker_of(tiktoken_tokenizer, encoder, size=64, overlap=0)


@pytest.fixture
def store(tmp_path):
    """The embedded default store, writing a few points at a time so documents take several writes."""
    with QdrantEdgeStore(tmp_path / "store", batch_size=4) as store:
        yield store


@pytest.fixture
def server_store():
    """qdrant-client's store (local mode), to fail its client calls the way a server would."""
    with QdrantServerStore(":memory:", batch_size=4) as store:
        yield store


def ingest(paths, chunker, encoder, store, source=None, **options):
    source = source or FileSystemSource(paths)
    options.setdefault("sparse_encoder", Bm25Encoder())
    return index_documents(source, UnstructuredParser(), chunker, encoder, store, COLLECTION, **options)


def clean_build(paths, chunker, encoder, collection_state):
    with QdrantServerStore(":memory:") as fresh:
        ingest(paths, chunker, encoder, fresh)
        return collection_state(fresh, COLLECTION)


class CountingEncoder:
    """Delegates to the real encoder and counts the texts it embeds."""

    def __init__(self, encoder):
        self.inner, self.texts = encoder, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_documents(self, texts):
        self.texts += len(texts)
        return self.inner.encode_documents(texts)


class RenamedEncoder(CountingEncoder):
    """The real encoder presented as another model."""

    @property
    def spec(self) -> EncoderSpec:
        spec = self.inner.spec
        return EncoderSpec(model="another/model", dimension=spec.dimension, max_tokens=spec.max_tokens)


# --- changing the chunking: --reindex ------------------------------------------------------------


def test_another_chunking_needs_reindex_which_rebuilds_like_a_clean_build(
    team, chunker, rechunker, encoder, store, collection_state
):
    ingest([team], chunker, encoder, store)
    with pytest.raises(FingerprintMismatchError, match="--reindex"):
        ingest([team], rechunker, encoder, store)

    report = ingest([team], rechunker, encoder, store, reindex=True)

    assert (report.indexed, report.unchanged, report.failed) == (2, 0, 0)
    assert store.fingerprint(COLLECTION) == pipeline_fingerprint(encoder, rechunker, Bm25Encoder())
    collection_state(store, COLLECTION).assert_same_as(
        clean_build([team], rechunker, encoder, collection_state)
    )
    again = ingest([team], rechunker, encoder, store)
    assert (again.indexed, again.unchanged) == (0, 2)


def test_reindex_with_the_same_options_embeds_every_document_again(
    team, chunker, encoder, store, collection_state
):
    ingest([team], chunker, encoder, store)
    before = collection_state(store, COLLECTION)
    counting = CountingEncoder(encoder)

    report = ingest([team], chunker, counting, store, reindex=True)

    assert (report.indexed, report.unchanged) == (2, 0) and counting.texts == report.chunks
    collection_state(store, COLLECTION).assert_same_as(before)


def test_another_model_is_refused_even_with_reindex(team, chunker, encoder, store, collection_state):
    ingest([team], chunker, encoder, store)
    before = collection_state(store, COLLECTION)

    with pytest.raises(FingerprintMismatchError, match="another/model"):
        ingest([team], chunker, RenamedEncoder(encoder), store, reindex=True)

    assert store.fingerprint(COLLECTION) == pipeline_fingerprint(encoder, chunker, Bm25Encoder())
    collection_state(store, COLLECTION).assert_same_as(before)


def test_documents_of_other_sources_are_reported_outdated_until_their_sources_are_ingested(
    team, other, chunker, rechunker, encoder, store, collection_state
):
    ingest([team, other], chunker, encoder, store)

    first = ingest([team], rechunker, encoder, store, reindex=True)
    assert (first.indexed, first.outdated) == (2, 1)

    second = ingest([other], rechunker, encoder, store)
    assert (second.indexed, second.outdated) == (1, 0)
    clean = clean_build([team, other], rechunker, encoder, collection_state)
    collection_state(store, COLLECTION).assert_same_as(clean)


# --- vanished documents: --prune --------------------------------------------------------------------


def test_prune_deletes_vanished_documents_of_the_given_folders_only(
    team, other, chunker, encoder, store, collection_state
):
    ingest([team], chunker, encoder, store)
    ingest([other], chunker, encoder, store)
    (team / "guides" / "nodejs-path.md").unlink()

    kept = ingest([team], chunker, encoder, store)
    assert kept.deleted == 0 and store.document_count(COLLECTION) == 3

    pruned = ingest([team], chunker, encoder, store, prune=True)

    assert (pruned.deleted, pruned.unchanged, pruned.indexed) == (1, 1, 0)
    assert store.count(COLLECTION, {"source": str(other / "sorting.docx")}) > 0
    collection_state(store, COLLECTION).assert_same_as(
        clean_build([team, other], chunker, encoder, collection_state)
    )


def test_prune_with_a_single_file_leaves_its_folder_alone(team, chunker, encoder, store):
    ingest([team], chunker, encoder, store)
    (team / "guides" / "nodejs-path.md").unlink()

    report = ingest([team / "git-bisect.txt"], chunker, encoder, store, prune=True)

    assert (report.deleted, report.unchanged) == (0, 1)
    assert store.document_count(COLLECTION) == 2


def test_prune_spares_documents_under_a_folder_that_could_not_be_listed(
    team, chunker, encoder, store, monkeypatch
):
    ingest([team], chunker, encoder, store)
    guides = (team / "guides").resolve()
    real_iterdir = Path.iterdir

    def iterdir(path):
        if path == guides:
            raise PermissionError(13, "Permission denied", str(path))
        return real_iterdir(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    report = ingest([team], chunker, encoder, store, prune=True)

    assert (report.seen, report.deleted) == (1, 0)
    assert store.document_count(COLLECTION) == 2


def test_prune_of_a_folder_that_lists_nothing_is_refused_until_forced(team, chunker, encoder, store):
    ingest([team], chunker, encoder, store)
    for file in [*team.rglob("*.txt"), *team.rglob("*.md")]:  # what an unmounted mount point looks like
        file.unlink()

    with pytest.raises(PruneRefusedError, match=r"all 2 stored documents .* list none .*--prune-force"):
        ingest([team], chunker, encoder, store, prune=True)
    assert store.document_count(COLLECTION) == 2  # nothing was deleted

    forced = ingest([team], chunker, encoder, store, prune=True, prune_force=True)
    assert forced.deleted == 2 and store.document_count(COLLECTION) == 0


@pytest.mark.parametrize(
    ("doomed", "listed", "refused"),
    [(0, 0, False), (1, 0, True), (9, 1, False), (10, 10, False), (11, 10, True), (40, 1000, False)],
)
def test_check_prune_refuses_an_empty_listing_or_losing_most_of_many(doomed, listed, refused):
    if refused:
        with pytest.raises(PruneRefusedError, match=f"{doomed}"):
            check_prune(doomed, listed)
    else:
        check_prune(doomed, listed)
    check_prune(doomed, listed, force=True)  # forced, never refused


def test_prune_needs_a_source_that_knows_its_scope(team, chunker, encoder, store):
    class ListOnly:
        def __init__(self):
            self.inner = FileSystemSource([team])

        def items(self):
            return self.inner.items()

        def read(self, item):
            return self.inner.read(item)

    with pytest.raises(ConfigurationError, match="cannot prune"):
        ingest([team], chunker, encoder, store, source=ListOnly(), prune=True)


# --- store failures ------------------------------------------------------------------------------


def fail_upserts(store, monkeypatch, error, after: int, times: int = 10**9) -> list[int]:
    """Make the store raise ``error`` on upserts after the first ``after``, ``times`` times.

    qdrant-client's store fails in its client (so its retries run); the embedded store in its
    engine call.
    """
    owner, name = (store.client, "upsert") if isinstance(store, QdrantServerStore) else (store, "_upsert")
    calls, real_upsert = [], getattr(owner, name)

    def upsert(*args, **kwargs):
        calls.append(1)
        if after < len(calls) <= after + times:
            raise error
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(owner, name, upsert)
    return calls


PERMANENT_FAILURES = {
    "server": (UnexpectedResponse(403, "Forbidden", b'{"status":{"error":"read only"}}', None), "403"),
    "edge": (StoreError("writing to 'docs' failed: No space left on device"), "No space left"),
}


@pytest.mark.parametrize("backend", list(PERMANENT_FAILURES))
def test_a_permanent_store_failure_mid_document_keeps_its_previous_version_whole(
    team, chunker, encoder, request, collection_state, monkeypatch, backend
):
    store = request.getfixturevalue("server_store" if backend == "server" else "store")
    error, message = PERMANENT_FAILURES[backend]
    ingest([team], chunker, encoder, store)
    before = collection_state(store, COLLECTION)
    edited = team / "git-bisect.txt"
    edited.write_text(edited.read_text() + "\nA closing paragraph added in the second version.\n")
    fail_upserts(store, monkeypatch, error, after=1)

    with pytest.raises(StoreError, match=message):
        ingest([team], chunker, encoder, store)

    now = collection_state(store, COLLECTION)
    for point_id, point in before.points.items():
        assert now.points[point_id].payload == point.payload
        assert (now.points[point_id].vector == point.vector).all()
    monkeypatch.undo()
    repaired = ingest([team], chunker, encoder, store)
    assert (repaired.indexed, repaired.unchanged) == (1, 1)
    collection_state(store, COLLECTION).assert_same_as(
        clean_build([team], chunker, encoder, collection_state)
    )


def test_transient_store_failures_are_retried_and_the_run_completes(
    team, chunker, encoder, server_store, monkeypatch
):
    store = server_store
    sleeps: list[float] = []
    monkeypatch.setattr(server_store_module.time, "sleep", sleeps.append)
    calls = fail_upserts(store, monkeypatch, ResponseHandlingException(TimeoutError("timed out")), 0, times=2)

    report = ingest([team], chunker, encoder, store)

    assert (report.indexed, report.failed) == (2, 0)
    assert sleeps == [0.5, 1.0] and len(calls) > 2
    assert store.document_count(COLLECTION) == 2


# --- documents that change under the run ----------------------------------------------------------


def test_a_document_vanishing_after_listing_is_reported_and_its_stored_version_kept(
    team, chunker, encoder, store
):
    ingest([team], chunker, encoder, store)
    victim = team / "git-bisect.txt"
    victim.write_text("A new version that will vanish before it is read.")

    class VanishingSource(FileSystemSource):
        def items(self):
            listed = list(super().items())
            victim.unlink()
            return iter(listed)

    report = ingest([team], chunker, encoder, store, source=VanishingSource([team]), prune=True)

    assert [(Path(e.source).name, e.stage) for e in report.errors] == [("git-bisect.txt", "read")]
    assert "vanished" in report.errors[0].error
    assert report.deleted == 0 and report.unchanged == 1
    assert store.count(COLLECTION, {"source": str(victim)}) > 0
