"""The retriever's latency at N chunks in the embedded store, query embedding included.

1. The 16 pages of ``../shared/eval/debian-faq`` are parsed (unstructured) and cut into chunks of
   200 tokens (the ingest default), which gives about 200 real chunk texts.
2. A Qdrant Edge collection of N points (default 100,000) is written: document ``d`` holds 10
   chunks whose texts cycle through those real texts, with the payload ingest builds
   (``chunk_payload``) and the texts' real BM25 weights. Dense vectors are random unit vectors
   (embedding 100,000 chunks with MiniLM would take an hour here; random vectors are the hard case
   for an HNSW graph, so latencies are if anything pessimistic). The store is closed (which builds
   the HNSW index, as after an ingest) and opened again.
3. ``open_retriever`` reads the collection's fingerprint and loads MiniLM itself; the set's 123
   real questions are run after 10 warm-up ones, through ``retriever.invoke``, in each setting:
   ``dense``, ``sparse``, ``hybrid`` (the default), hybrid with ``expand=1`` and
   ``expand="section"``, with a source glob filter, and with MMR. Beside them: the query embedding
   alone, the BM25 query terms alone, and the store's read paths alone (query vectors made
   beforehand): a source glob resolved to its sources, hybrid ``search_documents`` (the best chunk
   of each of k documents) and the section expansion of each question's best hit.

Prints p50 and p95 in ms per setting, side by side, and the peak RSS. Target: the default
(hybrid) retriever's p50 <= 30 ms at 100,000 chunks on 2 cores.

Run::

    .venv/bin/python benchmarks/retriever.py                  # 100,000 chunks
    .venv/bin/python benchmarks/retriever.py --points 20000 --json > before.json
    .venv/bin/python benchmarks/retriever.py --points 20000 --before before.json   # side by side
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from chunkwise.connectors.bm25_encoder import Bm25Encoder  # noqa: E402
from chunkwise.connectors.filesystem_source import FileSystemSource  # noqa: E402
from chunkwise.connectors.filters import resolve_filters  # noqa: E402
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore  # noqa: E402
from chunkwise.connectors.retriever import open_retriever  # noqa: E402
from chunkwise.connectors.tokenizers import TiktokenTokenizer  # noqa: E402
from chunkwise.connectors.unstructured_parser import UnstructuredParser  # noqa: E402
from chunkwise.pipeline.chunking.token_chunker import TokenChunker  # noqa: E402
from chunkwise.pipeline.fingerprint import Fingerprint  # noqa: E402
from chunkwise.pipeline.ids import chunk_id, content_hash, document_id  # noqa: E402
from chunkwise.pipeline.points import Point, chunk_payload  # noqa: E402
from chunkwise.pipeline.types import Chunk, Document, SparseVector  # noqa: E402

DATASET = ROOT.parent / "shared" / "eval" / "debian-faq"
COLLECTION = "bench"
DIMENSION = 384
CHUNKS_PER_DOCUMENT = 10
BATCH = 10_000
WARMUP = 10
GLOB = "/corpus/0000/*"
BM25 = Bm25Encoder()
FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2",
    dimension=DIMENSION,
    chunking={"strategy": "fixed", "chunker": "token", "chunk_size": 200, "chunk_overlap": 20},
    sparse=BM25.config,
)
SETTINGS: dict[str, dict[str, Any]] = {
    "dense": {"mode": "dense"},
    "sparse": {"mode": "sparse"},
    "hybrid (default)": {},
    "hybrid, expand=1": {"expand": 1},
    "hybrid, expand=section": {"expand": "section"},
    "hybrid, source glob": {"filter": {"source": "/corpus/0000/*"}},
    "hybrid, mmr": {"mmr": True},
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def real_chunks(folder: Path) -> list[str]:
    """The texts of the evaluation set's pages cut into 200-token chunks."""
    source, parser = FileSystemSource([str(folder / "corpus")]), UnstructuredParser()
    chunker = TokenChunker(TiktokenTokenizer(), chunk_size=200, chunk_overlap=20)
    texts = []
    for item in source.items():
        parsed = parser.parse(item, source.read(item))
        document = Document(
            id="d", source=item.uri, text=parsed.text, content_hash="h", elements=parsed.elements
        )
        texts.extend(chunk.text for chunk in chunker.chunk(document))
    return texts


