"""Vector-store backends side by side: upsert throughput, query latency and memory at N points.

For each backend, in its own process (so its peak RSS is its own and backends don't disturb each
other), in a fresh temporary folder, with one collection of 384-d cosine vectors:

a. upsert: N deterministic random unit vectors (numpy seed), made in chunks of 10,000 points, each
   with a payload like a real chunk's (built by ``pipeline.points.chunk_payload``: ``document_id``
   shared by 10 consecutive points, ``source``, a ~400-character ``text``, ``chunk_index``, ...) and a
   uuid5 id; ``upsert_points_per_s`` = N / the wall seconds spent inside ``store.write_points``
   (making the vectors and payloads is not timed, the store's conversion of them is); then
   ``upsert_bare_points_per_s``: up to 50,000 points with an id and a dense vector only, into a
   scratch collection, which separates the engine's rate from the cost of converting payloads;
b. Qdrant Edge only: 50 queries on the unindexed collection (``query_unindexed_p50_ms``: exact
   search, what a collection serves before a run closes the store), then ``store.optimize()`` timed
   alone (``index_build_s``), as ``close()`` runs it (segments under ``index_after`` = 20,000
   points stay unindexed: exact search is as fast there);
c. query latency: 10 warm-up queries, then 200 random unit query vectors, k=10, through
   ``store.search`` (p50 and p95 in ms); a query filtered on one existing ``document_id`` (p50);
   a hybrid dense + sparse query (p50; every point has 48 sparse terms, as ingest stores BM25
   weights by default; ``--no-sparse`` leaves them out); top-1 self-recall of 50 stored vectors;
d. ``close()`` (``close_s``), then a new store object on the same folder up to its first answer
   (``reopen_s``); peak RSS of the process (``rss_mb``).

Backends: ``qdrant-edge``, the embedded default (``QdrantEdgeStore``, Qdrant Edge in-process), and
``qdrant-client-local`` (``QdrantServerStore`` on a folder: qdrant-client's local mode, standing in
for the server store). Local mode writes about 600 points/s to disk and holds every point in memory,
so it is skipped above ``--max-local-points`` (20,000).

Targets for the embedded default at 100,000 points: upsert >= 20,000 points/s, query p50 <= 5 ms.

Run::

    .venv/bin/python benchmarks/store.py --points 100000             # both backends, a table
    .venv/bin/python benchmarks/store.py --points 1000000 --backends edge
    .venv/bin/python benchmarks/store.py --points 3000 --json
"""

from __future__ import annotations

import sys
from pathlib import Path

from chunkwise.flows.environment import quiet_libraries

quiet_libraries()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore  # noqa: E402
from chunkwise.connectors.qdrant_server_store import QdrantServerStore  # noqa: E402
from chunkwise.connectors.stores import Store  # noqa: E402
from chunkwise.pipeline.fingerprint import Fingerprint  # noqa: E402
from chunkwise.pipeline.ids import chunk_id, document_id  # noqa: E402
from chunkwise.pipeline.points import Point, chunk_payload  # noqa: E402
from chunkwise.pipeline.types import Chunk, Document, SparseVector  # noqa: E402

