"""Retrieval quality of every embedding and fusion configuration, on every development set.

For each set and each chunking (chunker, size, overlap, boundaries), the documents are parsed
and chunked once, and each chunk gets every kind of vector once: alone, alone under its
contextual header, late, late under headers. Everything else is computed from those vectors
without embedding again: dense search with each kind, mixes ``normalise(a*late + (1-a)*alone)``,
BM25 (the collection's term weights with Qdrant's IDF), and their fusions: reciprocal rank fusion
(with weights) and distribution-based score fusion over each side's top ``k``, as Qdrant's query
API computes them. Parsed documents and vectors are cached on disk, so a re-run only scores.

Every configuration is scored per query with the sets' reference passage metrics (nDCG@10 in
rank order, hit rate, MRR, answer nDCG), averaged per set and over sets (macro), and compared with
the baseline (fixed chunking, 128 tokens, dense) by a paired bootstrap over queries.

Run::

    .venv/bin/python benchmarks/quality.py                         # every set under examples/eval
    .venv/bin/python benchmarks/quality.py --sets examples/eval/debian-faq --json out.json
    .venv/bin/python benchmarks/quality.py --from-json out.json    # the tables of an earlier run
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from chunkwise.connectors.bm25_encoder import Bm25Encoder  # noqa: E402
from chunkwise.connectors.late_encoder import LateChunkingEncoder  # noqa: E402
from chunkwise.connectors.model_defaults import defaults_for  # noqa: E402
from chunkwise.flows.components import build_chunker, build_encoder, build_parser, build_source  # noqa: E402
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.embedding import IndependentEmbedder, mix_vectors  # noqa: E402
from chunkwise.pipeline.evaluation.bootstrap import Interval  # noqa: E402
from chunkwise.pipeline.evaluation.comparison import SetScores, compare  # noqa: E402
from chunkwise.pipeline.evaluation.dataset import EvalDataset, load_dataset  # noqa: E402
from chunkwise.pipeline.evaluation.scoring import QueryScorer, RankedChunk  # noqa: E402
from chunkwise.pipeline.types import Chunk, Document, SparseVector  # noqa: E402

K = 10
RRF_K = 60  # Qdrant's default, as the stores use it
CACHE = ROOT / ".chunkwise" / "quality-cache"
BASELINE = "token 128/16 el | alone | dense"
METRICS = ("ndcg@10", "answer_ndcg@10", "recall@10", "mrr@10")


@dataclass(frozen=True)
class Chunking:
    """Where to cut: a chunker, its size and overlap (tiktoken tokens), and its boundaries."""

    chunker: str
    size: int
    overlap: int
    boundaries: str = "elements"

    @property
    def name(self) -> str:
        overlap = f"/{self.overlap}" if self.chunker == "token" else ""
        return f"{self.chunker} {self.size}{overlap} {self.boundaries[:2]}"

    def options(self) -> IngestOptions:
        return IngestOptions(
            chunking="fixed",
            chunker=self.chunker,
            chunk_size=self.size,
            chunk_overlap=self.overlap,
            boundaries=self.boundaries,
        )


CHUNKINGS = (  # in order of interest: --chunkings N runs the first N
    Chunking("token", 128, 16),
    Chunking("token", 200, 20),
    Chunking("token", 256, 32),
    Chunking("token", 200, 20, "sections"),
    Chunking("sentence", 200, 0),
    Chunking("token", 128, 16, "sections"),
    Chunking("sentence", 128, 0),
    Chunking("token", 96, 12),
)
VECTORS = ("alone", "alone+H", "late", "late+H")  # embedded once per chunking
LATE = {"late": (256, 32, False), "late+H": (256, 32, True)}
MIXES = (0.25, 0.5, 0.75)


# ---------------------------------------------------------------------------------------- one set


@dataclass
class ChunkedSet:
    """One set's chunks under one chunking, with every kind of vector and the BM25 index."""

    doc_ids: list[str]
    texts: list[str]
    ids: list[str]
    vectors: dict[str, np.ndarray]
    terms: list[SparseVector]


