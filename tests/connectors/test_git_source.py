"""GitSource on real repositories made here with git: listing, reading, and ingest runs that follow
commits (edits, renames, deletions, older refs) through the real parser, encoder and store.

Each ingest test runs twice: on the repository's folder (read in place) and on its
``git+file://`` URL (a partial clone in a cache folder, fetched on each listing)."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from pathlib import Path

import pytest

from chunkwise.connectors.git_source import GitSource
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.sources import SourceOptions, open_source
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.indexing import index_documents
from chunkwise.pipeline.source import SourceItem

COLLECTION = "docs"
FORMS = ("path", "url")

INTRO = "# Introduction\n\nThe handbook explains how the team ships releases and reviews code.\n"
SETUP = "# Setup\n\nInstall the toolchain, clone the repository and run the test suite once.\n"
NOTES = "Meeting notes: the release train leaves every second Tuesday.\n"
NOTES_EDITED = "Meeting notes: the release train now leaves every Thursday at noon.\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def git(cwd: Path, *arguments: str) -> str:
    """Run git in ``cwd`` with no user or system configuration, as a fixed author."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environment.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Docs Writer",
        GIT_AUTHOR_EMAIL="writer@example.org",
        GIT_COMMITTER_NAME="Docs Writer",
        GIT_COMMITTER_EMAIL="writer@example.org",
        GIT_TERMINAL_PROMPT="0",
    )
    done = subprocess.run(["git", *arguments], cwd=cwd, env=environment, capture_output=True, check=True)
    return done.stdout.decode("utf-8", "surrogateescape").strip()


