"""Late and chunk-alone vectors side by side: ``--alone-vector`` stores both, queries fuse their rankings.

Real components: unstructured, the bundled MiniLM, Qdrant Edge, the CLI in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chunkwise
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.flows.evaluate import configuration_grid, describe, label
from chunkwise.flows.settings import IngestOptions

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
QUESTION = "Which command lists the packages that are held back?"
DOCUMENTS = {
    "apt.md": "# Package tools\n\n"
    + "\n\n".join(
        f"## Tool {i}\n\n`apt-mark showhold` lists held packages; step {i} pins a version with apt "
        f"preferences, and `apt-cache policy` shows the candidate of package number {i}."
        for i in range(8)
    ),
    "kernel.md": "# Kernels\n\n"
    + "\n\n".join(
        f"## Part {i}\n\nThe kernel image of release {i} is installed with its headers and modules; "
        "old kernels are removed by autoremove once a newer one boots."
        for i in range(8)
    ),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alone")
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    report = chunkwise.ingest(
        folder,
        store=root / "store",
        collection="docs",
        chunking="late",
        chunk_size=48,
        chunk_overlap=0,
        headers=False,
        alone_vector=True,
    )
    assert report.failed == 0 and report.indexed == 2
    return root / "store"


def test_each_chunk_stores_its_late_vector_and_its_vector_alone(ingested: Path, encoder) -> None:
    with QdrantEdgeStore(ingested) as store:
        fingerprint = store.fingerprint("docs")
        points = list(store.points("docs"))

    assert fingerprint is not None
    assert fingerprint.vectors["alone"]["kind"] == "dense" and fingerprint.vectors["alone"]["size"] == 384
    assert fingerprint.dense_names == ("dense", "alone")
    alone = encoder.encode_documents([point.payload["text"] for point in points])
    late = np.stack([point.vector for point in points])
    stored_alone = np.stack([point.named["alone"] for point in points])
    assert np.min(np.sum(stored_alone * alone, axis=1)) > 0.9999  # the chunk's text, embedded alone
    assert np.min(np.sum(late * alone, axis=1)) < 0.99  # the late vectors carry their context


def test_dense_and_hybrid_queries_fuse_the_late_and_alone_rankings(ingested: Path, encoder) -> None:
    query = encoder.encode_query(QUESTION)
    for mode in ("dense", "hybrid"):
        retriever = chunkwise.open_retriever(ingested, "docs", mode=mode, k=6, fusion="rrf")
        try:
            found = [document.id for document in retriever.invoke(QUESTION)]
            store = retriever.store
            sparse = retriever.sparse_encoder.encode_query(QUESTION) if mode == "hybrid" else None
            fused = store.search("docs", query, 6, sparse=sparse, using=("dense", "alone"))
            late_only = store.search("docs", query, 6, sparse=sparse)
        finally:
            retriever.close()
        assert found == [hit.id for hit in fused], mode
        rankings = 3 if mode == "hybrid" else 2
        assert all(0 < hit.score <= rankings / 60 + 1e-6 for hit in fused)  # RRF over every ranking
        assert [hit.score for hit in fused] != [hit.score for hit in late_only]


def test_the_alone_vector_needs_late_chunking_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nSome text.", encoding="utf-8")
    command = [CHUNKWISE, "ingest", str(tmp_path / "a.md"), "--store", str(tmp_path / "s")]
    result = subprocess.run(
        [*command, "--chunking", "fixed", "--alone-vector"],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode != 0
    assert "alone_vector" in result.stderr + result.stdout and "late" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_the_evaluation_grid_scores_late_with_and_without_the_alone_vector() -> None:
    grid = configuration_grid(
        IngestOptions(chunk_size=128, chunk_overlap=0),
        {"chunking": ["fixed", "late"], "alone_vector": [False, True]},
    )

    labels = [label(describe(options)) for options in grid]
    assert len(grid) == 3  # fixed chunking has no late vector to keep the alone one beside
    assert sum("&alone" in text for text in labels) == 1
    assert [options.alone_vector for options in grid if options.chunking == "fixed"] == [False]