def parse_set(dataset: EvalDataset) -> list[Document]:
    """The set's documents, parsed once and kept in the cache."""
    options = IngestOptions(include=("*",))
    source = build_source([str(dataset.corpus)], options)
    items = sorted(source.items(), key=lambda item: item.uri)
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.uri.encode())
        digest.update(hashlib.sha256(source.read(item)).digest())
    path = CACHE / f"{dataset.name}-{digest.hexdigest()[:16]}-parsed.pkl"
    if path.is_file():
        try:
            return pickle.loads(path.read_bytes())
        except (ImportError, AttributeError, pickle.UnpicklingError):
            pass  # written by another version of the code: parsed again
    parser = build_parser(options)
    documents = []
    for item in items:
        try:
            documents.append(parser.parse(item, source.read(item)))
        except Exception as error:  # noqa: BLE001 - a set's document that fails is reported, not fatal
            print(f"  {item.uri}: {error}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(documents))
    return documents


def chunk_set(
    dataset: EvalDataset, documents: list[Document], chunking: Chunking, encoder: Any
) -> ChunkedSet:
    """Chunks of every document and all their vectors (from the cache when computed before)."""
    chunker = build_chunker(chunking.options(), encoder)  # the model's input limit always applies
    per_document = [(document, chunker.chunk(document)) for document in documents]
    per_document = [(document, chunks) for document, chunks in per_document if chunks]
    chunks = [chunk for _, chunks in per_document for chunk in chunks]
    key = hashlib.sha256("".join(c.id for c in chunks).encode()).hexdigest()[:16]
    vectors = {}
    for kind in VECTORS:
        path = CACHE / f"{dataset.name}-{key}-{kind}.npy"
        if not path.is_file():
            started = time.perf_counter()
            np.save(path, embed(kind, per_document, encoder))
            print(f"  {chunking.name} {kind}: {len(chunks)} chunks in {time.perf_counter() - started:.0f} s")
        vectors[kind] = np.load(path)
    return ChunkedSet(
        doc_ids=[dataset.doc_id(document.source) for document, cs in per_document for _ in cs],
        texts=[chunk.text for chunk in chunks],
        ids=[chunk.id for chunk in chunks],
        vectors=vectors,
        terms=Bm25Encoder().encode_documents([chunk.text for chunk in chunks]),
    )


def embed(kind: str, per_document: Sequence[tuple[Document, list[Chunk]]], encoder: Any) -> np.ndarray:
    if kind in LATE:
        window, overlap, headers = LATE[kind]
        embedder: Any = LateChunkingEncoder.from_encoder(
            encoder, window=window, overlap=overlap, headers=headers
        )
    else:
        embedder = IndependentEmbedder(encoder, headers=kind.endswith("+H"))
    parts = []
    for first in range(0, len(per_document), 16):
        parts.extend(embedder.embed(per_document[first : first + 16]))
    return np.concatenate(parts).astype(np.float32)


# ---------------------------------------------------------------------------------------- rankings

Ranking = list[tuple[float, int]]  # (score, chunk index), best first


def top(scores: np.ndarray, ids: Sequence[str], k: int) -> Ranking:
    """The ``k`` best chunks by score, equal scores ordered by id (as the stores order them)."""
    depth = 4 * k  # enough to order ties at the cut by id
    candidates = np.argpartition(-scores, depth)[:depth] if len(scores) > depth else np.arange(len(scores))
    ordered = sorted(candidates, key=lambda i: (-scores[i], ids[i]))[:k]
    return [(float(scores[i]), int(i)) for i in ordered if scores[i] > -np.inf]


def bm25_scores(chunks: ChunkedSet, query: SparseVector) -> np.ndarray:
    """BM25 of every chunk: the stored term weights times Qdrant's IDF modifier."""
    index = _inverted(chunks)
    scores = np.full(len(chunks.texts), -np.inf)
    total = len(chunks.texts)
    for term, weight in zip(query.indices, query.values, strict=True):
        postings = index.get(term)
        if not postings:
            continue
        rows, values = postings
        idf = np.log(1 + (total - len(rows) + 0.5) / (len(rows) + 0.5))
        current = scores[rows]
        scores[rows] = np.where(np.isneginf(current), 0, current) + weight * idf * values
    return scores


_INDEXES: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}


def _inverted(chunks: ChunkedSet) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    if id(chunks) not in _INDEXES:
        lists: dict[int, tuple[list[int], list[float]]] = {}
        for row, terms in enumerate(chunks.terms):
            for term, value in zip(terms.indices, terms.values, strict=True):
                rows, values = lists.setdefault(term, ([], []))
                rows.append(row)
                values.append(value)
        _INDEXES[id(chunks)] = {t: (np.array(r), np.array(v)) for t, (r, v) in lists.items()}
    return _INDEXES[id(chunks)]


