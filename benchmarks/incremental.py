"""Incremental ingestion: what a re-run costs against the first ingest, and memory against corpus size.

Every run is the real command, ``chunkwise ingest --json`` with its default options, in its own
process (model loading included), into an embedded store under ``benchmarks/.work/incremental``.
The runs share a cache folder of their own there, empty at the start, as a new user's would be:
the first ingest remembers the model's description in it, which spares later runs with nothing
to embed from loading the model.
In one run of this script, side by side:

a. the first ingest of the corpus (wall seconds, peak RSS);
b. the same command again over the unchanged corpus, as a share of (a) (target <= 5%);
c. the command again after editing 1% of the documents (one sentence rewritten in every 100th
   document), as a share of (a), next to the edited documents' share of the corpus's bytes
   (target <= 3% + that share);
d. the first ingest of the corpus copied four times into a fresh store: its peak RSS against (a)
   (target < 20% growth).

The corpus: over 1,000 real documents from Debian's git, git-doc and python3.11-doc packages,
assembled by ``benchmarks/get_incremental_corpus.sh``.

Run::

    .venv/bin/python benchmarks/incremental.py             # the whole corpus, a table
    .venv/bin/python benchmarks/incremental.py --docs 200 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "incremental"
CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
EDIT_EVERY = 100


@dataclass(frozen=True)
class Run:
    """One ``chunkwise ingest`` process: its wall time, peak memory and report."""

    seconds: float
    rss_mb: float
    report: dict

    @property
    def documents(self) -> dict:
        return self.report["documents"]


def ingest(folder: Path, store: Path) -> Run:
    command = [CHUNKWISE, "ingest", str(folder), "--store", str(store), "--collection", "bench", "--json"]
    started = time.perf_counter()
    with open(WORK / "stdout.json", "w") as stdout, open(WORK / "stderr.log", "a") as stderr:
        environment = {**os.environ, "CHUNKWISE_CACHE_DIR": str(WORK / "cache")}
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=environment)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}: see {WORK / 'stderr.log'}")
    report = json.loads((WORK / "stdout.json").read_text())
    return Run(seconds=seconds, rss_mb=usage.ru_maxrss / 1024, report=report)


def copy_corpus(source: Path, target: Path, limit: int | None) -> list[Path]:
    """Copy the first ``limit`` documents (sorted by path) to ``target``; the copies, sorted."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))[:limit]
    copies = []
    for file in files:
        copy = target / file.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, copy)
        copies.append(copy)
    return copies


def edit(document: Path) -> None:
    """Rewrite one sentence in the middle of a document, as an author would."""
    text = document.read_text(encoding="utf-8", errors="surrogateescape")
    middle = text.find(". ", len(text) // 2)
    cut = middle + 2 if middle >= 0 else len(text)
    revised = "This sentence was revised in a later edition of the document. "
    document.write_text(text[:cut] + revised + text[cut:], encoding="utf-8", errors="surrogateescape")


def measure(corpus: Path, limit: int | None) -> dict:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    documents = copy_corpus(corpus, WORK / "corpus", limit)
    total_bytes = sum(d.stat().st_size for d in documents)
    for copy in range(4):
        shutil.copytree(WORK / "corpus", WORK / "corpus-4x" / f"copy-{copy}")

    print(f"first ingest of {len(documents)} documents ...", file=sys.stderr, flush=True)
    first = ingest(WORK / "corpus", WORK / "store")
    print("unchanged re-run ...", file=sys.stderr, flush=True)
    unchanged = ingest(WORK / "corpus", WORK / "store")
    edited = documents[::EDIT_EVERY]
    edited_bytes = sum(d.stat().st_size for d in edited)
    for document in edited:
        edit(document)
    print(f"re-run after editing {len(edited)} documents ...", file=sys.stderr, flush=True)
    after_edit = ingest(WORK / "corpus", WORK / "store")
    print(f"first ingest of the corpus copied 4 times ({4 * len(documents)} documents) ...", file=sys.stderr)
    fourfold = ingest(WORK / "corpus-4x", WORK / "store-4x")

    return {
        "documents": len(documents),
        "words": sum(len(d.read_bytes().split()) for d in documents),
        "first": _row(first),
        "unchanged": _row(unchanged),
        "edited": _row(after_edit),
        "fourfold": _row(fourfold),
        "unchanged_share": unchanged.seconds / first.seconds,
        "edited_documents": len(edited),
        "edited_bytes_share": edited_bytes / total_bytes,
        "edited_share": after_edit.seconds / first.seconds,
        "rss_growth_4x": fourfold.rss_mb / first.rss_mb - 1,
    }


def _row(run: Run) -> dict:
    return {"seconds": round(run.seconds, 2), "rss_mb": round(run.rss_mb, 1), **run.documents}


def print_table(result: dict) -> None:
    print(f"{result['documents']} documents, {result['words']:,} words\n")
    print("| run | documents indexed / unchanged / failed | seconds | share of first | peak RSS MB |")
    print("|---|---|---|---|---|")
    first = result["first"]["seconds"]
    for key, name in (
        ("first", "first ingest"),
        ("unchanged", "re-run, nothing changed"),
        ("edited", f"re-run, {result['edited_documents']} documents edited"),
        ("fourfold", "first ingest, corpus x4"),
    ):
        row = result[key]
        counts = f"{row['indexed']} / {row['unchanged']} / {row['failed']}"
        share = row["seconds"] / first
        print(f"| {name} | {counts} | {row['seconds']:.1f} | {share:.1%} | {row['rss_mb']:.0f} |")
    print()
    print(f"- unchanged re-run: {result['unchanged_share']:.1%} of the first ingest (target <= 5%)")
    target = 0.03 + result["edited_bytes_share"]
    print(
        f"- after editing 1%: {result['edited_share']:.1%} of the first ingest; the edited documents hold "
        f"{result['edited_bytes_share']:.1%} of the bytes (target <= {target:.1%})"
    )
    print(f"- peak RSS, corpus x4 against x1: {result['rss_growth_4x']:+.1%} (target < +20%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="folder of documents [default: the Debian corpus]")
    parser.add_argument("--docs", type=int, help="take only the first N documents")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args()
    corpus = arguments.corpus
    if corpus is None:
        script = ROOT / "benchmarks" / "get_incremental_corpus.sh"
        corpus = Path(
            subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip()
        )
    result = measure(corpus, arguments.docs)
    if arguments.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
