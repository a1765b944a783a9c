"""The S3 source against a real S3 API server (moto's server mode on 127.0.0.1)."""

from __future__ import annotations

import uuid

import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.s3_source import S3Source
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError, PruneRefusedError, SourceError
from chunkwise.pipeline.indexing import index_documents

COLLECTION = "docs"
GUIDE = b"# Release guide\n\nTag the release, then upload the packages to the archive.\n"
FAQ = b"# FAQ\n\nThe mirror syncs every six hours. Ask on the mailing list for help.\n"
NOTES = b"Meeting notes: the build farm moves to new hardware in March.\n"


@pytest.fixture(autouse=True)
def aws_environment(s3_server, monkeypatch):
    """Credentials and the endpoint as a user sets them: through the usual AWS variables."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(s3_server) -> str:
    """A fresh bucket holding three documents under ``manuals/`` and one beside it."""
    name = f"docs-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    for key, body in {
        "manuals/guide.md": GUIDE,
        "manuals/faq/faq.md": FAQ,
        "manuals/notes.txt": NOTES,
        "manuals-old/old.md": b"# Old\n\nNot under the prefix.\n",
        "manuals/picture.png": b"\x89PNG not a document",
    }.items():
        client.put_object(Bucket=name, Key=key, Body=body)
    return name


def source_of(s3_server, *locations: str, **options) -> S3Source:
    return S3Source(list(locations), endpoint_url=s3_server.endpoint, **options)


class CountingSource:
    """Delegates to the real source and counts what it reads."""

    def __init__(self, inner: S3Source) -> None:
        self.inner, self.reads = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def items(self):
        return self.inner.items()

    def read(self, item):
        self.reads.append(item.uri)
        return self.inner.read(item)

    def covers(self, uri):
        return self.inner.covers(uri)

    def root_of(self, uri):
        return self.inner.root_of(uri)


@pytest.fixture
def chunker(tiktoken_tokenizer, encoder) -> TokenChunker:
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    return TokenChunker(
        tiktoken_tokenizer, chunk_size=64, chunk_overlap=8, boundaries="elements", limit=limit
    )


@pytest.fixture
def store(tmp_path):
    with QdrantEdgeStore(tmp_path / "store") as store:
        yield store


def ingest(source, chunker, encoder, store, **options):
    return index_documents(
        source, UnstructuredParser(max_seconds=0), chunker, encoder, store, COLLECTION, **options
    )


# --- listing and reading ---------------------------------------------------------------------------


def test_a_prefix_lists_the_wanted_objects_under_it_with_etag_versions_and_metadata(s3_server, bucket):
    items = list(source_of(s3_server, f"s3://{bucket}/manuals/").items())

    assert [item.uri for item in items] == [
        f"s3://{bucket}/manuals/faq/faq.md",
        f"s3://{bucket}/manuals/guide.md",
        f"s3://{bucket}/manuals/notes.txt",
    ]  # not the picture (no include glob), not manuals-old/
    guide = items[1]
    assert (guide.name, guide.size) == ("guide.md", len(GUIDE))
    assert guide.version and guide.version.startswith("etag:")
    assert guide.metadata["bucket"] == bucket
    assert guide.metadata["key"] == "manuals/guide.md"
    assert guide.metadata["last_modified"]


def test_a_prefix_without_its_slash_means_the_same_folder_and_not_its_namesakes(s3_server, bucket):
    with_slash = [item.uri for item in source_of(s3_server, f"s3://{bucket}/manuals/").items()]
    without = [item.uri for item in source_of(s3_server, f"s3://{bucket}/manuals").items()]

    assert without == with_slash


def test_a_location_naming_one_object_lists_that_object_alone(s3_server, bucket):
    source = source_of(s3_server, f"s3://{bucket}/manuals/guide.md")
    [item] = source.items()

    assert source.read(item) == GUIDE
    assert source.root_of(item.uri) == item.uri
    assert not source.covers(f"s3://{bucket}/manuals/notes.txt")


def test_include_and_exclude_globs_match_keys_relative_to_the_prefix(s3_server, bucket):
    source = source_of(s3_server, f"s3://{bucket}/manuals/", include=["*.md"], exclude=["faq/*"])

    assert [item.name for item in source.items()] == ["guide.md"]


def test_reading_works_on_a_source_that_never_listed_and_the_endpoint_comes_from_the_environment(
    s3_server, bucket
):
    [item] = [i for i in S3Source([f"s3://{bucket}/manuals/"]).items() if i.name == "notes.txt"]

    fresh = S3Source([f"s3://{bucket}/manuals/"])
    assert fresh.endpoint_url == s3_server.endpoint
    assert fresh.read(item) == NOTES


def test_an_object_over_max_bytes_is_refused_before_and_while_reading(s3_server, bucket):
    source = source_of(s3_server, f"s3://{bucket}/manuals/", max_bytes=40)
    guide = next(item for item in source.items() if item.name == "guide.md")

    with pytest.raises(SourceError, match="over the limit of 40"):
        source.read(guide)
    unsized = type(guide)(uri=guide.uri, name=guide.name)  # no size listed: the read stops at the limit
    with pytest.raises(SourceError, match="more than 40 bytes"):
        source.read(unsized)


def test_a_missing_bucket_or_an_unreachable_endpoint_is_a_clear_configuration_error(s3_server):
    with pytest.raises(ConfigurationError, match="no such bucket"):
        list(source_of(s3_server, "s3://no-such-bucket-here/docs/").items())
    unreachable = S3Source(["s3://docs/x/"], endpoint_url="http://127.0.0.1:9")  # nothing listens
    with pytest.raises(ConfigurationError, match="could not be listed"):
        list(unreachable.items())


def test_a_location_that_is_not_s3_or_names_no_bucket_is_refused():
    with pytest.raises(ConfigurationError, match="names no bucket"):
        S3Source(["s3:///docs"])
    with pytest.raises(ConfigurationError, match="not an s3:// location"):
        S3Source(["/srv/docs"])


def test_an_object_deleted_after_the_listing_is_its_own_error(s3_server, bucket):
    source = source_of(s3_server, f"s3://{bucket}/manuals/")
    items = list(source.items())
    s3_server.client().delete_object(Bucket=bucket, Key="manuals/notes.txt")

    with pytest.raises(SourceError, match="vanished"):
        source.read(next(item for item in items if item.name == "notes.txt"))


# --- kept in sync ------------------------------------------------------------------------------------


def test_a_bucket_is_indexed_kept_in_sync_and_pruned_within_its_prefix(
    s3_server, bucket, chunker, encoder, store
):
    client = s3_server.client()
    location = f"s3://{bucket}/manuals/"

    first = ingest(source_of(s3_server, location), chunker, encoder, store)
    assert (first.indexed, first.failed) == (3, 0)
    [point] = store.points(COLLECTION, with_vectors=False, filters={"metadata.key": "manuals/guide.md"})
    assert point.payload["metadata"]["bucket"] == bucket
    assert point.payload["source"] == f"s3://{bucket}/manuals/guide.md"

    counting = CountingSource(source_of(s3_server, location))
    again = ingest(counting, chunker, encoder, store)
    assert (again.indexed, again.unchanged) == (0, 3)
    assert counting.reads == []  # same ETags: nothing downloaded

    client.put_object(Bucket=bucket, Key="manuals/guide.md", Body=GUIDE + b"\nSign the tag with your key.\n")
    client.delete_object(Bucket=bucket, Key="manuals/notes.txt")
    counting = CountingSource(source_of(s3_server, location))
    synced = ingest(counting, chunker, encoder, store, prune=True)
    assert (synced.indexed, synced.unchanged, synced.deleted) == (1, 1, 1)
    assert counting.reads == [f"s3://{bucket}/manuals/guide.md"]
    sources = set(store.field_values(COLLECTION, "source"))
    assert sources == {f"s3://{bucket}/manuals/faq/faq.md", f"s3://{bucket}/manuals/guide.md"}
    texts = " ".join(p.payload["text"] for p in store.points(COLLECTION, with_vectors=False))
    assert "Sign the tag" in texts


def test_a_prune_leaves_what_other_prefixes_hold_and_refuses_an_emptied_prefix(
    s3_server, bucket, chunker, encoder, store
):
    client = s3_server.client()
    ingest(
        source_of(s3_server, f"s3://{bucket}/manuals/", f"s3://{bucket}/manuals-old/"),
        chunker,
        encoder,
        store,
    )

    report = ingest(source_of(s3_server, f"s3://{bucket}/manuals-old/"), chunker, encoder, store, prune=True)
    assert report.deleted == 0  # manuals/ was not listed this time: its documents are not this run's
    for key in ("manuals/guide.md", "manuals/faq/faq.md", "manuals/notes.txt"):
        client.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(PruneRefusedError):
        ingest(source_of(s3_server, f"s3://{bucket}/manuals/"), chunker, encoder, store, prune=True)
    assert len(set(store.field_values(COLLECTION, "source"))) == 4


def test_a_corrupt_or_oversized_object_is_reported_and_the_others_are_indexed(
    s3_server, bucket, chunker, encoder, store
):
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="manuals/broken.pdf", Body=b"%PDF-1.7\n this is no pdf")
    client.put_object(Bucket=bucket, Key="manuals/huge.txt", Body=b"word " * 2000)

    report = ingest(source_of(s3_server, f"s3://{bucket}/manuals/", max_bytes=5000), chunker, encoder, store)

    assert report.indexed == 3
    failed = {error.source.rsplit("/", 1)[-1]: error.stage for error in report.errors}
    assert failed == {"broken.pdf": "parse", "huge.txt": "read"}