def rrf(rankings: Sequence[Ranking], ids: Sequence[str], weights: Sequence[float] | None = None) -> Ranking:
    """Qdrant's reciprocal rank fusion of each ranking's top ``K``: ``1 / ((rank + 1) / w + 59)``
    from rank 0 (``1 / (60 + rank)`` unweighted)."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (_, row) in enumerate(ranking[:K]):
            fused[row] = fused.get(row, 0.0) + 1 / ((rank + 1) / weight + RRF_K - 1)
    return sorted(((score, row) for row, score in fused.items()), key=lambda p: (-p[0], ids[p[1]]))[:K]


def dbsf(rankings: Sequence[Ranking], ids: Sequence[str]) -> Ranking:
    """Qdrant's distribution-based score fusion: each list's scores scaled from mean - 3 sd (0) to
    mean + 3 sd (1), sample standard deviation, then added (a list of one, or all equal: 0.5)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        scores = np.array([score for score, _ in ranking[:K]])
        spread = 3 * scores.std(ddof=1) if len(scores) > 1 else 0.0
        for score, row in ranking[:K]:
            normal = 0.5 if spread == 0 else float((score - scores.mean() + spread) / (2 * spread))
            fused[row] = fused.get(row, 0.0) + normal
    return sorted(((score, row) for row, score in fused.items()), key=lambda p: (-p[0], ids[p[1]]))[:K]


def configurations(
    chunks: ChunkedSet, queries: np.ndarray, terms: list[SparseVector]
) -> dict[str, list[Ranking]]:
    """Every configuration's ranking of every query, named ``vectors | mode``."""
    dense_kinds = dict(chunks.vectors)
    for a in MIXES:
        dense_kinds[f"mix{a}"] = mix_vectors(chunks.vectors["late"], chunks.vectors["alone"], a)
        dense_kinds[f"mix{a}+H"] = mix_vectors(chunks.vectors["late+H"], chunks.vectors["alone+H"], a)
    ids = chunks.ids
    dense = {kind: [top(matrix @ q, ids, K) for q in queries] for kind, matrix in dense_kinds.items()}
    sparse = [top(bm25_scores(chunks, t), ids, K) for t in terms]
    out: dict[str, list[Ranking]] = {"bm25 | sparse": sparse}
    for kind, rankings in dense.items():
        out[f"{kind} | dense"] = rankings
        out[f"{kind} | hybrid"] = [rrf([d, s], ids) for d, s in zip(rankings, sparse, strict=True)]
        if kind in VECTORS or kind == "mix0.5+H":
            out[f"{kind} | dbsf"] = [dbsf([d, s], ids) for d, s in zip(rankings, sparse, strict=True)]
            for weight in (0.5, 2.0):
                out[f"{kind} | hybrid w{weight}"] = [
                    rrf([d, s], ids, [1.0, weight]) for d, s in zip(rankings, sparse, strict=True)
                ]
    for suffix in ("", "+H"):
        late, alone = dense[f"late{suffix}"], dense[f"alone{suffix}"]
        out[f"late{suffix}&alone{suffix} | hybrid3"] = [
            rrf([a, b, s], ids) for a, b, s in zip(late, alone, sparse, strict=True)
        ]
        out[f"late{suffix}&alone{suffix} | dbsf3"] = [
            dbsf([a, b, s], ids) for a, b, s in zip(late, alone, sparse, strict=True)
        ]
        out[f"late{suffix}&alone{suffix} | dense2"] = [
            rrf([a, b], ids) for a, b in zip(late, alone, strict=True)
        ]
    return out


def score(dataset: EvalDataset, chunks: ChunkedSet, rankings: list[Ranking]) -> dict[str, list[float]]:
    """Per-query reference metrics of one configuration's rankings."""
    scorer = QueryScorer(dataset, K)
    per_metric: dict[str, list[float]] = {name: [] for name in METRICS}
    for query, ranking in zip(dataset.queries, rankings, strict=True):
        hits = [RankedChunk(chunks.doc_ids[row], chunks.texts[row], s) for s, row in ranking]
        metrics = scorer.passage_metrics(query.id, hits)
        for name in METRICS:
            per_metric[name].append(metrics[name])
    return per_metric


