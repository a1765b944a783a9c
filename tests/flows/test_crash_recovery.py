"""``chunkwise ingest`` killed with SIGKILL at several points, then run again: the collection must
come out exactly as a clean build makes it (same point ids, payloads and vectors).

Every case runs on the embedded default (Qdrant Edge); the ones that matter most also on
qdrant-client's local mode, the server's stand-in."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chunkwise.connectors.stores import open_store
from chunkwise.flows.components import (
    build_chunker,
    build_embedder,
    build_parser,
    build_source,
    build_sparse_encoder,
)
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.indexing import index_documents

HARNESS = Path(__file__).with_name("crashing_cli.py")
COLLECTION = "docs"
SAMPLES = {
    "git-bisect.txt": "git-bisect.txt",
    "nodejs-path.md": "guides/nodejs-path.md",
    "nodejs-timers.md": "guides/nodejs-timers.md",
    "python-sorting-howto.docx": "sorting.docx",
}


def chunkwise(*arguments: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHUNKWISE_BATCH": "4"}
    if kill_at:
        env["CHUNKWISE_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, str(HARNESS), *arguments], capture_output=True, text=True, timeout=600, env=env
    )


def ingest(folder: Path, store: str, *options: str, kill_at: str | None = None) -> dict | None:
    """Run an ingest; the report when it finished, ``None`` when it was killed as asked."""
    result = chunkwise("ingest", str(folder), "--store", store, "--collection", COLLECTION,
                       "--json", *options, kill_at=kill_at)  # fmt: skip
    if kill_at:
        assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr)
        return None
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def make_corpus(folder: Path, sample_data: Path) -> Path:
    for sample, target in SAMPLES.items():
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".docx":
            shutil.copy(sample_data / sample, path)
        else:  # the first 80 lines: several chunks and batches each, quick to embed
            path.write_text("".join((sample_data / sample).read_text().splitlines(keepends=True)[:80]))
    return folder


def edit(folder: Path) -> None:
    """Version 2: one document edited, one removed, one added."""
    bisect = folder / "git-bisect.txt"
    bisect.write_text(bisect.read_text().replace("binary search", "bisection") + "\nA new closing line.\n")
    (folder / "guides" / "nodejs-timers.md").unlink()
    (folder / "notes.md").write_text("# Notes\n\nRelease notes are kept in the wiki, not in this folder.\n")


PREFIXES = {"edge": "", "local": "local:"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, sample_data):
    """``built(backend)``: a corpus ingested completely on that backend, made once per module: its folder,
    a pristine copy, the store folder and the store's prefix."""
    builds: dict[str, tuple[Path, Path, Path, str]] = {}

    def build(backend: str) -> tuple[Path, Path, Path, str]:
        if backend not in builds:
            root = tmp_path_factory.mktemp(f"built-{backend}")
            corpus = make_corpus(root / "corpus", sample_data)
            ingest(corpus, f"{PREFIXES[backend]}{root / 'store'}")
            shutil.copytree(corpus, root / "pristine")
            builds[backend] = corpus, root / "pristine", root / "store", PREFIXES[backend]
        return builds[backend]

    return build


@pytest.fixture
def workspace(tmp_path, built, backend) -> tuple[Path, str]:
    """The backend's built corpus, restored to its first version, and a copy of its store (as a location)."""
    corpus, pristine, store, prefix = built(backend)
    shutil.rmtree(corpus)
    shutil.copytree(pristine, corpus)  # at the same path: the stored sources name it
    shutil.copytree(store, tmp_path / "store")
    return corpus, f"{prefix}{tmp_path / 'store'}"


def assert_same_as_clean_build(folder, store: str, encoder, collection_state, **options) -> None:
    settings = IngestOptions(**options)
    embedder = build_embedder(settings, encoder)
    with open_store(":memory:") as clean:
        source, parser = build_source([str(folder)], settings), build_parser(settings)
        chunker, sparse = build_chunker(settings, embedder), build_sparse_encoder(settings)
        index_documents(source, parser, chunker, embedder, clean, COLLECTION, sparse_encoder=sparse)
        expected, fingerprint = collection_state(clean, COLLECTION), clean.fingerprint(COLLECTION)
    with open_store(store) as stored:
        assert stored.fingerprint(COLLECTION) == fingerprint
        collection_state(stored, COLLECTION).assert_same_as(expected)


@pytest.mark.parametrize(
    "backend, kill_at",
    [
        ("edge", "create_collection:1:after"),  # an empty collection, stamped with its fingerprint
        ("edge", "upsert:3:after"),  # a document half written
        ("local", "upsert:3:after"),
        ("edge", "upsert:9:after"),  # some documents whole, a later one begun
    ],
)
def test_a_first_ingest_killed_then_run_again_equals_a_clean_build(
    tmp_path, sample_data, encoder, collection_state, backend, kill_at
):
    corpus = make_corpus(tmp_path / "corpus", sample_data)
    store = f"{PREFIXES[backend]}{tmp_path / 'store'}"

    ingest(corpus, store, kill_at=kill_at)
    report = ingest(corpus, store)

    assert report["documents"]["failed"] == 0
    assert_same_as_clean_build(corpus, store, encoder, collection_state)


@pytest.mark.parametrize(
    "backend, kill_at",
    [
        ("edge", "upsert:1:after"),  # the edited document's new version partly written beside the old one
        ("edge", "delete:1:before"),  # both versions of the edited document whole
        ("edge", "delete:2:before"),  # everything written, the removed document not pruned yet
        ("local", "upsert:1:after"),
    ],
    ids=lambda value: {"local": "qdrant-client-local"}.get(value, value),
)
def test_an_update_killed_then_run_again_equals_a_clean_build(workspace, encoder, collection_state, kill_at):
    corpus, store = workspace
    edit(corpus)

    ingest(corpus, store, "--prune", kill_at=kill_at)
    report = ingest(corpus, store, "--prune")

    assert report["documents"]["failed"] == 0 and report["documents"]["outdated"] == 0
    assert_same_as_clean_build(corpus, store, encoder, collection_state)


@pytest.mark.parametrize("backend", ["edge"])  # the reindex path is the store's same calls
def test_a_reindex_killed_then_run_again_without_the_flag_equals_a_clean_build(
    workspace, encoder, collection_state
):
    corpus, store = workspace

    ingest(corpus, store, "--chunk-size", "64", "--reindex", kill_at="upsert:2:after")
    report = ingest(corpus, store, "--chunk-size", "64")

    assert report["documents"]["unchanged"] + report["documents"]["indexed"] == len(SAMPLES)
    assert report["documents"]["indexed"] > 0
    assert_same_as_clean_build(corpus, store, encoder, collection_state, chunk_size=64)
