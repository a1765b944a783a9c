"""A real ``prefect server`` on 127.0.0.1: ``chunkwise serve`` on a schedule, and the ``prefect.yaml``
deployment run by a process worker. Every process started here is stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.retriever import open_retriever
from chunkwise.flows.artifacts import artifact_key, latest_artifact
from chunkwise.flows.prefect_server import PrefectServer, group_members, stop_group

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHUNKWISE = str(BIN / "chunkwise")
PREFECT = str(BIN / "prefect")
SMALL = ["--chunk-size", "96", "--chunk-overlap", "16"]
WAIT_SECONDS = 240


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with PrefectServer(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server


def latest_report(server: PrefectServer, collection: str) -> str:
    """The Markdown report of the collection's latest ingest run ("" before any)."""
    return latest_artifact(server.api_url, artifact_key(collection)) or ""


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"the process exited ({process.returncode}) before {what}:\n{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {WAIT_SECONDS} s:\n{log.read_text()[-3000:]}")
        time.sleep(1)


def test_a_served_flow_indexes_a_file_added_to_the_watched_folder(server, tmp_path, sample_data):
    watched = tmp_path / "watched"
    watched.mkdir()
    shutil.copy(sample_data / "git-bisect.txt", watched)
    store, log = tmp_path / "store", tmp_path / "serve.log"
    command = [CHUNKWISE, "serve", str(watched), "--interval", "5", "--store", str(store)]
    command += ["--collection", "watched", *SMALL]
    with log.open("wb") as output:
        serve = subprocess.Popen(
            command, env=server.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: "| indexed | 1 |" in latest_report(server, "watched"), "first run", serve, log)
        incoming = tmp_path / "nodejs-path.md"
        shutil.copy(sample_data / "nodejs-path.md", incoming)
        os.replace(incoming, watched / "nodejs-path.md")  # appears whole: a run never reads half of it

        def indexed_the_new_file() -> bool:
            report = latest_report(server, "watched")
            return "| seen | 2 |" in report and "| indexed | 1 |" in report

        wait_for(indexed_the_new_file, "scheduled run indexing the new file", serve, log)
    finally:
        stop_group(serve)

    assert serve.returncode is not None
    assert group_members(serve.pid) == []  # the flow runs' processes too
    with QdrantEdgeStore(store) as opened:
        sources = {entry.source for entry in opened.stored_documents("watched").values()}
        [passage] = open_retriever(opened, "watched", k=1).invoke("What does path.basename return?")
    assert sources == {str(watched / "git-bisect.txt"), str(watched / "nodejs-path.md")}
    assert passage.metadata["source"] == str(watched / "nodejs-path.md")


def test_serve_refuses_without_a_server_and_with_a_bad_schedule(tmp_path, sample_data):
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_HOME": str(tmp_path)}
    no_server = subprocess.run(
        [CHUNKWISE, "serve", str(sample_data), "--interval", "60"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    bad_cron = subprocess.run(
        [CHUNKWISE, "serve", str(sample_data), "--cron", "every day"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert no_server.returncode == 1
    assert "needs a Prefect server, and none answers at http://127.0.0.1:9/api" in no_server.stderr
    assert "make prefect-server" in no_server.stderr
    assert bad_cron.returncode == 1
    assert "--cron 'every day' is not a cron expression" in bad_cron.stderr


def test_the_prefect_yaml_deployment_runs_on_a_process_worker(server, tmp_path, sample_data):
    def prefect(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PREFECT, *arguments],
            cwd=ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("git-bisect.txt", "debian-faq-pkgtools.html"):
        shutil.copy(sample_data / name, folder)
    store = tmp_path / "store"

    created = prefect("work-pool", "create", "chunkwise", "--type", "process")
    deployed = prefect("--no-prompt", "deploy", "--name", "sync-examples")
    # Prefect 3.8.8's deploy exits 1 after creating the deployment (its look for online workers
    # gets a 422), so the deployment itself is checked.
    deployment = httpx.get(f"{server.api_url}/deployments/name/chunkwise-ingest/sync-examples", timeout=30)
    run = prefect(
        "deployment",
        "run",
        "chunkwise-ingest/sync-examples",
        "--param",
        f"paths={json.dumps([str(folder)])}",
        "--param",
        f"store={json.dumps(str(store))}",
        "--param",
        'collection="deployed"',
    )
    worker = prefect("worker", "start", "--pool", "chunkwise", "--run-once", timeout=600)

    assert created.returncode == 0, created.stderr
    assert deployment.status_code == 200, deployed.stdout + deployed.stderr
    assert deployment.json()["entrypoint"] == "chunkwise.flows.ingest.ingest_flow"
    assert run.returncode == 0, run.stderr
    assert worker.returncode == 0, worker.stderr
    report = latest_report(server, "deployed")
    assert "| indexed | 2 |" in report, worker.stdout + worker.stderr
    with QdrantEdgeStore(store) as opened:
        assert {entry.source for entry in opened.stored_documents("deployed").values()} == {
            str(folder / "git-bisect.txt"),
            str(folder / "debian-faq-pkgtools.html"),
        }
        assert opened.fingerprint("deployed").chunking["chunk_size"] == 200  # prefect.yaml's options
