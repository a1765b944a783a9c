"""Quantized collections in the embedded store: recall@10 against exact search, query p50 and memory.

For each quantization (none, scalar int8, binary), side by side in one run:

1. a child process writes N 384-d unit vectors into a fresh Qdrant Edge collection and closes the
   store, which builds the HNSW index and the quantized copy (``build_s``, ``folder_mb``);
2. another child process opens that folder, as a reader serving queries would, runs 10 warm-up
   and Q timed queries (k=10; ``query_p50_ms``, ``query_p95_ms``) and reports its peak RSS
   (``serve_rss_mb``, memory-mapped file pages included) and its anonymous memory after the
   queries (``serve_anon_mb``, what the engine allocated; no model is loaded);
3. ``recall_at_10``: the share of each query's 10 exact nearest neighbours (numpy, over all N
   vectors) that the store returned.

Vectors: ``clustered`` (default) draws N points around 2,000 random centres (a few hundred points
per topic, as chunk embeddings of a corpus cluster), normalised; ``random`` draws uniform unit
vectors, the worst case for every index. Queries are drawn the same way with another seed. No
model is loaded: the vectors stand in for MiniLM's 384 dimensions, and real embeddings may
quantize better or worse than either distribution.

Run::

    .venv/bin/python benchmarks/quantization.py --points 100000
    .venv/bin/python benchmarks/quantization.py --points 1000000 --json
"""

from __future__ import annotations

import argparse
import json
import resource
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
    from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore

    queries = vectors(arguments.vectors, arguments.queries + WARMUP, seed=1)
    found: list[list[int]] = []
    timings = []
    with QdrantEdgeStore(folder) as store:
        for number, query in enumerate(queries):
            started = time.perf_counter()
            hits = store.search("bench", query, k=10)
            if number >= WARMUP:
                timings.append((time.perf_counter() - started) * 1000)
                found.append([int(hit.id.rsplit("-", 1)[1]) for hit in hits])
        anonymous = _status_mb("RssAnon")  # the store's own memory, while it is still open
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "query_p50_ms": round(float(np.percentile(timings, 50)), 2),
        "query_p95_ms": round(float(np.percentile(timings, 95)), 2),
        "serve_rss_mb": round(rss, 1),
        "serve_anon_mb": anonymous,
        "found": found,
    }


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
    parser.add_argument("--json", action="store_true", help="one JSON row per quantization")
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
        for quantization in arguments.kinds.split(","):
            folder = Path(scratch) / quantization
            row: dict[str, Any] = {"quantization": quantization, "points": arguments.points}
            row |= child("build", folder, quantization, arguments)
            served = child("serve", folder, quantization, arguments)
            found = served.pop("found")
            hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
            row |= served | {"recall_at_10": round(hits / truth.size, 4), "vectors": arguments.vectors}
            rows.append(row)
            print(json.dumps(row) if arguments.json else row, flush=True)
    if not arguments.json:
        columns = (
            "quantization | points | recall@10 | p50 ms | p95 ms | RSS MB | anon MB | folder MB | build s"
        )
        print(f"\n| {columns} |")
        print("|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['quantization']} | {row['points']:,} | {row['recall_at_10']:.3f} | "
                f"{row['query_p50_ms']} | {row['query_p95_ms']} | {row['serve_rss_mb']} | "
                f"{row['serve_anon_mb']} | "
                f"{row['folder_mb']} | {row['build_s']} |"
            )


if __name__ == "__main__":
    main()
