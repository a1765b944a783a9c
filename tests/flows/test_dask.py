"""The ingest flow on a real Dask cluster (distributed.LocalCluster, two worker processes, prefect-dask):
the workers parse, chunk and embed, the flow process writes the embedded store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pytest
from distributed import LocalCluster
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness
from tiny_models import save_tiny_colbert

import chunkwise
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore

OPTIONS = {"chunk_size": 64, "chunk_overlap": 8}
CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
KILLER = Path(__file__).with_name("dask_worker_killer.py")
TOPICS = {
    "tides.md": "# Tides\n\nThe moon's pull raises the oceans twice a day. {}",
    "bread.txt": "Bread rises because yeast turns sugar into carbon dioxide. {}",
    "rivers.md": "# Rivers\n\n## Deltas\n\nA delta forms where a river drops its silt at the sea. {}",
    "comets.txt": "A comet's tail points away from the sun, pushed by the solar wind. {}",
}


@pytest.fixture(scope="module", autouse=True)
def harness(tmp_path_factory: pytest.TempPathFactory):
    """A temporary Prefect server for the module, with results in a temporary folder."""
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path_factory.mktemp("prefect-results")}),
    ):
        yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small text and Markdown documents, a few chunks each."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, text in TOPICS.items():
        filler = " ".join(f"Line {n} adds a detail about {name.split('.')[0]} number {n}." for n in range(25))
        (folder / name).write_text(text.format(filler))
    return folder


@pytest.fixture(scope="module")
def plain(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The collection a plain ``chunkwise ingest`` builds (one process, no Dask), point by point."""
    store = tmp_path_factory.mktemp("plain") / "store"
    report = chunkwise.ingest(corpus, store=store, collection="docs", **OPTIONS)
    assert report.indexed == len(TOPICS) and report.failed == 0
    return points(store)


@pytest.fixture(scope="module")
def cluster():
    """A running cluster of two worker processes, as ``--dask ADDRESS`` would find one."""
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as running:
        yield running


def points(store: Path) -> dict:
    with QdrantEdgeStore(store) as opened:
        return {point.id: point for point in opened.points("docs")}


def assert_same_points(built: dict, plain: dict) -> None:
    """Same ids and payloads (fingerprint, source, offsets, ...), term weights (see
    :func:`assert_same_weights`), and vectors, named ones too, equal to 1e-5."""
    assert built.keys() == plain.keys() and len(plain) > len(TOPICS)
    for point_id, point in built.items():
        assert point.payload == plain[point_id].payload, point_id
        assert_same_weights(point.sparse, plain[point_id].sparse)
        np.testing.assert_allclose(point.vector, plain[point_id].vector, atol=1e-5, err_msg=point_id)
        assert point.named.keys() == plain[point_id].named.keys(), point_id
        for name, vectors in point.named.items():
            np.testing.assert_allclose(vectors, plain[point_id].named[name], atol=1e-5, err_msg=name)


def assert_same_weights(built, plain) -> None:
    """The same terms, their weights equal to 1e-6 (a sparse model's may round apart across processes)."""
    if built is None or plain is None:
        assert built is plain
        return
    assert built.indices == plain.indices
    np.testing.assert_allclose(built.values, plain.values, rtol=0, atol=1e-6)


def test_workers_build_the_plain_collection_though_one_is_killed_mid_run(
    corpus: Path, plain: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """--workers 2 starts a local cluster; the first batch task's worker dies while it runs: Dask
    runs the task again on a worker that lives, and the collection is whole and the same."""
    marker = tmp_path / "killed"
    monkeypatch.setenv("CHUNKWISE_TEST_KILL_MARKER", str(marker))
    store = tmp_path / "store"
    with dask.config.set({"distributed.worker.preload": [str(KILLER)]}):
        report = chunkwise.ingest(
            corpus, store=store, collection="docs", workers=2, batch_documents=1, **OPTIONS
        )
    killed = marker.read_text()
    assert killed.isdigit(), f"no worker was killed mid-task ({killed})"
    with pytest.raises(ProcessLookupError):
        os.kill(int(killed), 0)  # that worker process is gone
    assert (report.indexed, report.failed, report.seen) == (len(TOPICS), 0, len(TOPICS))
    assert_same_points(points(store), plain)

    again = chunkwise.ingest(corpus, store=store, collection="docs", workers=1, **OPTIONS)
    assert (again.unchanged, again.indexed) == (len(TOPICS), 0)  # incremental, as in any run


def test_dask_joins_a_running_cluster(corpus: Path, plain: dict, cluster: LocalCluster, tmp_path: Path):
    """--dask ADDRESS: the batch runs on the cluster's workers and is written by this process; a
    second run indexes only the new document and reports a broken one (one batch a run: a worker's
    first task loads the model, and the --workers test spreads batches already)."""
    store, address = tmp_path / "store", cluster.scheduler_address
    (corpus / "comets.txt").rename(tmp_path / "comets.txt")  # added back for the second run
    try:
        first = chunkwise.ingest(
            corpus, store=store, collection="docs", dask=address, batch_documents=len(TOPICS), **OPTIONS
        )
    finally:
        (tmp_path / "comets.txt").rename(corpus / "comets.txt")
    assert (first.indexed, first.failed) == (len(TOPICS) - 1, 0)
    broken = corpus / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a pdf body\n")  # fails on a worker: reported, not fatal
    try:
        second = chunkwise.ingest(
            corpus, store=store, collection="docs", dask=address, batch_documents=len(TOPICS), **OPTIONS
        )
    finally:
        broken.unlink()
    assert (second.indexed, second.unchanged, second.failed) == (1, len(TOPICS) - 1, 1)
    [failure] = second.errors
    assert failure.source.endswith("broken.pdf") and failure.stage == "parse"
    assert_same_points(points(store), plain)


def test_workers_write_every_named_vector_and_learned_weights_as_one_process_does(
    corpus: Path, cluster: LocalCluster, tmp_path: Path, splade_model: str
):
    """Late chunking with the chunk-alone vector beside the late one, a ColBERT model's token vectors
    (late slices of the document pass) and SPLADE weights, embedded on the cluster's workers: the
    collection equals the one a single process builds."""
    options = {
        **OPTIONS,
        "chunking": "late",
        "alone_vector": True,
        "multivector_model": save_tiny_colbert(tmp_path / "colbert"),
        "sparse_model": splade_model,
    }
    alone, on_workers = tmp_path / "alone", tmp_path / "workers"
    assert chunkwise.ingest(corpus, store=alone, collection="docs", **options).indexed == len(TOPICS)
    report = chunkwise.ingest(
        corpus, store=on_workers, collection="docs", dask=cluster.scheduler_address, **options
    )
    assert (report.indexed, report.failed) == (len(TOPICS), 0)
    built = points(on_workers)
    assert {name for point in built.values() for name in point.named} == {"alone", "multivector"}
    assert_same_points(built, points(alone))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dask", "tcp://127.0.0.1:8786", "--workers", "2"], "give one of them"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--dask", "tcp://127.0.0.1:{port}"], "cannot reach a Dask scheduler at tcp://127.0.0.1:"),
    ],
    ids=["both", "no-workers", "unreachable"],
)
def test_bad_dask_options_exit_1_with_a_message(arguments: list[str], message: str, corpus: Path, tmp_path):
    arguments = [argument.format(port=_closed_port()) for argument in arguments]
    result = subprocess.run(
        [CHUNKWISE, "ingest", str(corpus), "--store", str(tmp_path / "store"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "store").exists()  # refused before anything was opened