class Origin:
    """A repository with a work tree, whose files the test writes and commits."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True)
        self.path = path
        git(path, "init", "--quiet", "--initial-branch=main")
        git(path, "config", "uploadpack.allowFilter", "true")  # clones over file:// are then partial

    def write(self, relative: str, data: str | bytes) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    def commit(self, message: str) -> str:
        git(self.path, "add", "--all")
        git(self.path, "commit", "--quiet", "--message", message)
        return git(self.path, "rev-parse", "HEAD")

    def location(self, form: str) -> str:
        return str(self.path) if form == "path" else f"git+file://{self.path}"

    def uri(self, path: str) -> str:
        return f"git+file://{self.path}#{path}"

    def blob(self, commit: str, path: str) -> str:
        return git(self.path, "rev-parse", f"{commit}:{path}")


class SpiedGitSource(GitSource):
    """A GitSource that remembers the path of each file it reads."""

    def __init__(self, *arguments, **options) -> None:
        super().__init__(*arguments, **options)
        self.reads: list[str] = []

    def read(self, item: SourceItem) -> bytes:
        self.reads.append(item.metadata["path"])
        return super().read(item)


class CountingEncoder:
    """Delegates to the real encoder and counts the texts it embeds."""

    def __init__(self, encoder) -> None:
        self.inner, self.texts = encoder, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_documents(self, texts):
        self.texts += len(texts)
        return self.inner.encode_documents(texts)


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "origin")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def chunker(tiktoken_tokenizer, encoder) -> TokenChunker:
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    return TokenChunker(
        tiktoken_tokenizer, chunk_size=128, chunk_overlap=16, boundaries="elements", limit=limit
    )


def paths(source: GitSource) -> list[str]:
    return [item.metadata["path"] for item in source.items()]


def stored_uris(store: QdrantEdgeStore) -> set[str]:
    return {document.source for document in store.stored_documents(COLLECTION).values()}


# --- listing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_lists_wanted_regular_files_of_the_commit(form, origin, cache, caplog) -> None:
    origin.write("docs/intro.md", INTRO)
    origin.write("docs/guide/setup.md", SETUP)
    origin.write("docs/drafts/todo.md", "later")
    origin.write("notes.txt", NOTES)
    origin.write("logo.png", PNG)
    origin.write(".github/template.md", "hidden folder")
    os.symlink("docs/intro.md", origin.path / "link.md")
    first = origin.commit("first")
    git(origin.path, "update-index", "--add", "--cacheinfo", f"160000,{first},vendor/lib.md")  # a submodule
    git(origin.path, "commit", "--quiet", "--message", "a submodule")
    head = git(origin.path, "rev-parse", "HEAD")

    with caplog.at_level(logging.INFO, logger="chunkwise.connectors.git_source"):
        items = list(GitSource([origin.location(form)], cache_dir=cache).items())

    listed = [item.metadata["path"] for item in items]
    assert listed == ["docs/drafts/todo.md", "docs/guide/setup.md", "docs/intro.md", "notes.txt"]
    assert "link.md: a symbolic link" in caplog.text
    intro = items[2]
    blob = origin.blob(head, "docs/intro.md")
    assert intro.uri == origin.uri("docs/intro.md") == f"git+file://{origin.path}#docs/intro.md"
    assert (intro.name, intro.size, intro.version) == ("intro.md", len(INTRO), blob)
    assert dict(intro.metadata) == {
        "repository": f"file://{origin.path}",
        "path": "docs/intro.md",
        "commit": head,
        "ref": "main" if form == "path" else "HEAD",
        "blob": blob,
    }

    chosen = GitSource([origin.location(form)], include=["*.md"], exclude=["docs/drafts/*"], cache_dir=cache)
    assert paths(chosen) == ["docs/guide/setup.md", "docs/intro.md"]
    assert paths(GitSource([origin.location(form)], include=["guide/*", "*.txt"], cache_dir=cache)) == [
        "notes.txt"  # a glob matches the whole relative path or the bare name
    ]


@pytest.mark.parametrize("form", FORMS)
def test_odd_names_are_read_and_a_name_not_utf8_fails_alone(form, origin, cache) -> None:
    names = ["with space.md", "ünïcödé/día.md", "new\nline.md"]
    for name in names:
        origin.write(name, f"text of {name}")
    origin.write(os.fsdecode(b"caf\xe9.md"), "latin-1 name")
    origin.commit("odd names")
    source = GitSource([origin.location(form)], cache_dir=cache)

    items = {item.metadata["path"]: item for item in source.items()}

    assert sorted(items) == sorted([*names, "caf\\xe9.md"])
    for name in names:
        assert source.read(items[name]) == f"text of {name}".encode()
    escaped = items["caf\\xe9.md"]
    assert escaped.uri == origin.uri("caf\\xe9.md") and escaped.version is None
    for reader in (source, GitSource([origin.location(form)], cache_dir=cache)):  # a fresh one too
        with pytest.raises(SourceError, match="not valid UTF-8"):
            reader.read(escaped)


@pytest.mark.parametrize("form", FORMS)
def test_a_fresh_source_reads_what_another_listed(form, origin, tmp_path) -> None:
    origin.write("a.md", INTRO)
    origin.commit("first")
    [item] = GitSource([origin.location(form)], cache_dir=tmp_path / "lister").items()

    fresh = GitSource([origin.location(form)], cache_dir=tmp_path / "reader")  # its cache is empty

    assert fresh.read(item) == INTRO.encode()
    with pytest.raises(SourceError, match="not a file of"):
        fresh.read(dataclasses.replace(item, uri="git+file:///elsewhere#a.md"))
    with pytest.raises(SourceError, match="no blob id"):
        fresh.read(dataclasses.replace(item, version="HEAD", metadata={}))
    with pytest.raises(SourceError, match="could not read blob"):
        fresh.read(dataclasses.replace(item, version="0" * 40, size=None))


@pytest.mark.parametrize("form", FORMS)
def test_reads_are_bounded_by_max_bytes(form, origin, cache) -> None:
    origin.write("big.md", "x" * 5000)
    origin.write("small.md", "y" * 100)
    origin.commit("sizes")
    source = GitSource([origin.location(form)], max_bytes=1000, cache_dir=cache)
    big, small = source.items()

    assert big.size == 5000
    with pytest.raises(SourceError, match="5,000 bytes, over the limit of 1,000"):
        source.read(big)
    with pytest.raises(SourceError, match="more than 1,000 bytes"):  # size unknown: read stops at the limit
        source.read(dataclasses.replace(big, size=None))
    assert source.read(small) == b"y" * 100


@pytest.mark.parametrize("form", FORMS)
def test_ref_picks_a_branch_tag_or_commit(form, origin, cache) -> None:
    origin.write("one.md", "one")
    first = origin.commit("first")
    git(origin.path, "tag", "--annotate", "v1", "--message", "release 1")
    origin.write("two.md", "two")
    second = origin.commit("second")
    git(origin.path, "branch", "stable", first)
    git(origin.path, "update-ref", "refs/review/42", second)  # neither a branch nor a tag
    location = origin.location(form)

    for ref, commit, listed in [
        ("v1", first, ["one.md"]),
        ("stable", first, ["one.md"]),
        (first, first, ["one.md"]),
        ("main", second, ["one.md", "two.md"]),
        ("refs/review/42", second, ["one.md", "two.md"]),
    ]:
        items = list(GitSource([location], ref=ref, cache_dir=cache).items())
        assert [item.metadata["path"] for item in items] == listed, ref
        assert {(item.metadata["commit"], item.metadata["ref"]) for item in items} == {(commit, ref)}

    with pytest.raises(ConfigurationError, match="ref 'no-such-branch' names no commit"):
        list(GitSource([location], ref="no-such-branch", cache_dir=cache).items())


def test_a_clone_is_partial_and_fetched_on_each_listing(origin, cache) -> None:
    origin.write("guide.md", "version one")
    origin.write("logo.png", PNG)
    first = origin.commit("first")
    origin.write("guide.md", "version two")
    second = origin.commit("second")
    source = GitSource([f"git+file://{origin.path}"], cache_dir=cache)

    [item] = source.items()

    [clone] = [path for path in cache.iterdir() if path.is_dir()]
    missing = git(clone, "rev-list", "--objects", "--missing=print", "--all").split()
    # Only the listed file's blob was fetched: not the unwanted image, not the older version.
    assert {f"?{origin.blob(second, 'logo.png')}", f"?{origin.blob(first, 'guide.md')}"} <= set(missing)
    assert f"?{item.version}" not in missing
    assert source.read(item) == b"version two"

    origin.write("guide.md", "version three")
    third = origin.commit("third")
    [item] = source.items()
    assert item.metadata["commit"] == third and source.read(item) == b"version three"


def test_the_remote_head_is_followed(origin, cache) -> None:
    origin.write("a.md", "on main")
    origin.commit("main")
    git(origin.path, "checkout", "--quiet", "-b", "trunk")
    origin.write("b.md", "on trunk")
    origin.commit("trunk")
    source = GitSource([f"git+file://{origin.path}"], cache_dir=cache)
    assert paths(source) == ["a.md", "b.md"]

    git(origin.path, "checkout", "--quiet", "main")  # the remote's HEAD moves to another branch
    assert paths(source) == ["a.md"]


def test_covers_what_was_listed_only(origin, tmp_path, cache) -> None:
    origin.write("a.md", "a")
    origin.commit("first")
    other = Origin(tmp_path / "other")
    source = GitSource([str(origin.path)], cache_dir=cache)

    assert not source.covers(origin.uri("a.md"))  # nothing listed yet
    list(source.items())

    assert source.covers(origin.uri("a.md")) and source.covers(origin.uri("gone/b.md"))
    assert source.root_of(origin.uri("gone/b.md")) == f"git+file://{origin.path}"
    assert not source.covers(f"git+file://{other.path}#a.md")
    assert not source.covers(f"git+file://{origin.path}-fork#a.md")
    assert not source.covers(str(origin.path / "a.md"))

    failing = GitSource([f"git+file://{other.path}"], cache_dir=cache)  # no commit: cannot be listed
    with pytest.raises(ConfigurationError):
        list(failing.items())
    assert not failing.covers(f"git+file://{other.path}#a.md")


def test_locations_that_are_not_repositories(origin, tmp_path, cache) -> None:
    origin.write("docs/a.md", "a")
    origin.commit("first")
    (tmp_path / "plain").mkdir()

    for folder in [tmp_path / "plain", origin.path / "docs", tmp_path / "missing"]:
        with pytest.raises(ConfigurationError, match="is not a git repository"):
            list(GitSource([str(folder)], cache_dir=cache).items())
    with pytest.raises(ConfigurationError, match=r"could not be cloned: .*does not appear to be a git"):
        list(GitSource([f"git+file://{tmp_path}/missing"], cache_dir=cache).items())
    assert [path.name for path in cache.iterdir() if path.is_dir()] == []  # no half-made clone left
    for location in [
        "git+ext::sh -c touch% /tmp/pwned",
        "git+ftp://example.org/repo.git",
        "git+file://relative/repo",
        "git+ssh://-oProxyCommand=touch%20x/repo",
        "git+https://example.org/repo.git#docs",
    ]:
        with pytest.raises(ConfigurationError):
            GitSource([location], cache_dir=cache)
    with pytest.raises(ConfigurationError, match="not a branch, tag or commit"):
        GitSource([str(origin.path)], ref="--upload-pack=touch x")


def test_repository_settings_run_no_program(origin, tmp_path) -> None:
    marker = tmp_path / "ran"
    origin.write("a.md", "a")
    origin.commit("first")
    git(origin.path, "config", "core.fsmonitor", f"touch {marker}; false")
    hooks = origin.path / ".git" / "hooks"
    for hook in ("reference-transaction", "post-checkout", "post-merge"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    source = GitSource([str(origin.path)])

    assert [source.read(item) for item in source.items()] == [b"a"]
    assert not marker.exists()


def test_open_source_routes_git_locations(origin) -> None:
    assert isinstance(open_source([f"git+file://{origin.path}"]), GitSource)
    assert isinstance(open_source([str(origin.path)], SourceOptions(ref="main")), GitSource)


# --- ingest runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_ingest_follows_commits(form, origin, cache, tmp_path, encoder, chunker) -> None:
    origin.write("docs/intro.md", INTRO)
    origin.write("docs/guide/setup.md", SETUP)
    origin.write("notes.txt", NOTES)
    origin.write("logo.png", PNG)
    first = origin.commit("first")
    git(origin.path, "tag", "v1")
    counting = CountingEncoder(encoder)
    wanted = ["docs/guide/setup.md", "docs/intro.md", "notes.txt"]

    with QdrantEdgeStore(tmp_path / "store") as store:

        def ingest(**options):
            prune = options.pop("prune", False)
            source = SpiedGitSource([origin.location(form)], cache_dir=cache, **options)
            report = index_documents(
                source, UnstructuredParser(), chunker, counting, store, COLLECTION, prune=prune
            )
            return report, sorted(source.reads)

        # 1. The first run indexes every wanted file, with its commit and path in the payload.
        report, reads = ingest()
        assert (report.indexed, report.unchanged, report.failed) == (3, 0, 0)
        assert reads == wanted and stored_uris(store) == {origin.uri(path) for path in wanted}
        hits = store.search(
            COLLECTION, encoder.encode_query("releases"), k=10, filters={"metadata.path": "docs/intro.md"}
        )
        assert hits and {hit.payload["source"] for hit in hits} == {origin.uri("docs/intro.md")}
        assert hits[0].payload["metadata"]["commit"] == first
        assert hits[0].payload["source_version"] == origin.blob(first, "docs/intro.md")
        assert store.count(COLLECTION, {"metadata.commit": first}) == store.count(COLLECTION) > 0

        # 2. The same commit again: nothing is read, nothing embedded.
        embedded = counting.texts
        report, reads = ingest()
        assert (report.indexed, report.unchanged, reads, counting.texts) == (0, 3, [], embedded)

        # 3. A commit that edits one file: only that file is read and indexed again; the others'
        # points are kept (not read, not embedded) but name the new commit.
        origin.write("notes.txt", NOTES_EDITED)
        second = origin.commit("edit the notes")
        report, reads = ingest()
        assert (report.indexed, report.unchanged, reads) == (1, 2, ["notes.txt"])
        [notes] = store.points(COLLECTION, with_vectors=False, filters={"metadata.path": "notes.txt"})
        assert notes.payload["metadata"]["commit"] == second and "Thursday" in notes.payload["text"]
        assert counting.texts == embedded + 1  # the notes' one chunk
        assert store.count(COLLECTION, {"metadata.commit": second}) == store.count(COLLECTION)
        [intro] = store.points(COLLECTION, with_vectors=False, filters={"metadata.path": "docs/intro.md"})
        assert intro.payload["source_version"] == origin.blob(second, "docs/intro.md")
        report, reads = ingest()  # and the run after finds them as they are: nothing is written
        assert (report.indexed, report.unchanged, reads, counting.texts) == (0, 3, [], embedded + 1)

        # 4. A rename and a deletion: pruning drops the old paths, the new path is indexed.
        git(origin.path, "mv", "docs/guide/setup.md", "docs/guide/install.md")
        git(origin.path, "rm", "--quiet", "notes.txt")
        third = origin.commit("rename setup, drop the notes")
        report, reads = ingest(prune=True)
        assert (report.indexed, report.unchanged, report.deleted) == (1, 1, 2)
        assert reads == ["docs/guide/install.md"]
        assert stored_uris(store) == {origin.uri("docs/intro.md"), origin.uri("docs/guide/install.md")}
        assert store.count(COLLECTION, {"metadata.commit": third}) == store.count(COLLECTION)

        # 5. An older tag gives that commit's files back.
        report, reads = ingest(ref="v1", prune=True)
        assert (report.indexed, report.unchanged, report.deleted) == (2, 1, 1)
        assert reads == ["docs/guide/setup.md", "notes.txt"]
        assert stored_uris(store) == {origin.uri(path) for path in wanted}
        [notes] = store.points(COLLECTION, with_vectors=False, filters={"metadata.path": "notes.txt"})
        assert notes.payload["metadata"]["ref"] == "v1" and "Tuesday" in notes.payload["text"]


@pytest.mark.parametrize("form", FORMS)
def test_ingest_reports_hostile_files_one_by_one(form, origin, cache, tmp_path, encoder, chunker) -> None:
    origin.write("guide.md", INTRO)
    origin.write("huge.md", "# Huge\n\n" + "word " * 2000)
    origin.write("binary.md", bytes(range(256)) * 4)
    origin.write(os.fsdecode(b"caf\xe9.md"), SETUP)
    origin.commit("hostile")
    location = origin.location(form)

    with QdrantEdgeStore(tmp_path / "store") as store:
        with pytest.raises(ConfigurationError, match="ref 'no-such-branch' names no commit"):
            source = GitSource([location], ref="no-such-branch", cache_dir=cache)
            index_documents(source, UnstructuredParser(), chunker, encoder, store, COLLECTION)
        assert store.collections() == []  # listed first: nothing was created

        source = GitSource([location], max_bytes=4000, cache_dir=cache)
        report = index_documents(source, UnstructuredParser(), chunker, encoder, store, COLLECTION)

        failures = {failure.source: failure for failure in report.errors}
        assert report.indexed == 1 and stored_uris(store) == {origin.uri("guide.md")}
        assert failures.keys() == {origin.uri(name) for name in ("huge.md", "binary.md", "caf\\xe9.md")}
        assert failures[origin.uri("huge.md")].stage == "read"
        assert "10,008 bytes, over the limit of 4,000" in failures[origin.uri("huge.md")].error
        assert failures[origin.uri("caf\\xe9.md")].stage == "read"
        assert "not valid UTF-8" in failures[origin.uri("caf\\xe9.md")].error
        assert failures[origin.uri("binary.md")].stage == "parse"
