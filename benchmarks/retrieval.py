"""Retrieval quality of late vs fixed chunking over a grid of chunkers, sizes, windows and overlaps.

Runs ``chunkwise eval``'s evaluation over the grid in one process and prints Markdown tables:
passage nDCG@10 per (chunker, chunk size) for fixed chunking and for every late window W and
window overlap ω, the difference late - fixed in points, and the full metrics of the best rows.

Run::

    .venv/bin/python benchmarks/retrieval.py                       # examples/eval/debian-faq, full grid
    .venv/bin/python benchmarks/retrieval.py --json grid.json      # also keep every row
    .venv/bin/python benchmarks/retrieval.py --from-json grid.json # tables of an earlier run
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
from typing import Any  # noqa: E402

from chunkwise.flows.evaluate import EvalProgress, Evaluation, configuration_grid  # noqa: E402
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.evaluation.dataset import load_dataset  # noqa: E402

GRID = {
    "chunking": ["fixed", "late"],
    "chunker": ["token", "sentence"],
    "chunk_size": [64, 128, 256],
    "chunk_overlap": [0],
    "late_window": [128, 256, 512],
    "late_overlap": [0, 32, 64],
}
METRIC = "ndcg@10"


def run_grid(dataset: Path) -> list[dict[str, Any]]:
    configurations = configuration_grid(IngestOptions(), GRID)
    started = time.perf_counter()

    def report(event: EvalProgress) -> None:
        if event.stage == "search":
            elapsed = time.perf_counter() - started
            print(f"[{event.index}/{event.total}] {event.label} ({elapsed:.0f} s)", file=sys.stderr)

    rows = Evaluation(load_dataset(dataset), progress=report).run(configurations)
    return [row.to_dict() for row in rows]


def late_columns(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted(
        {
            (r["config"]["late_window"], r["config"]["late_overlap"])
            for r in rows
            if r["config"]["chunking"] == "late"
        }
    )


def ndcg_table(rows: list[dict[str, Any]]) -> str:
    """Passage nDCG@10 (x100): one line per chunker and size; late columns show late - fixed too."""
    columns = late_columns(rows)
    header = ["chunker", "size", "fixed", *(f"late W{w} ω{o}" for w, o in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for chunker, size in sorted({(r["config"]["chunker"], r["config"]["chunk_size"]) for r in rows}):
        same = [r for r in rows if r["config"]["chunker"] == chunker and r["config"]["chunk_size"] == size]
        fixed = next(r["passage"][METRIC] for r in same if r["config"]["chunking"] == "fixed") * 100
        cells = [chunker, str(size), f"{fixed:.1f}"]
        for window, overlap in columns:
            late = next(
                r["passage"][METRIC] * 100
                for r in same
                if r["config"]["chunking"] == "late"
                and (r["config"]["late_window"], r["config"]["late_overlap"]) == (window, overlap)
            )
            cells.append(f"{late:.1f} ({late - fixed:+.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(rows: list[dict[str, Any]]) -> str:
    """Every metric, chunk count and speed of each row."""
    header = ["configuration", "P nDCG", "P R", "P MRR", "D nDCG", "D R", "chunks", "s", "tokens/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        config = row["config"]
        name = f"{config['chunking']} {config['chunker']} {config['chunk_size']}"
        if config["chunking"] == "late":
            name += f" W{config['late_window']} ω{config['late_overlap']}"
        passage, doc = row["passage"], row["doc"]
        cells = [
            name,
            *(f"{passage[m] * 100:.1f}" for m in ("ndcg@10", "recall@10", "mrr@10")),
            *(f"{doc[m] * 100:.1f}" for m in ("ndcg@10", "recall@10")),
            str(row["chunks"]),
            f"{row['seconds']:.1f}",
            f"{row['tokens_per_s']:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "examples" / "eval" / "debian-faq")
    parser.add_argument("--json", type=Path, help="write every row to this file")
    parser.add_argument("--from-json", type=Path, help="print the tables of an earlier run")
    arguments = parser.parse_args()
    if arguments.from_json:
        rows = json.loads(arguments.from_json.read_text())
    else:
        rows = run_grid(arguments.dataset)
        if arguments.json:
            arguments.json.write_text(json.dumps(rows, indent=1))
    print(f"Passage nDCG@10 x100 on {arguments.dataset.name} (late - fixed in brackets)\n")
    print(ndcg_table(rows))
    print("\nAll metrics (x100; P: passage, D: document)\n")
    print(metrics_table(rows))


if __name__ == "__main__":
    main()