def point_batches(
    total: int, texts: list[str], terms: list[SparseVector], seed: int
) -> Iterator[list[Point]]:
    rng = np.random.default_rng(seed)
    for first in range(0, total, BATCH):
        count = min(BATCH, total - first)
        vectors = rng.standard_normal((count, DIMENSION), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield [make_point(first + i, total, vectors[i], texts, terms) for i in range(count)]


def make_point(
    index: int, total: int, vector: np.ndarray, texts: list[str], terms: list[SparseVector]
) -> Point:
    number, position = divmod(index, CHUNKS_PER_DOCUMENT)
    source = f"/corpus/{number // 1000:04d}/page-{number:06d}.html"
    text = texts[index % len(texts)]
    document = Document(
        id=document_id(source),
        source=source,
        text="",
        content_hash=content_hash(source.encode()),
        metadata={},
    )
    start = position * 1000
    chunk = Chunk(
        id=chunk_id(document.id, document.content_hash, start, start + len(text)),
        document_id=document.id,
        index=position,
        text=text,
        start=start,
        end=start + len(text),
        token_count=200,
        metadata={"element_kinds": ["NarrativeText"], "section": f"Section {position // 3}"},
    )
    count = min(CHUNKS_PER_DOCUMENT, total - (index - position))
    payload = chunk_payload(document, chunk, FINGERPRINT, count)
    return Point(id=chunk.id, vector=vector, payload=payload, sparse=terms[index % len(texts)])


def latencies_ms(run: Callable[[str], object], queries: list[str]) -> list[float]:
    for query in queries[:WARMUP]:
        run(query)
    times = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def measure(arguments: argparse.Namespace, folder: Path) -> dict[str, Any]:
    texts = real_chunks(arguments.dataset)
    terms = BM25.encode_documents(texts)
    queries = [json.loads(line)["text"] for line in (arguments.dataset / "queries.jsonl").open()]
    log(f"{len(texts)} real chunk texts, {len(queries)} questions; writing {arguments.points:,} points")
    started = time.perf_counter()
    index_after = None if arguments.no_index else 20_000  # None: no HNSW index, every search exact
    with QdrantEdgeStore(folder / "store", index_after=index_after) as store:
        store.ensure_collection(COLLECTION, FINGERPRINT)
        for batch in point_batches(arguments.points, texts, terms, arguments.seed):
            store.write_points(COLLECTION, batch)
        written = time.perf_counter()
        log(f"written in {written - started:.0f} s; building the index (close)")
    indexed = time.perf_counter()
    log(f"index built in {indexed - written:.0f} s")

    rows: dict[str, dict[str, float]] = {}
    with QdrantEdgeStore(folder / "store") as store:
        retriever = open_retriever(store, COLLECTION, k=arguments.k)
        assert store.count(COLLECTION) == arguments.points
        settings = {} if arguments.store_only else SETTINGS
        if settings:
            rows["query embedding alone"] = summary(latencies_ms(retriever.encoder.encode_query, queries))
            rows["BM25 query terms alone"] = summary(
                latencies_ms(retriever.sparse_encoder.encode_query, queries)
            )
        for name, options in settings.items():
            rows[f"retriever: {name}"] = summary(
                latencies_ms(lambda q, o=options: retriever.invoke(q, **o), queries)
            )
            log(f"{name}: {rows[f'retriever: {name}']}")
        rows.update(store_paths(store, retriever, queries, arguments.k, embed=not arguments.store_only))
    return {
        "points": arguments.points,
        "k": arguments.k,
        "queries": len(queries),
        "write_s": round(written - started, 1),
        "index_build_s": round(indexed - written, 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "latency": rows,
    }


def store_paths(
    store: Any, retriever: Any, queries: list[str], k: int, *, embed: bool = True
) -> dict[str, dict[str, float]]:
    """The store's read paths alone, the query vectors made beforehand: a source glob resolved to the
    sources it matches, hybrid ``search_documents``, and a section expansion of each query's best hit.

    ``embed=False``: random unit vectors stand in for the questions' embeddings (their BM25 terms
    are real), where embedding them would take longer than the measure.
    """
    encode_sparse = retriever.sparse_encoder.encode_query
    if embed:
        dense = [retriever.encoder.encode_query(q) for q in queries]
    else:
        dense = list(np.random.default_rng(1).standard_normal((len(queries), DIMENSION), dtype=np.float32))
    vectors = {q: (v / np.linalg.norm(v), encode_sparse(q)) for q, v in zip(queries, dense, strict=True)}
    best = {q: store.search(COLLECTION, vectors[q][0], 1, sparse=vectors[q][1])[0] for q in queries}
    paths: dict[str, Callable[[str], object]] = {
        "store: source glob resolved": lambda q: resolve_filters(store, COLLECTION, {"source": GLOB}),
        "store: hybrid search_documents": lambda q: store.search_documents(
            COLLECTION, vectors[q][0], k, sparse=vectors[q][1]
        ),
        "store: section of a hit": lambda q: retriever._expand(best[q], "section"),
    }
    rows = {}
    for name, run in paths.items():
        rows[name] = summary(latencies_ms(run, queries))
        log(f"{name}: {rows[name]}")
    return rows


def print_table(result: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """The latencies; with ``before`` (an earlier ``--json`` result), its p50 and p95 beside them."""
    print(f"{result['points']:,} chunks in Qdrant Edge, k={result['k']}, {result['queries']} questions")
    earlier = before["latency"] if before else {}
    header = f"{'before p50':>11} {'before p95':>11} " if before else ""
    print(f"{'':34} {header}{'p50 ms':>8} {'p95 ms':>8}")
    for name, row in result["latency"].items():
        old = earlier.get(name)
        shown = (
            f"{old['p50_ms']:11.2f} {old['p95_ms']:11.2f} "
            if old
            else (f"{'-':>11} {'-':>11} " if before else "")
        )
        print(f"{name:34} {shown}{row['p50_ms']:8.2f} {row['p95_ms']:8.2f}")
    default = result["latency"].get("retriever: hybrid (default)", {}).get("p50_ms")
    if default is not None:
        verdict = "met" if default <= 30 else "MISSED"
        print(f"target: default retriever p50 <= 30 ms: {default:.2f} ms, {verdict}")
    build = f"write {result['write_s']} s, index build {result['index_build_s']} s"
    print(f"{build}, peak RSS {result['rss_mb']} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--points", type=int, default=100_000, help="chunks in the collection [default: 100000]"
    )
    parser.add_argument("--k", type=int, default=4, help="passages per query [default: 4, the retriever's]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random dense vectors [default: 0]")
    parser.add_argument(
        "--dataset", type=Path, default=DATASET, help="evaluation set with corpus/ and queries"
    )
    parser.add_argument("--dir", type=Path, help="where the temporary store goes [default: the system's]")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="only the store's read paths, with random query vectors (no query embedding)",
    )
    parser.add_argument("--no-index", action="store_true", help="no HNSW index: every search exact")
    parser.add_argument(
        "--before", type=Path, help="an earlier run's --json output, printed beside this run's latencies"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=arguments.dir, prefix="chunkwise-retriever-") as folder:
        result = measure(arguments, Path(folder))
    if arguments.json:
        print(json.dumps(result))
    else:
        before = json.loads(arguments.before.read_text(encoding="utf-8")) if arguments.before else None
        print_table(result, before)


if __name__ == "__main__":
    main()
