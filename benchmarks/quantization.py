"""Quantized collections in the embedded store: recall@10 against exact search, query p50 and memory.

For each quantization (none, scalar int8, binary), side by side in one run:

1. a child process writes N 384-d unit vectors into a fresh Qdrant Edge collection and closes the
   store, which builds the HNSW index and the quantized copy (``build_s``, ``folder_mb``);
2. another child process opens that folder, as a reader serving queries would, and for each
   oversampling (``--oversampling``: quantized candidates per hit rescored on the originals; a
   collection without quantization is searched once) runs 10 warm-up and Q timed queries (k=10;
   ``query_p50_ms``, ``query_p95_ms``), after one untimed pass over all the queries. It reports
   its memory from /proc (no model is loaded): resident before the store is opened
   (``base_rss_mb``: the interpreter and imports), its peak (``serve_peak_mb``, VmHWM:
   memory-mapped file pages included), and after the queries at every oversampling its anonymous
   memory (``serve_anon_mb``: what the engine allocated) and its file-backed pages
   (``serve_file_mb``: the store's files read in, and the libraries);
3. ``recall_at_10``: the share of each query's 10 exact nearest neighbours (numpy, over all N
   vectors) that the store returned.

``--keep DIR`` builds the collections under DIR and keeps them; a later run with the same
``--keep DIR``, points and vectors serves them again without building (the build figures come from
DIR); other points or vectors build them anew.

Vectors: ``clustered`` (default) draws N points around 2,000 random centres (a few hundred points
per topic, as chunk embeddings of a corpus cluster), normalised; ``random`` draws uniform unit
vectors, the worst case for every index. Queries are drawn the same way with another seed. No
model is loaded: the vectors stand in for MiniLM's 384 dimensions, and real embeddings may
quantize better or worse than either distribution.

Run::

    .venv/bin/python benchmarks/quantization.py --points 100000 --oversampling 2,4,8,16
    .venv/bin/python benchmarks/quantization.py --points 1000000 --oversampling 2,4,8,16 --keep /tmp/q1m
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 384
CENTRES = 2000
KINDS = ("none", "scalar", "binary")
WARMUP = 10
BATCH = 10_000


def vectors(kind: str, count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors: around fixed centres (``clustered``) or uniform (``random``)."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        drawn = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    else:
        centres = np.random.default_rng(12345).standard_normal((CENTRES, DIMENSION), dtype=np.float32)
        drawn = centres[rng.integers(0, CENTRES, count)]
        drawn += 0.8 * rng.standard_normal((count, DIMENSION), dtype=np.float32)
    drawn /= np.linalg.norm(drawn, axis=1, keepdims=True)
    return drawn


def point_id(index: int) -> str:
    return f"00000000-0000-0000-0000-{index:012d}"


def build(folder: Path, quantization: str, arguments: argparse.Namespace) -> dict[str, Any]:
    from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
    from chunkwise.pipeline.fingerprint import Fingerprint
    from chunkwise.pipeline.points import Point

    fingerprint = Fingerprint(model="benchmark/vectors", dimension=DIMENSION, chunking={})
    data = vectors(arguments.vectors, arguments.points, seed=0)
    started = time.perf_counter()
    with QdrantEdgeStore(folder, quantization=None if quantization == "none" else quantization) as store:
        store.ensure_collection("bench", fingerprint)
        for start in range(0, len(data), BATCH):
            store.write_points(
                "bench",
                [
                    Point(id=point_id(i), vector=data[i], payload={"document_id": f"d{i // 10}"})
                    for i in range(start, min(start + BATCH, len(data)))
                ],
            )
    size = sum(path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file())
    return {"build_s": round(time.perf_counter() - started, 1), "folder_mb": round(size / 2**20, 1)}


def serve(folder: Path, arguments: argparse.Namespace) -> dict[str, Any]:
    """One row per oversampling (one for a collection without quantization), and the memory."""
    from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore

    queries = vectors(arguments.vectors, arguments.queries + WARMUP, seed=1)
    base = _status_mb("VmRSS")
    searched = []
    with QdrantEdgeStore(folder) as store:
        for query in queries:  # one untimed pass: the first oversampling timed is not the coldest
            store.search("bench", query, k=10)
        factors = arguments.oversampling if store.quantization_of("bench") else [None]
        for factor in factors:
            if factor is not None:  # None: a collection without quantization, searched once
                store.oversampling = factor
            found: list[list[int]] = []
            timings = []
            for number, query in enumerate(queries):
                started = time.perf_counter()
                hits = store.search("bench", query, k=10)
                if number >= WARMUP:
                    timings.append((time.perf_counter() - started) * 1000)
                    found.append([int(hit.id.rsplit("-", 1)[1]) for hit in hits])
            searched.append(
                {
                    "oversampling": factor,
                    "query_p50_ms": round(float(np.percentile(timings, 50)), 2),
                    "query_p95_ms": round(float(np.percentile(timings, 95)), 2),
                    "found": found,
                }
            )
        memory = {  # the store is still open
            "base_rss_mb": base,
            "serve_peak_mb": _status_mb("VmHWM"),
            "serve_anon_mb": _status_mb("RssAnon"),
            "serve_file_mb": _status_mb("RssFile"),
        }
    return {"searched": searched, "memory": memory}


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc (Linux), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def exact_neighbours(arguments: argparse.Namespace) -> np.ndarray:
    data = vectors(arguments.vectors, arguments.points, seed=0)
    queries = vectors(arguments.vectors, arguments.queries + WARMUP, seed=1)[WARMUP:]
    scores = queries @ data.T
    return np.argsort(-scores, axis=1)[:, :10]


def child(step: str, folder: Path, quantization: str, arguments: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        step,
        "--folder",
        str(folder),
        "--quantization",
        quantization,
    ]
    command += ["--points", str(arguments.points), "--queries", str(arguments.queries)]
    command += ["--vectors", arguments.vectors]
    command += ["--oversampling", ",".join(str(factor) for factor in arguments.oversampling)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} {quantization} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", choices=("clustered", "random"), default="clustered")
    parser.add_argument("--kinds", default=",".join(KINDS), help="quantizations to compare")
    parser.add_argument(
        "--oversampling",
        default="2",
        type=lambda text: [float(factor) for factor in text.split(",")],
        help="quantized candidates per hit rescored on the originals, each searched (default 2)",
    )
    parser.add_argument("--keep", type=Path, help="build the collections here and keep them (reused)")
    parser.add_argument("--json", action="store_true", help="one JSON row per quantization and oversampling")
    parser.add_argument("--child", choices=("build", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quantization", default="none", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child == "build":
        print(json.dumps(build(arguments.folder, arguments.quantization, arguments)))
        return
    if arguments.child == "serve":
        print(json.dumps(serve(arguments.folder, arguments)))
        return
    truth = exact_neighbours(arguments)
    rows = []
    with tempfile.TemporaryDirectory(prefix="chunkwise-quantization-") as scratch:
        root = arguments.keep or Path(scratch)
        for quantization in arguments.kinds.split(","):
            built = _built(root / quantization, quantization, arguments)
            served = child("serve", root / quantization, quantization, arguments)
            for search in served["searched"]:
                found = search.pop("found")
                hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
                row = {"quantization": quantization, "points": arguments.points, **search}
                row |= {"recall_at_10": round(hits / truth.size, 4)} | served["memory"] | built
                rows.append(row | {"vectors": arguments.vectors})
                print(json.dumps(rows[-1]) if arguments.json else rows[-1], flush=True)
    if not arguments.json:
        print_table(rows)


def _built(folder: Path, quantization: str, arguments: argparse.Namespace) -> dict[str, Any]:
    """The build figures of ``folder``: kept from an earlier run with ``--keep`` of the same points
    and vectors, or built now (anew: whatever the folder held is removed first)."""
    record = folder.with_name(f"{quantization}.build.json")
    made_of = {"points": arguments.points, "vectors": arguments.vectors, "dimension": DIMENSION}
    if arguments.keep is not None and folder.is_dir() and record.is_file():
        kept = json.loads(record.read_text())
        if kept.get("made_of") == made_of:
            return {name: kept[name] for name in ("build_s", "folder_mb")}
    shutil.rmtree(folder, ignore_errors=True)
    record.unlink(missing_ok=True)
    built = child("build", folder, quantization, arguments)
    if arguments.keep is not None:
        record.write_text(json.dumps({**built, "made_of": made_of}))
    return built


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = (
        "quantization | oversampling | points | recall@10 | p50 ms | p95 ms | base RSS MB | peak RSS MB"
        " | anon MB | file MB | folder MB | build s"
    )
    print(f"\n| {columns} |")
    print("|" + "---|" * (columns.count("|") + 1))
    for row in rows:
        cells = [row["quantization"], row["oversampling"] or "-", f"{row['points']:,}"]
        cells += [f"{row['recall_at_10']:.3f}", row["query_p50_ms"], row["query_p95_ms"], row["base_rss_mb"]]
        cells += [row["serve_peak_mb"], row["serve_anon_mb"], row["serve_file_mb"]]
        cells += [row["folder_mb"], row["build_s"]]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


if __name__ == "__main__":
    main()
