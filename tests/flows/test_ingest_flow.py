"""ingest_flow under Prefect's test harness: real tasks, MiniLM, unstructured and Qdrant Edge."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort
from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.states import State
from prefect.testing.utilities import prefect_test_harness

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.flows.artifacts import artifact_key, latest_artifact
from chunkwise.flows.ingest import WRITE_TAG, DocumentsFailedError, ingest_flow
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import FingerprintMismatchError, StoreError
from chunkwise.pipeline.report import RunReport

SAMPLES = ["git-bisect.txt", "nodejs-path.md", "debian-faq-pkgtools.html"]
OPTIONS = {"chunk_size": 96, "chunk_overlap": 16}
CLI = [str(Path(sys.executable).with_name("chunkwise"))]


@pytest.fixture(scope="module", autouse=True)
def harness(tmp_path_factory: pytest.TempPathFactory):
    """A temporary Prefect server for the module, with results (the task cache) in a temporary folder."""
    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
    ):
        yield storage


@pytest.fixture
def corpus(tmp_path: Path, sample_data: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in SAMPLES:
        shutil.copy(sample_data / name, folder / name)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not a pdf body\n")
    return folder


def run_flow(corpus: Path, store: Path, **parameters) -> tuple[State, RunReport]:
    parameters.setdefault("options", OPTIONS)
    parameters.setdefault("batch_documents", 2)
    state = ingest_flow([str(corpus)], store=str(store), collection="docs", return_state=True, **parameters)
    report = state.result(raise_on_failure=False)
    return state, report


def task_runs(run: State | str) -> dict[str, object]:
    """The task runs of a flow run (its final state, or its id), by name."""
    run_id = run if isinstance(run, str) else str(run.state_details.flow_run_id)
    flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)]))
    with get_client(sync_client=True) as client:
        return {
            task_run.name: task_run
            for task_run in client.read_task_runs(
                flow_run_filter=flow_run, limit=200, sort=TaskRunSort.EXPECTED_START_TIME_ASC
            )
        }


def batch_runs(run: State | str) -> list:
    return [task_run for name, task_run in task_runs(run).items() if name.startswith("index-batch")]


def batch_states(run: State | str) -> dict[str, str]:
    return {task_run.name: task_run.state.name for task_run in batch_runs(run)}


def run_flow_in_another_process(corpus: Path, store: Path, storage: Path, **parameters) -> tuple[str, dict]:
    """Run the flow in a fresh Python process against the harness server: (flow run id, report)."""
    parameters = {"options": OPTIONS, "batch_documents": 2, **parameters}
    script = (
        "import json, sys\n"
        "from chunkwise.flows.ingest import ingest_flow\n"
        "state = ingest_flow([sys.argv[1]], store=sys.argv[2], collection='docs', return_state=True, "
        "**json.loads(sys.argv[3]))\n"
        "print(json.dumps([str(state.state_details.flow_run_id), state.result().to_dict()]))\n"
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_LOCAL_STORAGE_PATH": str(storage),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(corpus), str(store), json.dumps(parameters)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    run_id, report = json.loads(done.stdout.strip().splitlines()[-1])
    return run_id, report


def docs_report() -> str:
    """The Markdown report of the latest run into the ``docs`` collection."""
    markdown = latest_artifact(PREFECT_API_URL.value(), artifact_key("docs"))
    assert markdown is not None
    return markdown


def test_the_flow_builds_the_collection_the_cli_builds(tmp_path, corpus, collection_state):
    cli = subprocess.run(
        [
            *CLI,
            "ingest",
            str(corpus),
            "--store",
            str(tmp_path / "cli"),
            "--collection",
            "docs",
            "--json",
            "--chunk-size",
            "96",
            "--chunk-overlap",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert cli.returncode == 2, cli.stderr  # the broken PDF
    expected = json.loads(cli.stdout)

    state, report = run_flow(corpus, tmp_path / "flow")

    assert state.is_completed()
    assert set(batch_states(state)) == {"index-batch-1/2", "index-batch-2/2"}
    got = report.to_dict()
    assert (
        got["documents"]
        == expected["documents"]
        == {
            "seen": 4,
            "indexed": 3,
            "unchanged": 0,
            "failed": 1,
            "deleted": 0,
            "outdated": 0,
        }
    )
    assert got["chunks"] == expected["chunks"]
    assert got["errors"] == expected["errors"]
    assert report.exit_code == 2
    with QdrantEdgeStore(tmp_path / "cli") as cli_store, QdrantEdgeStore(tmp_path / "flow") as flow_store:
        collection_state(flow_store, "docs").assert_same_as(collection_state(cli_store, "docs"))
        assert flow_store.fingerprint("docs") == cli_store.fingerprint("docs")


def test_the_report_is_left_as_a_markdown_artifact(tmp_path, corpus):
    run_flow(corpus, tmp_path / "store")

    markdown = docs_report()

    assert "| indexed | 3 |" in markdown
    assert "| failed | 1 |" in markdown
    assert f"| {corpus / 'broken.pdf'} | parse |" in markdown


def test_the_report_is_read_back_from_the_runs_state_in_the_api(tmp_path, corpus):
    state, report = run_flow(corpus, tmp_path / "store")

    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).state

    assert stored.data is not None  # a state read from the API carries where the result is kept
    assert stored.result().to_dict() == report.to_dict()
    assert (report.indexed, report.failed) == (3, 1)


def test_failed_documents_fail_the_run_when_asked_and_the_rest_is_indexed(tmp_path, corpus):
    state, error = run_flow(corpus, tmp_path / "store", fail_on_errors=True)

    assert state.is_failed()
    assert isinstance(error, DocumentsFailedError)
    assert str(error).startswith(f"1 of 4 documents failed: {corpus / 'broken.pdf'} (parse): ")
    assert (error.report.indexed, error.report.failed) == (3, 1)
    assert "| failed | 1 |" in docs_report()
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert len(store.stored_documents("docs")) == 3


def test_a_second_run_takes_unchanged_batches_from_the_cache(tmp_path, corpus):
    store = tmp_path / "store"
    first, _ = run_flow(corpus, store)
    second, report = run_flow(corpus, store)
    (corpus / "git-bisect.txt").write_text("git bisect finds the commit that introduced a bug.\n")
    third, edited = run_flow(corpus, store)

    assert set(batch_states(first).values()) == {"Completed"}
    # broken.pdf and debian-faq-pkgtools.html make batch 1: never whole in the store, so it runs again
    assert batch_states(second) == {"index-batch-1/2": "Completed", "index-batch-2/2": "Cached"}
    assert (report.seen, report.unchanged, report.indexed, report.failed) == (4, 3, 0, 1)
    assert batch_states(third) == {"index-batch-1/2": "Completed", "index-batch-2/2": "Completed"}
    assert (edited.indexed, edited.unchanged) == (1, 2)


def test_the_cache_is_shared_with_runs_in_other_processes(tmp_path, corpus, harness):
    (corpus / "broken.pdf").unlink()
    store = tmp_path / "store"
    run_flow(corpus, store)

    run_id, report = run_flow_in_another_process(corpus, store, harness)

    assert batch_states(run_id) == {"index-batch-1/2": "Cached", "index-batch-2/2": "Cached"}
    assert report["documents"]["unchanged"] == 3


def test_a_failing_store_write_is_retried_and_the_run_completes(tmp_path, corpus, monkeypatch):
    real_replace = QdrantEdgeStore.replace_document
    calls: list[str] = []

    def replace_failing_once(self, collection, document_id, points, **options):
        calls.append(document_id)
        if len(calls) == 1:
            raise StoreError("the store dropped the write (injected)")
        return real_replace(self, collection, document_id, points, **options)

    monkeypatch.setattr(QdrantEdgeStore, "replace_document", replace_failing_once)
    (corpus / "broken.pdf").unlink()

    state, report = run_flow(corpus, tmp_path / "store", batch_documents=3)

    assert state.is_completed()
    [batch] = batch_runs(state)
    assert batch.run_count == 2
    assert (report.indexed, report.failed) == (3, 0)
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert len(store.stored_documents("docs")) == 3


def batch_spans(run: State | str) -> list[tuple[object, object]]:
    """(start, end) of each batch task run, by start."""
    return sorted((task_run.start_time, task_run.end_time) for task_run in batch_runs(run))


def overlapping(spans: list[tuple[object, object]]) -> bool:
    return any(next_start < end for (_, end), (next_start, _) in pairwise(spans))


def test_a_concurrency_limit_on_the_write_tag_bounds_the_batches_running_at_once(tmp_path, corpus, harness):
    (corpus / "broken.pdf").unlink()
    free, _ = run_flow(corpus, tmp_path / "free", batch_documents=1)  # 3 batches on 2 threads
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=WRITE_TAG, concurrency_limit=1)
        try:  # a process reads the tag's limits once: a fresh one sees the new limit
            limited, report = run_flow_in_another_process(
                corpus, tmp_path / "limited", harness, batch_documents=1
            )
        finally:
            client.delete_concurrency_limit_by_tag(tag=WRITE_TAG)

    assert overlapping(batch_spans(free))  # without the limit, two batches run side by side
    assert len(batch_spans(limited)) == 3
    assert not overlapping(batch_spans(limited))
    assert report["documents"]["indexed"] == 3


def test_a_refusal_by_the_store_is_not_retried_and_fails_the_run(tmp_path, corpus):
    (corpus / "broken.pdf").unlink()
    run_flow(corpus, tmp_path / "store")

    state, error = run_flow(corpus, tmp_path / "store", options={**OPTIONS, "chunk_size": 64})

    assert state.is_failed()
    assert isinstance(error, FingerprintMismatchError)
    assert "reindex" in str(error)
    [discover] = [run for name, run in task_runs(state).items() if name.startswith("discover")]
    assert discover.run_count == 1


def test_prune_deletes_documents_removed_from_the_folder(tmp_path, corpus):
    store = tmp_path / "store"
    run_flow(corpus, store)
    (corpus / "nodejs-path.md").unlink()

    _, kept = run_flow(corpus, store)
    _, pruned = run_flow(corpus, store, options={**OPTIONS, "prune": True})

    assert (kept.deleted, kept.outdated) == (0, 0)
    assert pruned.deleted == 1
    with QdrantEdgeStore(store) as opened:
        assert {entry.source for entry in opened.stored_documents("docs").values()} == {
            str(corpus / "git-bisect.txt"),
            str(corpus / "debian-faq-pkgtools.html"),
        }


def test_options_are_validated_like_the_cli(tmp_path, corpus):
    state = ingest_flow(
        [str(corpus)], store=str(tmp_path / "store"), options={"chunk_overlap": 500}, return_state=True
    )

    assert state.is_failed()
    assert "chunk_overlap (500) must be < chunk_size (200)" in str(state.result(raise_on_failure=False))
    assert IngestOptions.model_validate(OPTIONS).chunk_size == 96
