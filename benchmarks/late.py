"""Late vs fixed chunking speed over the same documents and the same chunk spans, in one run.

Every document of the corpus is parsed and cut once, as ``chunkwise ingest`` cuts for fixed
chunking (200 tiktoken tokens, overlap 20, between words, fitted to MiniLM's input so "fixed" can
embed them). Then, keeping the best of ``--repeats`` runs of each:

- ``fixed``: every chunk's text encoded on its own (``SentenceTransformerEncoder.encode_documents``);
- ``late W/ω``: the documents encoded in windows of W tokens overlapping by ω, chunk vectors pooled
  from the token vectors (``LateChunkingEncoder.encode_chunks_many``).

Throughput is in document tokens per second (MiniLM tokens of the documents' text), so both sides
are credited with the same work; "model tokens" is what the model actually read (chunk overlap and
special tokens for fixed, window overlap and special tokens for late).

Run::

    .venv/bin/python benchmarks/late.py                 # examples/data
    .venv/bin/python benchmarks/late.py --corpus ../shared/eval/debian-faq/corpus --json
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from chunkwise.connectors import LateChunkingEncoder, SentenceTransformerEncoder  # noqa: E402
from chunkwise.flows.components import build_chunker, build_parser, build_source  # noqa: E402
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.late_chunking import plan_windows  # noqa: E402

LATE_SETTINGS = [(512, 0), (256, 0), (256, 32), (512, 64)]


def load_corpus(folder: Path, encoder: SentenceTransformerEncoder) -> list[tuple[str, list[tuple[int, int]]]]:
    """(text, chunk spans) of every document that parses, cut as ``chunkwise ingest`` would (fixed)."""
    options = IngestOptions(chunking="fixed", boundaries="words")
    source, parser = build_source([str(folder)], options), build_parser(options)
    chunker = build_chunker(options, encoder)
    documents = []
    for item in source.items():
        document = parser.parse(item, source.read(item))
        chunks = chunker.chunk(document)
        documents.append((document.text, [(c.start, c.end) for c in chunks]))
    return documents


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def model_tokens_late(documents, tokenizer, window: int, overlap: int) -> int:
    return sum(
        (w.end - w.start) + 2
        for text, _ in documents
        for w in plan_windows(tokenizer.count(text), window, overlap)
    )


def measure(folder: Path, repeats: int) -> list[dict[str, object]]:
    encoder = SentenceTransformerEncoder()
    documents = load_corpus(folder, encoder)
    tokenizer = encoder.tokenizer
    document_tokens = sum(tokenizer.count(text) for text, _ in documents)
    texts = [text[a:b] for text, spans in documents for a, b in spans]
    encoder.encode_documents(texts[:8])  # warm-up
    rows = [
        {
            "strategy": "fixed",
            "seconds": best_seconds(lambda: encoder.encode_documents(texts), repeats),
            "model_tokens": sum(tokenizer.count(t) + 2 for t in texts),
        }
    ]
    for window, overlap in LATE_SETTINGS:
        late = LateChunkingEncoder.from_encoder(encoder, window=window, overlap=overlap)
        rows.append(
            {
                "strategy": f"late W={window} ω={overlap}",
                "seconds": best_seconds(lambda late=late: late.encode_chunks_many(documents), repeats),
                "model_tokens": model_tokens_late(documents, tokenizer, window, overlap),
            }
        )
    fixed_rate = document_tokens / rows[0]["seconds"]
    for row in rows:
        row.update(
            corpus=folder.name,
            documents=len(documents),
            chunks=len(texts),
            document_tokens=document_tokens,
            document_tokens_per_s=round(document_tokens / row["seconds"]),
            vs_fixed=round(document_tokens / row["seconds"] / fixed_rate, 3),
            extra_tokens_vs_document=round(row["model_tokens"] / document_tokens - 1, 3),
            seconds=round(row["seconds"], 2),
        )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    columns = [
        "corpus", "strategy", "documents", "chunks", "document_tokens", "model_tokens",
        "extra_tokens_vs_document", "seconds", "document_tokens_per_s", "vs_fixed",
    ]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "examples" / "data")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    rows = measure(arguments.corpus, arguments.repeats)
    if arguments.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
