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