BACKENDS = {"edge": "qdrant-edge", "local": "qdrant-client-local"}
DEFAULT_BACKEND = "edge"
COLLECTION = "bench"
BARE_COLLECTION = "bench-bare"
BARE_POINTS = 50_000
DIMENSION = 384
FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2",
    dimension=DIMENSION,
    chunking={"strategy": "fixed", "chunk_size": 200, "chunk_overlap": 20},
)
CHUNKS_PER_DOCUMENT = 10
TEXT_CHARS = 400
WARMUP = 10
UNINDEXED_QUERIES = 50
SELF_RECALL_SAMPLE = 50
SPARSE_VOCABULARY = 2**15  # a power of two: odd strides give distinct term ids
SPARSE_TERMS = 48
SPARSE_QUERY_TERMS = 6
FILLER = (
    "The store keeps every chunk of a document as a point: its dense vector, its sparse term weights "
    "and a payload with the text, the source and where the chunk starts and ends. A search finds the "
    "closest vectors with the HNSW graph, filters on the payload indexes of document_id and source, "
    "and fuses dense and sparse rankings by reciprocal rank when both are asked for. Writes go to a "
    "write-ahead log first and are durable once the call returns; the index is built when enough "
    "points are waiting for it, or when asked. "
) * 3
REQUIRED_KEYS = ("upsert_points_per_s", "query_p50_ms", "query_p95_ms", "rss_mb")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data ------------------------------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def sparse_vectors(rng: np.random.Generator, count: int, terms: int) -> list[SparseVector]:
    """``count`` BM25-like sparse vectors of ``terms`` distinct term ids each."""
    offsets = rng.integers(0, SPARSE_VOCABULARY, size=(count, 1))
    strides = 2 * rng.integers(1, 512, size=(count, 1)) + 1
    indices = np.sort((offsets + strides * np.arange(terms)) % SPARSE_VOCABULARY, axis=1)
    values = rng.random((count, terms), dtype=np.float32) * 2 + 0.1
    pairs = zip(indices.tolist(), values.tolist(), strict=True)
    return [SparseVector(indices=tuple(i), values=tuple(v)) for i, v in pairs]


def source_of(document: int) -> str:
    return f"/corpus/docs/{document // 1000:04d}/document-{document:07d}.md"


def document_of(index: int) -> Document:
    """The document point ``index`` belongs to (10 consecutive points per document)."""
    number = index // CHUNKS_PER_DOCUMENT
    source = source_of(number)
    return Document(
        id=document_id(source),
        source=source,
        text="",
        content_hash=hashlib.sha256(source.encode()).hexdigest(),
        metadata={"title": f"Document {number}", "suffix": ".md"},
    )


def make_point(index: int, total: int, vector: np.ndarray, sparse: SparseVector | None) -> Point:
    """Point ``index``: a payload as the pipeline builds it for a chunk, and a uuid5 id."""
    document = document_of(index)
    position = index % CHUNKS_PER_DOCUMENT
    first = index - position
    chunk_count = min(CHUNKS_PER_DOCUMENT, total - first)
    offset = (index * 53) % (len(FILLER) - TEXT_CHARS)
    text = f"Chunk {position} of document {index // CHUNKS_PER_DOCUMENT}. " + FILLER[offset:]
    text = text[:TEXT_CHARS]
    start = position * (TEXT_CHARS - 40)
    chunk = Chunk(
        id=chunk_id(document.id, document.content_hash, start, start + len(text)),
        document_id=document.id,
        index=position,
        text=text,
        start=start,
        end=start + len(text),
        token_count=len(text) // 4,
        metadata={"element_kinds": ["paragraph"], "section": f"Section {position // 3}"},
    )
    payload = chunk_payload(document, chunk, FINGERPRINT, chunk_count)
    return Point(id=chunk.id, vector=vector, payload=payload, sparse=sparse)


def point_batches(total: int, chunk: int, seed: int, with_sparse: bool) -> Iterator[list[Point]]:
    """All ``total`` points, ``chunk`` at a time, the same for every backend."""
    rng = np.random.default_rng(seed)
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        vectors = unit_vectors(rng, count)
        sparse: list[SparseVector | None] = [None] * count
        if with_sparse:
            sparse = list(sparse_vectors(rng, count, SPARSE_TERMS))
        yield [make_point(start + i, total, vectors[i], sparse[i]) for i in range(count)]


# -- measuring (in the child process) --------------------------------------------------------


def open_store(backend: str, folder: Path) -> Store:
    if backend == "edge":
        return QdrantEdgeStore(folder / "edge")
    return QdrantServerStore(str(folder / "local"))


