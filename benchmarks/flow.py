"""The Prefect flow's overhead over the CLI: ``ingest_flow`` against ``chunkwise ingest`` on one corpus.

In one run, on the same documents (the first 500 of the incremental corpus, real text files from
Debian packages, fetched by ``benchmarks/get_incremental_corpus.sh``), each into a fresh store:

a. ``chunkwise ingest CORPUS`` in its own process;
b. ``ingest_flow`` in its own process, against a Prefect server started once beforehand (as a
   served or deployed flow runs), with its default task runner (2 threads);
c. each again on the unchanged corpus (the re-run a schedule makes most of the time).

Wall seconds include process start and model loading for both. ``overhead`` = flow / CLI - 1.
The first build order alternates with ``--repeats 2``. Only ratios measured in one run mean much.

Run::

    .venv/bin/python benchmarks/flow.py                 # 500 documents, table
    .venv/bin/python benchmarks/flow.py --documents 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chunkwise.flows.prefect_server import PrefectServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GET_CORPUS = ROOT / "benchmarks" / "get_incremental_corpus.sh"
WORK = ROOT / "benchmarks" / ".work" / "flow"


FLOW_SCRIPT = """
import json, sys
from chunkwise.flows.ingest import ingest_flow
state = ingest_flow([sys.argv[1]], store=sys.argv[2], collection="bench", return_state=True)
print(json.dumps(state.result().to_dict()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1, help="builds of each side, order alternating")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    corpus = sample_corpus(args.documents)
    with (
        tempfile.TemporaryDirectory(prefix="chunkwise-bench-prefect-") as home,
        PrefectServer(home) as server,
    ):
        api_url = server.api_url
        rows = []
        for repeat in range(args.repeats):
            sides = ["cli", "flow"] if repeat % 2 == 0 else ["flow", "cli"]
            results = {side: build_twice(side, corpus, api_url) for side in sides}
            rows.append(compare(results, args.documents))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)


def sample_corpus(documents: int) -> Path:
    """The first ``documents`` files of the incremental corpus (sorted by path), copied to one folder."""
    source = Path(
        subprocess.run([str(GET_CORPUS)], capture_output=True, text=True, check=True).stdout.strip()
    )
    files = sorted(path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    if len(files) < documents:
        sys.exit(f"the corpus has {len(files)} documents, fewer than {documents}")
    target = WORK / f"corpus-{documents}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        for path in files[:documents]:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, destination)
        (target / ".complete").touch()
    return target


def build_twice(side: str, corpus: Path, api_url: str) -> dict[str, Any]:
    """Build a fresh store from ``corpus`` by ``side``, then run again on the unchanged corpus."""
    store = WORK / f"store-{side}"
    shutil.rmtree(store, ignore_errors=True)
    first = timed(side, corpus, store, api_url)
    again = timed(side, corpus, store, api_url)
    shutil.rmtree(store, ignore_errors=True)
    return {"first": first, "again": again}


def timed(side: str, corpus: Path, store: Path, api_url: str) -> dict[str, Any]:
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if side == "cli":
        command = [str(BIN / "chunkwise"), "ingest", str(corpus), "--store", str(store)]
        command += ["--collection", "bench", "--json"]
    else:
        command = [sys.executable, "-c", FLOW_SCRIPT, str(corpus), str(store)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):
        sys.exit(f"{side} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": seconds, "report": report}


def compare(results: dict[str, dict[str, Any]], documents: int) -> dict[str, Any]:
    cli, flow = results["cli"], results["flow"]
    for side in (cli, flow):
        assert side["first"]["report"]["documents"]["seen"] == documents, side
    return {
        "documents": documents,
        "chunks": cli["first"]["report"]["chunks"],
        "cli_first_s": round(cli["first"]["wall"], 2),
        "flow_first_s": round(flow["first"]["wall"], 2),
        "overhead_first": round(flow["first"]["wall"] / cli["first"]["wall"] - 1, 4),
        "cli_again_s": round(cli["again"]["wall"], 2),
        "flow_again_s": round(flow["again"]["wall"], 2),
        "overhead_again": round(flow["again"]["wall"] / cli["again"]["wall"] - 1, 4),
        "flow_chunks_equal": flow["first"]["report"]["chunks"] == cli["first"]["report"]["chunks"],
        "flow_unchanged_again": flow["again"]["report"]["documents"]["unchanged"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        same = row["flow_chunks_equal"]
        print(f"{row['documents']} documents, {row['chunks']:,} chunks (the same in both: {same})")
        print(f"{'':<22}{'CLI (s)':>10}{'flow (s)':>10}{'overhead':>10}")
        for label, key in (("first build", "first"), ("re-run, unchanged", "again")):
            overhead = row[f"overhead_{key}"]
            print(f"{label:<22}{row[f'cli_{key}_s']:>10.2f}{row[f'flow_{key}_s']:>10.2f}{overhead:>+10.1%}")


if __name__ == "__main__":
    main()
