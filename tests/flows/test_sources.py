"""Every entry point takes every kind of source: the CLI, the Python API and the ingest flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

import chunkwise
from chunkwise.flows.ingest import ingest_flow

CLI = [str(Path(sys.executable).with_name("chunkwise"))]
GUIDE = b"# Release guide\n\nTag the release, then upload the packages to the archive.\n"
FAQ = b"# Mirror FAQ\n\nThe mirror syncs every six hours. Ask on the mailing list for help.\n"


@pytest.fixture(scope="module", autouse=True)
def harness(tmp_path_factory: pytest.TempPathFactory):
    """A temporary Prefect server for the module, with results in a temporary folder."""
    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
    ):
        yield storage


def cli_ingest(*arguments: str, environment: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [*CLI, "ingest", *arguments, "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **(environment or {})},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


def test_an_s3_prefix_is_ingested_by_the_cli_kept_by_the_api_and_synced_by_the_flow(
    s3_server, tmp_path, monkeypatch
):
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    bucket = f"docs-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="manuals/guide.md", Body=GUIDE)
    client.put_object(Bucket=bucket, Key="manuals/faq.md", Body=FAQ)
    location, store = f"s3://{bucket}/manuals/", str(tmp_path / "store")

    first = cli_ingest(location, "--store", store, "--collection", "docs", environment=s3_server.environment)
    assert (first["documents"]["indexed"], first["documents"]["failed"]) == (2, 0)

    again = chunkwise.ingest(location, store=store, collection="docs")
    assert (again.indexed, again.unchanged) == (0, 2)

    client.put_object(Bucket=bucket, Key="manuals/guide.md", Body=GUIDE + b"\nSign the tag first.\n")
    client.delete_object(Bucket=bucket, Key="manuals/faq.md")
    synced = ingest_flow([location], store=store, collection="docs", options={"prune": True})
    assert (synced.indexed, synced.deleted, synced.failed) == (1, 1, 0)

    retriever = chunkwise.open_retriever(store, "docs", filter={"metadata.bucket": bucket})
    try:
        [hit] = retriever.invoke("how do I sign the release tag?")[:1]
    finally:
        retriever.close()
    assert hit.metadata["source"] == f"s3://{bucket}/manuals/guide.md"
    assert "Sign the tag first" in hit.page_content


def git(cwd: Path, *arguments: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environment.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Docs Writer",
        GIT_AUTHOR_EMAIL="writer@example.org",
        GIT_COMMITTER_NAME="Docs Writer",
        GIT_COMMITTER_EMAIL="writer@example.org",
    )
    subprocess.run(["git", *arguments], cwd=cwd, env=environment, capture_output=True, check=True)


def test_a_git_repository_is_ingested_by_the_cli_kept_by_the_api_and_synced_by_the_flow(tmp_path):
    repository = tmp_path / "handbook"
    (repository / "docs").mkdir(parents=True)
    git(repository, "init", "--quiet", "--initial-branch=main")
    (repository / "docs" / "guide.md").write_bytes(GUIDE)
    (repository / "faq.md").write_bytes(FAQ)
    git(repository, "add", "-A")
    git(repository, "commit", "--quiet", "-m", "first")
    store = str(tmp_path / "store")

    first = cli_ingest(str(repository), "--ref", "main", "--store", store, "--collection", "docs")
    assert (first["documents"]["indexed"], first["documents"]["failed"]) == (2, 0)

    url = f"git+file://{repository}"  # the same repository through its URL: the same documents
    again = chunkwise.ingest(url, store=store, collection="docs")
    assert (again.indexed, again.unchanged) == (0, 2)

    (repository / "docs" / "guide.md").write_bytes(GUIDE + b"\nSign the tag first.\n")
    git(repository, "rm", "--quiet", "faq.md")
    git(repository, "commit", "--quiet", "-am", "second")
    synced = ingest_flow([url], store=store, collection="docs", options={"prune": True})
    assert (synced.indexed, synced.deleted, synced.failed) == (1, 1, 0)

    retriever = chunkwise.open_retriever(store, "docs", filter={"metadata.path": "docs/guide.md"})
    try:
        [hit] = retriever.invoke("how do I sign the release tag?")[:1]
    finally:
        retriever.close()
    assert hit.metadata["source"] == f"{url}#docs/guide.md"
    assert "Sign the tag first" in hit.page_content