def run_set(path: Path, encoder: Any, chunkings: Sequence[Chunking]) -> dict[str, dict[str, list[float]]]:
    """``{configuration: {metric: per-query values}}`` of one set."""
    dataset = load_dataset(path)
    started = time.perf_counter()
    documents = parse_set(dataset)
    print(f"{dataset.name}: {len(documents)} documents, {len(dataset.queries)} queries", flush=True)
    queries = np.stack([encoder.encode_query(q.text) for q in dataset.queries])
    terms = [Bm25Encoder().encode_query(q.text) for q in dataset.queries]
    results = {}
    for chunking in chunkings:
        chunks = chunk_set(dataset, documents, chunking, encoder)
        for name, rankings in configurations(chunks, queries, terms).items():
            results[f"{chunking.name} | {name}"] = score(dataset, chunks, rankings)
    print(f"{dataset.name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    return results


# ---------------------------------------------------------------------------------------- tables


def summarize(
    per_set: dict[str, dict[str, dict[str, list[float]]]], baseline: str = BASELINE
) -> list[dict[str, Any]]:
    """One row per configuration: per-set and macro means, and the interval against ``baseline``."""
    scores = [
        SetScores(config, name, {m: float(np.mean(values[m])) for m in METRICS}, values["ndcg@10"])
        for name in sorted(per_set)
        for config, values in sorted(per_set[name].items())
    ]
    against_default = {row.config: row.interval for row in compare(scores, default_name())}
    rows = [
        {
            "config": row.config,
            "sets": {name: _means(per_set[name][row.config]) for name in row.datasets},
            "macro": row.macro,
            "vs_baseline": _interval(row.interval),
            "vs_default": _interval(against_default.get(row.config)),
        }
        for row in compare(scores, baseline)
    ]
    return sorted(rows, key=lambda r: -r["macro"]["ndcg@10"])


def _interval(interval: Interval | None) -> dict[str, float]:
    """An interval as a dict; none (the reference itself) as a zero-width one at 0."""
    return interval.to_dict() if interval else {"mean": 0.0, "low": 0.0, "high": 0.0}


def _points(interval: dict[str, float]) -> str:
    return f"{100 * interval['mean']:+.1f} [{100 * interval['low']:+.1f}, {100 * interval['high']:+.1f}]"


def _means(values: dict[str, list[float]]) -> dict[str, float]:
    return {metric: float(np.mean(values[metric])) for metric in METRICS}


def default_name() -> str:
    """The name of the configuration ``chunkwise ingest`` and the retriever use by default."""
    options = IngestOptions()
    fusion = defaults_for(options.model).fusion
    chunking = Chunking(options.chunker, options.chunk_size, options.chunk_overlap, options.boundaries)
    vectors = "alone" if options.chunking == "fixed" else "late"
    if options.late_mix is not None:
        vectors = f"mix{options.late_mix}"
    mode = {"dbsf": "dbsf"}.get(fusion.method, "hybrid")
    if fusion.method == "rrf" and fusion.sparse_weight != 1.0:
        mode += f" w{fusion.sparse_weight}"
    return f"{chunking.name} | {vectors}{'+H' if options.headers else ''} | {mode}"


def print_table(rows: list[dict[str, Any]], limit: int | None = None) -> None:
    sets = list(rows[0]["sets"]) if rows else []
    print(
        f"| configuration | {' | '.join(sets)} | macro nDCG@10 | macro answer nDCG "
        f"| vs {BASELINE} (points, 95% CI) | vs the default {default_name()} |"
    )
    print("|---" * (len(sets) + 5) + "|")
    for row in rows[:limit]:
        cells = " | ".join(f"{row['sets'][s]['ndcg@10']:.3f}" for s in sets)
        ci = f"{_points(row['vs_baseline'])} | {_points(row['vs_default'])}"
        print(
            f"| {row['config']} | {cells} | {row['macro']['ndcg@10']:.3f} | "
            f"{row['macro']['answer_ndcg@10']:.3f} | {ci} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets", nargs="*", type=Path, help="evaluation sets (default: every set under examples/eval)"
    )
    parser.add_argument("--chunkings", type=int, default=len(CHUNKINGS), help="only the first N chunkings")
    parser.add_argument("--json", type=Path, help="keep every per-query score here")
    parser.add_argument("--from-json", type=Path, help="print the tables of an earlier run")
    parser.add_argument("--top", type=int, default=40, help="rows to print")
    parser.add_argument("--only", help="print only the configurations matching this regular expression")
    parser.add_argument(
        "--summary", type=Path, help="write the table (means and intervals, no per-query) here"
    )
    args = parser.parse_args()
    if args.from_json:
        per_set = json.loads(args.from_json.read_text())
    else:
        sets = args.sets or sorted(
            p for p in (ROOT / "examples" / "eval").iterdir() if (p / "queries.jsonl").is_file()
        )
        CACHE.mkdir(parents=True, exist_ok=True)
        encoder = build_encoder(IngestOptions().model)
        per_set = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
        for path in sets:  # sets scored before (in --json) keep their scores unless run again
            per_set[path.name] = run_set(path, encoder, CHUNKINGS[: args.chunkings])
            if args.json:
                args.json.write_text(json.dumps(per_set))
    rows = summarize(per_set)
    if args.summary:
        summary = {"baseline": BASELINE, "default": default_name(), "k": K, "rows": rows}
        args.summary.write_text(json.dumps(summary, indent=1) + "\n")
    if args.only:
        rows = [row for row in rows if re.search(args.only, row["config"])]
    print_table(rows, args.top)


if __name__ == "__main__":
    main()
