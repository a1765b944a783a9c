"""Encoder backends side by side: PyTorch, ONNX Runtime fp32 and int8, on the same texts, in one run.

The documents of the corpus are parsed and cut as ``chunkwise ingest`` cuts them (fixed chunking,
200 tiktoken tokens, overlap 20); two modes are measured on them:

- ``fixed``: every chunk's text encoded on its own (``SentenceTransformerEncoder.encode_documents``);
- ``late``: whole documents read in windows (256 tokens, overlap 32), chunk vectors pooled from the
  token vectors (``LateChunkingEncoder.encode_chunks_many``).

The machine's speed swings while other jobs run, so the backends are interleaved: the texts are cut
into groups and every group is encoded by each backend in turn (the order rotating), and each
backend's time is the sum over the groups. ``tokens_per_s`` counts the tokens the model read
(special tokens included; for late, every window's); ``ratio_vs_torch`` is PyTorch's time over the
backend's; ``ratio_low``/``ratio_high`` the smallest and largest ratio of one repeat;
``cpu_ratio_vs_torch`` the same ratio of the CPU time this process used (both libraries' threads
spin while they wait, so it tells how much work each did less cleanly than it seems). ``min_cosine``
is the smallest cosine between a backend's vector of a chunk and PyTorch's.

Run::

    .venv/bin/python benchmarks/encoders.py                # examples/data without the PDF
    .venv/bin/python benchmarks/encoders.py --json --repeats 3
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from chunkwise.connectors import LateChunkingEncoder, SentenceTransformerEncoder  # noqa: E402
from chunkwise.connectors.onnx_backend import BACKENDS, cosines  # noqa: E402
from chunkwise.flows.components import build_chunker, build_parser, build_source  # noqa: E402
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.late_chunking import plan_windows  # noqa: E402

Document = tuple[str, list[tuple[int, int]]]
LATE_WINDOW, LATE_OVERLAP = 256, 32


def load_corpus(folder: Path, exclude: Sequence[str], encoder: SentenceTransformerEncoder) -> list[Document]:
    """(text, chunk spans) of every document that parses, cut as ``chunkwise ingest`` would (fixed)."""
    options = IngestOptions(chunking="fixed", boundaries="words", exclude=tuple(exclude))
    source, parser = build_source([str(folder)], options), build_parser(options)
    chunker = build_chunker(options, encoder)
    documents = []
    for item in sorted(source.items(), key=lambda item: item.uri):
        document = parser.parse(item, source.read(item))
        chunks = chunker.chunk(document)
        if chunks:
            documents.append((document.text, [(c.start, c.end) for c in chunks]))
    return documents


def groups(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[first : first + size] for first in range(0, len(items), size)]


def interleaved(
    runs: dict[str, Callable[[Sequence[Any]], list[np.ndarray]]], batches: list[Sequence[Any]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, float], dict[str, list[np.ndarray]]]:
    """Wall seconds per repeat of each backend over all ``batches`` (taking turns batch by batch),
    its CPU seconds over all repeats, and its outputs of the first repeat."""
    names = list(runs)
    seconds = {name: [0.0] * repeats for name in names}
    cpu = dict.fromkeys(names, 0.0)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    turn = 0
    for repeat in range(repeats):
        for batch in batches:
            order = names[turn % len(names) :] + names[: turn % len(names)]
            turn += 1
            for name in order:
                started, started_cpu = time.perf_counter(), time.process_time()
                result = runs[name](batch)
                seconds[name][repeat] += time.perf_counter() - started
                cpu[name] += time.process_time() - started_cpu
                if repeat == 0:
                    outputs[name].extend(result)
    return seconds, cpu, outputs


def rows_of(
    mode: str,
    tokens: int,
    seconds: dict[str, list[float]],
    cpu: dict[str, float],
    outputs: dict[str, list[np.ndarray]],
) -> list[dict[str, Any]]:
    reference = np.concatenate([np.atleast_2d(v) for v in outputs["torch"]])
    torch_seconds = seconds["torch"]
    rows = []
    for backend, times in seconds.items():
        vectors = np.concatenate([np.atleast_2d(v) for v in outputs[backend]])
        ratios = [t / b for t, b in zip(torch_seconds, times, strict=True)]
        rows.append(
            {
                "mode": mode,
                "backend": backend,
                "int8": backend.endswith("int8"),
                "vectors": len(vectors),
                "tokens": tokens,
                "seconds": round(sum(times), 2),
                "tokens_per_s": round(tokens * len(times) / sum(times)),
                "ratio_vs_torch": round(sum(torch_seconds) / sum(times), 3),
                "ratio_low": round(min(ratios), 3),
                "ratio_high": round(max(ratios), 3),
                "cpu_ratio_vs_torch": round(cpu["torch"] / cpu[backend], 3),
                "min_cosine": round(float(cosines(vectors, reference).min()), 6),
                "mean_cosine": round(float(cosines(vectors, reference).mean()), 6),
            }
        )
    return rows


def measure(
    folder: Path, exclude: Sequence[str], backends: Sequence[str], repeats: int, group_size: int
) -> list[dict[str, Any]]:
    encoders = {backend: SentenceTransformerEncoder(backend=backend) for backend in backends}
    torch_encoder = encoders["torch"]
    documents = load_corpus(folder, exclude, torch_encoder)
    texts = [text[a:b] for text, spans in documents for a, b in spans]
    count = torch_encoder.tokenizer.count
    for encoder in encoders.values():  # loads, and exports or quantizes where needed: not timed
        encoder.encode_documents(texts[:4])

    fixed = {name: (lambda batch, e=e: list(e.encode_documents(batch))) for name, e in encoders.items()}
    seconds, cpu, outputs = interleaved(fixed, groups(texts, group_size), repeats)
    fixed_tokens = sum(count(text) + 2 for text in texts)
    rows = rows_of("fixed", fixed_tokens, seconds, cpu, outputs)

    late_encoders = {
        name: LateChunkingEncoder.from_encoder(e, window=LATE_WINDOW, overlap=LATE_OVERLAP)
        for name, e in encoders.items()
    }
    late = {name: (lambda batch, e=e: e.encode_chunks_many(batch)) for name, e in late_encoders.items()}
    seconds, cpu, outputs = interleaved(late, groups(documents, 1), repeats)
    late_tokens = sum(
        (w.end - w.start) + 2
        for text, _ in documents
        for w in plan_windows(count(text), LATE_WINDOW, LATE_OVERLAP)
    )
    rows += rows_of("late", late_tokens, seconds, cpu, outputs)
    for row in rows:
        row.update(corpus=folder.name, documents=len(documents), chunks=len(texts), repeats=repeats)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        "mode", "backend", "int8", "vectors", "tokens", "seconds", "tokens_per_s", "ratio_vs_torch",
        "ratio_low", "ratio_high", "cpu_ratio_vs_torch", "min_cosine", "mean_cosine",
    ]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "examples" / "data")
    parser.add_argument("--exclude", action="append", default=None, help="glob to leave out [*.pdf]")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated; torch always runs")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=32, help="fixed: chunks per call and turn")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    backends = ["torch", *(b for b in arguments.backends.split(",") if b and b != "torch")]
    exclude = arguments.exclude if arguments.exclude is not None else ["*.pdf"]
    rows = measure(arguments.corpus, exclude, backends, arguments.repeats, arguments.group_size)
    if arguments.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        import torch

        print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads")
        print_table(rows)


if __name__ == "__main__":
    main()