def latencies_ms(run: Callable[[int], object], count: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of ``run(i)`` for ``count`` calls after ``warmup`` untimed ones."""
    for i in range(warmup):
        run(count + i)
    times = []
    for i in range(count):
        started = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def bare_upsert_rate(store: Store, arguments: argparse.Namespace) -> float:
    """Points/s of ``write_points`` for points with an id and a dense vector only (no payload, no
    sparse terms), into a scratch collection: the engine's own rate, without payload conversion."""
    count = min(arguments.points, BARE_POINTS)
    vectors = unit_vectors(np.random.default_rng(arguments.seed), count)
    points = [Point(id=str(uuid.UUID(int=i + 1)), vector=vectors[i], payload={}) for i in range(count)]
    store.ensure_collection(BARE_COLLECTION, FINGERPRINT)
    started = time.perf_counter()
    for start in range(0, count, arguments.chunk):
        store.write_points(BARE_COLLECTION, points[start : start + arguments.chunk])
    rate = count / (time.perf_counter() - started)
    store.drop_collection(BARE_COLLECTION)
    return round(rate, 1)


def measure(backend: str, arguments: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """One backend's row: upsert, index build (Edge), queries, close and reopen, peak RSS."""
    total, k, queries = arguments.points, arguments.k, arguments.queries
    name = BACKENDS[backend]
    row: dict[str, Any] = {"backend": name, "default": backend == DEFAULT_BACKEND, "points": total}
    store = open_store(backend, folder)
    store.ensure_collection(COLLECTION, FINGERPRINT)

    upsert_seconds, written = 0.0, 0
    sampled = set(np.linspace(0, total - 1, min(total, SELF_RECALL_SAMPLE), dtype=int).tolist())
    sample: list[tuple[str, np.ndarray]] = []
    next_log = time.perf_counter() + 10
    for batch in point_batches(total, arguments.chunk, arguments.seed, arguments.sparse):
        sample += [(p.id, p.vector.copy()) for i, p in enumerate(batch, written) if i in sampled]
        started = time.perf_counter()
        store.write_points(COLLECTION, batch)
        upsert_seconds += time.perf_counter() - started
        written += len(batch)
        if time.perf_counter() >= next_log or written == total:
            log(f"{name}: {written:,}/{total:,} points written ({written / upsert_seconds:,.0f} points/s)")
            next_log = time.perf_counter() + 10
    stored = store.count(COLLECTION)
    if stored != total:
        raise SystemExit(f"{name}: {stored} points stored, {total} written")
    row["upsert_s"] = round(upsert_seconds, 3)
    row["upsert_points_per_s"] = round(total / upsert_seconds, 1)
    row["upsert_bare_points_per_s"] = bare_upsert_rate(store, arguments)

    query_rng = np.random.default_rng(arguments.seed + 1)
    vectors = unit_vectors(query_rng, queries + WARMUP)
    sparse_queries = sparse_vectors(query_rng, queries + WARMUP, SPARSE_QUERY_TERMS)
    documents = max(1, (total + CHUNKS_PER_DOCUMENT - 1) // CHUNKS_PER_DOCUMENT)
    filter_documents = [
        document_id(source_of(int(d))) for d in query_rng.integers(0, documents, size=queries + WARMUP)
    ]

    def dense(i: int) -> None:
        hits = store.search(COLLECTION, vectors[i], k)
        assert len(hits) == min(k, total)

    def filtered(i: int) -> None:
        hits = store.search(COLLECTION, vectors[i], k, {"document_id": filter_documents[i]})
        assert hits and all(h.payload["document_id"] == filter_documents[i] for h in hits)

    def hybrid(i: int) -> None:
        assert store.search(COLLECTION, vectors[i], k, sparse=sparse_queries[i])

    if isinstance(store, QdrantEdgeStore):
        unindexed = min(queries, UNINDEXED_QUERIES)
        log(f"{name}: {unindexed} queries before the index is built ...")
        row["query_unindexed_p50_ms"] = percentile(latencies_ms(dense, unindexed, warmup=5), 50)
        log(f"{name}: building the index ...")
        started = time.perf_counter()
        store.optimize(COLLECTION)
        row["index_build_s"] = round(time.perf_counter() - started, 3)
        row["indexed_vectors"] = store.indexed_points(COLLECTION)[1]
    else:
        row["query_unindexed_p50_ms"] = None
        row["index_build_s"] = None

    log(f"{name}: {queries} queries ...")
    times = latencies_ms(dense, queries)
    row["query_p50_ms"] = percentile(times, 50)
    row["query_p95_ms"] = percentile(times, 95)
    row["query_filtered_p50_ms"] = percentile(latencies_ms(filtered, queries), 50)
    row["hybrid_p50_ms"] = percentile(latencies_ms(hybrid, queries), 50) if arguments.sparse else None
    found = sum(store.search(COLLECTION, vector, 1)[0].id == point_id for point_id, vector in sample)
    row["self_recall_at_1"] = round(found / len(sample), 3)

    started = time.perf_counter()
    store.close()
    row["close_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    reopened = open_store(backend, folder)
    reopened.search(COLLECTION, vectors[0], k)
    row["reopen_s"] = round(time.perf_counter() - started, 3)
    reopened.close()
    row["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def child(backend: str, arguments: argparse.Namespace) -> None:
    """Measure one backend in a temporary folder and print its row as one line of JSON."""
    with tempfile.TemporaryDirectory(prefix=f"store-bench-{backend}-", dir=arguments.dir) as folder:
        row = measure(backend, arguments, Path(folder))
    print(json.dumps(row), flush=True)


# -- the parent: one child per backend, then the table ---------------------------------------


def run_backend(backend: str, arguments: argparse.Namespace) -> dict[str, Any]:
    """The row printed by a child process measuring ``backend`` (a row with ``error`` if it failed)."""
    name = BACKENDS[backend]
    command = [sys.executable, str(Path(__file__).resolve()), "--child", backend]
    command += ["--points", str(arguments.points), "--queries", str(arguments.queries)]
    command += ["--k", str(arguments.k), "--seed", str(arguments.seed), "--chunk", str(arguments.chunk)]
    if arguments.sparse:
        command.append("--sparse")
    if arguments.dir:
        command += ["--dir", str(arguments.dir)]
    log(f"{name}: measuring {arguments.points:,} points in a child process ...")
    process = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    lines = process.stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return _empty_row(backend, arguments.points) | {"error": f"the child exited {process.returncode}"}
    return json.loads(lines[-1])


def _empty_row(backend: str, points: int) -> dict[str, Any]:
    row: dict[str, Any] = {"backend": BACKENDS[backend], "default": backend == DEFAULT_BACKEND}
    return row | {"points": points} | dict.fromkeys(REQUIRED_KEYS)


def measure_all(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for backend in arguments.backends:
        if backend == "local" and arguments.points > arguments.max_local_points:
            reason = (
                f"{arguments.points:,} points > --max-local-points {arguments.max_local_points:,}: "
                "qdrant-client local mode writes about 600 points/s to disk and holds every point "
                "in memory, so it would take longer than the run is worth"
            )
            log(f"{BACKENDS[backend]}: skipped ({reason})")
            rows.append(_empty_row(backend, arguments.points) | {"skipped": reason})
        else:
            rows.append(run_backend(backend, arguments))
    return rows


# (label, key, format, ratio shown) of the table's lines
LINES = (
    ("upsert, points/s", "upsert_points_per_s", "{:,.0f}", True),
    ("upsert, s", "upsert_s", "{:.2f}", False),
    ("upsert of id + vector only, points/s", "upsert_bare_points_per_s", "{:,.0f}", True),
    ("queries before the index, p50 ms", "query_unindexed_p50_ms", "{:.2f}", False),
    ("index build, s", "index_build_s", "{:.2f}", False),
    ("dense vectors in the HNSW index after it", "indexed_vectors", "{:,}", False),
    ("query p50, ms", "query_p50_ms", "{:.2f}", True),
    ("query p95, ms", "query_p95_ms", "{:.2f}", True),
    ("query filtered on document_id, p50 ms", "query_filtered_p50_ms", "{:.2f}", True),
    ("hybrid query (dense + sparse), p50 ms", "hybrid_p50_ms", "{:.2f}", True),
    ("top-1 self-recall", "self_recall_at_1", "{:.0%}", False),
    ("close, s", "close_s", "{:.2f}", False),
    ("reopen to first answer, s", "reopen_s", "{:.2f}", True),
    ("peak RSS, MB", "rss_mb", "{:,.0f}", True),
)


def print_table(rows: list[dict[str, Any]], arguments: argparse.Namespace) -> None:
    sparse = " with sparse vectors" if arguments.sparse else ""
    print(
        f"{arguments.points:,} points of {DIMENSION}-d unit vectors{sparse}, {arguments.queries} queries "
        f"(k={arguments.k}), each backend in its own process\n"
    )
    names = [row["backend"] + (" (default)" if row["default"] else "") for row in rows]
    measured = [row for row in rows if not row.get("skipped") and not row.get("error")]
    ratio = len(measured) == 2
    header = ["measure", *names] + (["edge / local"] if ratio else [])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, key, form, with_ratio in LINES:
        if measured and all(row.get(key) is None for row in measured):
            continue
        cells = []
        for row in rows:
            value = row.get(key)
            if row.get("skipped"):
                cells.append("skipped")
            elif row.get("error"):
                cells.append("failed")
            else:
                cells.append("-" if value is None else form.format(value))
        if ratio:
            first, second = (row.get(key) for row in measured)
            cells.append(f"{first / second:.3g}x" if with_ratio and first and second else "")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for row in rows:
        if row.get("skipped"):
            print(f"- {row['backend']} skipped: {row['skipped']}")
        if row.get("error"):
            print(f"- {row['backend']} failed: {row['error']} (its messages are above, on stderr)")
    for row in measured:
        if row["default"]:
            print(
                f"- {row['backend']}: upsert {row['upsert_points_per_s']:,.0f} points/s, query p50 "
                f"{row['query_p50_ms']:.2f} ms (targets at 100,000 points: >= 20,000 points/s, <= 5 ms)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="points to write [default: 100000]")
    parser.add_argument(
        "--backends",
        default="edge,local",
        help="comma-separated, of: edge (qdrant-edge), local (qdrant-client-local) [default: edge,local]",
    )
    parser.add_argument(
        "--max-local-points",
        type=int,
        default=20_000,
        help="skip the local backend above this many points [default: 20000]",
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries of each kind [default: 200]")
    parser.add_argument("--k", type=int, default=10, help="hits per query [default: 10]")
    parser.add_argument(
        "--sparse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give every point sparse term weights too (as `chunkwise ingest` does) and time hybrid queries",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random vectors [default: 0]")
    parser.add_argument(
        "--chunk", type=int, default=10_000, help="points made and written at a time [default: 10000]"
    )
    parser.add_argument("--dir", type=Path, help="where the temporary stores go [default: the system's]")
    parser.add_argument("--json", action="store_true", help="print one JSON row per backend")
    parser.add_argument("--child", choices=sorted(BACKENDS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if min(arguments.points, arguments.queries, arguments.k, arguments.chunk) < 1:
        parser.error("--points, --queries, --k and --chunk must be >= 1")
    if arguments.child:
        child(arguments.child, arguments)
        return
    backends = [b.strip() for b in arguments.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        parser.error(f"--backends: choose from {', '.join(BACKENDS)} (not {', '.join(unknown) or 'nothing'})")
    arguments.backends = sorted(set(backends), key=list(BACKENDS).index)
    rows = measure_all(arguments)
    if arguments.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, arguments)


if __name__ == "__main__":
    main()
