"""The plain parts of the flows: shared resources, the report artifact, serve's parameters and checks."""

from __future__ import annotations

import os
import threading

import pytest

from chunkwise.flows.artifacts import MAX_LISTED_FAILURES, artifact_key, report_markdown
from chunkwise.flows.resources import absolute_location, pipeline_parts, shared_store
from chunkwise.flows.serving import check_schedule, serve_parameters
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.report import RunReport


def test_a_shared_store_is_opened_once_per_process_and_closed_by_its_last_user(tmp_path, store_lock_is_free):
    location = str(tmp_path / "store")
    with shared_store(location) as outer:
        with shared_store(location) as inner:
            assert inner is outer
            outer.collections()  # takes the embedded store's lock
        assert not store_lock_is_free(tmp_path / "store")  # still held: the outer user is there
    assert store_lock_is_free(tmp_path / "store")  # released


def test_each_thread_builds_its_own_pipeline_once():
    options = IngestOptions(chunking="fixed", sparse=False)
    mine = pipeline_parts(options)
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(pipeline_parts(options)))
    thread.start()
    thread.join()

    assert pipeline_parts(options) is mine
    assert theirs[0] is not mine
    assert theirs[0].fingerprint == mine.fingerprint
    assert mine.sparse_encoder is None


def test_locations_are_made_absolute_except_urls_and_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_location("store") == str(tmp_path / "store")
    assert absolute_location("local:store") == f"local:{tmp_path / 'store'}"
    assert absolute_location("http://qdrant:6333") == "http://qdrant:6333"
    assert absolute_location(":memory:") == ":memory:"


def test_the_report_markdown_lists_counts_and_failures_safely():
    report = RunReport(seen=3, indexed=1, chunks=12, seconds=2.5)
    report.fail("/docs/a|b.pdf", "parse", "bad\nPDF | header")
    report.fail("/docs/c.html", "read", "the file vanished")

    markdown = report_markdown(report, "docs", "/srv/qdrant")

    assert "| indexed | 1 |" in markdown
    assert "| failed | 2 |" in markdown
    assert "| /docs/a\\|b.pdf | parse | bad PDF \\| header |" in markdown
    assert "12 chunks written" in markdown


def test_long_failure_lists_are_cut():
    report = RunReport(seen=MAX_LISTED_FAILURES + 5)
    for number in range(MAX_LISTED_FAILURES + 5):
        report.fail(f"/docs/{number}.pdf", "parse", "corrupt")

    markdown = report_markdown(report, "docs", "/srv/qdrant")

    assert markdown.count("| parse | corrupt |") == MAX_LISTED_FAILURES
    assert "and 5 more" in markdown


@pytest.mark.parametrize(
    ("collection", "key"),
    [
        ("docs", "chunkwise-ingest-docs"),
        ("My_Docs.v2", "chunkwise-ingest-my-docs-v2"),
        ("__", "chunkwise-ingest-collection"),
    ],
)
def test_artifact_keys_are_what_prefect_accepts(collection, key):
    assert artifact_key(collection) == key


def test_serve_parameters_are_absolute_and_validate_back_into_the_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = IngestOptions(chunk_size=64, chunk_overlap=8, include=("*.md",), prune=True)

    parameters = serve_parameters(["docs"], ".chunkwise/qdrant", "docs", options, batch_documents=16)

    assert parameters["paths"] == [os.path.join(tmp_path, "docs")]
    assert parameters["store"] == str(tmp_path / ".chunkwise" / "qdrant")
    assert IngestOptions.model_validate(parameters["options"]) == options
    assert parameters["batch_documents"] == 16


def test_served_locations_keep_urls_and_make_local_repositories_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    locations = [
        "s3://docs/manuals/",
        "https://docs.example.org/guide/",
        "git+https://example.org/h.git",
        "repo",
    ]
    options = IngestOptions(ref="v2", max_pages=50, allow_private_network=True)

    parameters = serve_parameters(locations, ".chunkwise/qdrant", "docs", options, batch_documents=16)

    assert parameters["paths"] == [*locations[:3], os.path.join(tmp_path, "repo")]
    assert IngestOptions.model_validate(parameters["options"]) == options


@pytest.mark.parametrize(
    ("cron", "interval", "message"),
    [
        (None, None, "exactly one schedule"),
        ("0 * * * *", 60.0, "exactly one schedule"),
        (None, 0.0, "must be > 0"),
        ("every hour", None, "not a cron expression"),
    ],
)
def test_a_schedule_is_one_valid_cron_or_a_positive_interval(cron, interval, message):
    with pytest.raises(ConfigurationError, match=message):
        check_schedule(cron, interval)


def test_valid_schedules_pass():
    check_schedule("*/15 * * * *", None)
    check_schedule(None, 30.0)
