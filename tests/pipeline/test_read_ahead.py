"""``read_ahead``: results in order, failures in place, a bounded lead, and a clean stop; indexing with
it builds what indexing one document at a time builds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.errors import StoreUnavailableError
from chunkwise.pipeline.indexing import index_documents
from chunkwise.pipeline.read_ahead import read_ahead


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_results_come_in_the_items_order_with_each_failure_in_its_place(depth):
    def work(number: int) -> int:
        if number % 4 == 0:
            raise ValueError(f"no {number}")
        time.sleep(0.001 * (number % 3))  # uneven work must not reorder anything
        return number * number

    outcomes = list(read_ahead(work, range(1, 13), depth=depth))

    assert [item for item, _ in outcomes] == list(range(1, 13))
    for item, outcome in outcomes:
        if item % 4 == 0:
            assert isinstance(outcome, ValueError) and str(outcome) == f"no {item}"
        else:
            assert outcome == item * item


def test_the_work_runs_in_another_thread_at_most_depth_items_ahead_of_the_consumer():
    started: list[int] = []
    threads: set[str] = set()

    def work(number: int) -> int:
        started.append(number)
        threads.add(threading.current_thread().name)
        return number

    consumed = 0
    for item, _ in read_ahead(work, range(20), depth=2):
        time.sleep(0.02)  # a slow consumer: the producer fills the queue and waits
        consumed += 1
        # queued (2) + one being handed over (1) + the one just consumed
        assert len(started) <= consumed + 3, (item, len(started))
    assert consumed == 20
    assert threads == {"chunkwise-read-ahead"}


def test_a_failing_listing_is_raised_to_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("the listing broke")

    seen = []
    with pytest.raises(OSError, match="the listing broke"):
        for item, outcome in read_ahead(lambda n: n + 10, items(), depth=2):
            seen.append((item, outcome))
    assert seen == [(1, 11), (2, 12)]


def test_a_consumer_that_stops_early_stops_the_background_thread():
    started: list[int] = []

    def work(number: int) -> int:
        started.append(number)
        return number

    outcomes = read_ahead(work, range(10_000), depth=2)
    for item, _ in outcomes:
        if item == 5:
            break
    outcomes.close()  # what a for loop's exit does to a generator it leaves behind

    time.sleep(0.5)
    assert len(started) <= 10
    assert not any(thread.name == "chunkwise-read-ahead" for thread in threading.enumerate())


def _small_corpus(folder: Path, sample_data: Path) -> Path:
    folder.mkdir()
    for name in ("nodejs-path.md", "git-bisect.txt"):  # a few chunks each
        (folder / name).write_bytes((sample_data / name).read_bytes()[:3000])
    (folder / "sorting.docx").write_bytes((sample_data / "python-sorting-howto.docx").read_bytes())
    (folder / "broken.docx").write_bytes(b"not a zip archive " * 40)
    (folder / "notes.txt").write_text("Short notes: the cache lives in ~/.cache/chunkwise.\n")
    return folder


def _index(folder: Path, encoder, tiktoken_tokenizer, depth: int, *, store=None, progress=None):
    limit = TokenLimit(encoder.tokenizer, encoder.spec.max_tokens)
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=128, chunk_overlap=0, limit=limit)
    source, parser = FileSystemSource([str(folder)]), UnstructuredParser()
    with store or QdrantServerStore(":memory:") as opened:
        report = index_documents(
            source,
            parser,
            chunker,
            encoder,
            opened,
            "docs",
            batch_chunks=8,
            read_ahead=depth,
            progress=progress,
        )
        return report, {point.id: point for point in opened.points("docs")}


def test_indexing_with_read_ahead_builds_what_one_document_at_a_time_builds(
    tmp_path, sample_data, encoder, tiktoken_tokenizer
):
    folder = _small_corpus(tmp_path / "docs", sample_data)
    statuses: list[tuple[str, str]] = []

    def progress(step) -> None:
        statuses.append((Path(step.source).name, step.status))

    one_at_a_time, expected = _index(folder, encoder, tiktoken_tokenizer, 0)
    ahead, points = _index(folder, encoder, tiktoken_tokenizer, 2, progress=progress)

    counted = (ahead.indexed, ahead.failed, ahead.chunks)
    assert counted == (one_at_a_time.indexed, one_at_a_time.failed, one_at_a_time.chunks)
    assert counted[:2] == (4, 1)
    assert [(error.source, error.stage) for error in ahead.errors] == [(str(folder / "broken.docx"), "parse")]
    assert points.keys() == expected.keys()
    for point_id, point in points.items():
        assert point.payload == expected[point_id].payload
        np.testing.assert_allclose(point.vector, expected[point_id].vector, atol=2e-5)
    parsed = [name for name, status in statuses if status == "parsed"]
    assert parsed == sorted(parsed)  # reported in the listing's order, from the caller's thread


class _FailingStore(QdrantServerStore):
    """Refuses every write: the run must stop, and its read-ahead thread with it."""

    def replace_document(self, *args, **kwargs):
        raise StoreUnavailableError("the store refused the write")


def test_a_store_failure_stops_the_run_and_its_read_ahead_thread(
    tmp_path, sample_data, encoder, tiktoken_tokenizer
):
    folder = _small_corpus(tmp_path / "docs", sample_data)

    with pytest.raises(StoreUnavailableError, match="refused the write"):
        _index(folder, encoder, tiktoken_tokenizer, 2, store=_FailingStore(":memory:"))

    time.sleep(0.5)
    assert not any(thread.name == "chunkwise-read-ahead" for thread in threading.enumerate())
