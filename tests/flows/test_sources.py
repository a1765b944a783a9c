"""Every entry point takes every kind of source: the CLI, the Python API and the ingest flow."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

import chunkwise
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
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


def top_hit(store: str, only: dict[str, str]):
    """The best passage on signing the release tag, among those matching ``only``."""
    retriever = chunkwise.open_retriever(store, "docs", filter=only)
    try:
        return retriever.invoke("how do I sign the release tag?")[0]
    finally:
        retriever.close()


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

    hit = top_hit(store, {"metadata.bucket": bucket})
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

    hit = top_hit(store, {"metadata.path": "docs/guide.md"})
    assert hit.metadata["source"] == f"{url}#docs/guide.md"
    assert "Sign the tag first" in hit.page_content


class Site(BaseHTTPRequestHandler):
    """Pages by path, each with an ETag; a request naming the current one is answered 304."""

    pages: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[Counter[str]] = Counter()

    def do_GET(self) -> None:
        self.requests[self.path] += 1
        body = self.pages.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments: object) -> None:
        pass


def page(title: str, text: str, *links: str) -> bytes:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    body = f"<h1>{title}</h1><p>{text}</p><ul>{anchors}</ul>"
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def test_a_website_is_ingested_by_the_cli_kept_by_the_api_and_synced_by_the_flow(tmp_path):
    Site.pages = {
        "/robots.txt": b"User-agent: *\nAllow: /\n",
        "/docs/index.html": page("Handbook", "Start here.", "guide.html", "faq.html"),
        "/docs/guide.html": page("Release guide", "Tag the release, then upload the packages."),
        "/docs/faq.html": page("Mirror FAQ", "The mirror syncs every six hours."),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = f"http://127.0.0.1:{server.server_port}/docs/index.html"
    store = str(tmp_path / "store")
    try:
        refused = subprocess.run(
            [*CLI, "ingest", start, "--store", store], capture_output=True, text=True, timeout=600
        )
        assert refused.returncode == 1 and "--allow-private-network" in refused.stderr
        assert "Traceback" not in refused.stderr

        first = cli_ingest(start, "--allow-private-network", "--store", store, "--collection", "docs")
        assert (first["documents"]["indexed"], first["documents"]["failed"]) == (3, 0)

        again = chunkwise.ingest(start, store=store, collection="docs", allow_private_network=True)
        assert (again.indexed, again.unchanged) == (0, 3)

        Site.pages["/docs/index.html"] = page("Handbook", "Start here.", "guide.html")
        Site.pages["/docs/guide.html"] = page("Release guide", "Tag the release. Sign the tag first.")
        del Site.pages["/docs/faq.html"]
        options = {"prune": True, "allow_private_network": True}
        synced = ingest_flow([start], store=store, collection="docs", options=options)
        assert (synced.indexed, synced.deleted, synced.failed) == (2, 1, 0)
    finally:
        server.shutdown()
        server.server_close()

    guide = start.replace("index.html", "guide.html")
    hit = top_hit(store, {"metadata.url": guide})
    assert hit.metadata["source"] == guide
    assert "Sign the tag first" in hit.page_content


def test_one_flow_run_fetches_each_page_of_a_website_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKWISE_CACHE_DIR", str(tmp_path / "cache"))
    Site.pages = {
        "/robots.txt": b"User-agent: *\nAllow: /\n",
        "/site/index.html": page("Handbook", "Start here.", "guide.html"),
        "/site/guide.html": page("Release guide", "Tag the release, then upload the packages."),
    }
    Site.requests.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = f"http://127.0.0.1:{server.server_port}/site/index.html"
    try:
        options = {"prune": True, "allow_private_network": True}
        report = ingest_flow([start], store=str(tmp_path / "store"), collection="docs", options=options)
    finally:
        server.shutdown()
        server.server_close()
    assert (report.indexed, report.failed) == (2, 0)
    # discover crawls (and keeps the bodies), index-batch reads them, settle prunes by that listing
    assert Site.requests == {"/robots.txt": 1, "/site/index.html": 1, "/site/guide.html": 1}


def test_a_source_that_cannot_be_listed_stops_the_cli_with_a_clear_message_and_no_traceback(
    s3_server, tmp_path
):
    repository = tmp_path / "repo"
    repository.mkdir()
    git(repository, "init", "--quiet", "--initial-branch=main")
    (repository / "a.md").write_text("# A\n\nText.\n")
    git(repository, "add", "-A")
    git(repository, "commit", "--quiet", "-m", "first")
    cases = {
        "s3://no-such-bucket-anywhere/docs/": "no such bucket",
        f"git+file://{repository}": "no-such-tag",
    }
    for location, message in cases.items():
        extra = ["--ref", "no-such-tag"] if location.startswith("git+") else []
        done = subprocess.run(
            [*CLI, "ingest", location, *extra, "--store", str(tmp_path / "store")],
            capture_output=True,
            text=True,
            env={**os.environ, **s3_server.environment},
            timeout=600,
        )
        assert done.returncode == 1, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert store.collections() == []  # a source that cannot be listed changes nothing
