"""Ingest throughput: the whole pipeline, and its embedding stage against raw sentence-transformers.

For each corpus, in one process and one run, this measures:

a. ``pipeline.indexing.index_documents`` end to end with the real components (built as
   ``flows/components.py`` builds them, default ``IngestOptions``, ``QdrantServerStore(":memory:")``):
   wall seconds, documents, chunks, model tokens and chunker (tiktoken) tokens per second;
b. the time the pipeline spent inside ``encoder.encode_documents`` (a timing proxy around the
   encoder; parser, chunker and store are wrapped the same way to split the wall time);
c. raw ``SentenceTransformer.encode`` over exactly the same chunk texts in one call, against
   ``encoder.encode_documents`` over the same texts grouped as the pipeline grouped them,
   alternated twice, best of each. ``ratio`` = pipeline embed throughput / raw throughput.

With ``--end-to-end``, it compares instead whole ingests of each corpus as the CLI runs them
(default ``IngestOptions``, parsing in its child process, the embedded Qdrant Edge store), in one
run, the variants taking turns, best of ``--repeats``:

- ``one at a time``: each document read, parsed, chunked, embedded and written in turn (the
  pipeline before parsing overlapped with embedding: ``read_ahead=0``), PyTorch;
- ``read ahead``: the next documents parsed while the current ones are embedded, PyTorch;
- ``read ahead + onnx`` and ``read ahead + onnx-int8``: the same with ONNX Runtime.

Default corpora: the bundled ``examples/data/`` and a deterministic, evenly spread sample of the
Python 3.11 HTML docs (fetched by ``benchmarks/get_corpus.sh``). The model is warmed up (and each
file type parsed once) before anything is timed. Only ratios measured in one run are meaningful.

Run::

    .venv/bin/python benchmarks/ingest.py                      # both default corpora, table
    .venv/bin/python benchmarks/ingest.py --limit-docs 50 --json
    .venv/bin/python benchmarks/ingest.py --corpus some/folder --corpus other/folder
    .venv/bin/python benchmarks/ingest.py --end-to-end --corpus examples/data [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from chunkwise.flows.environment import quiet_libraries  # noqa: E402

quiet_libraries()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from typing import Any  # noqa: E402

from chunkwise.connectors.filesystem_source import DEFAULT_INCLUDE  # noqa: E402
from chunkwise.connectors.qdrant_server_store import QdrantServerStore  # noqa: E402
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder  # noqa: E402
from chunkwise.connectors.stores import open_store  # noqa: E402
from chunkwise.flows.components import (  # noqa: E402
    build_chunker,
    build_embedder,
    build_encoder,
    build_parser,
    build_source,
    build_sparse_encoder,
)
from chunkwise.flows.settings import IngestOptions  # noqa: E402
from chunkwise.pipeline.indexing import index_documents  # noqa: E402
from chunkwise.pipeline.source import SourceItem  # noqa: E402

SAMPLE_CORPUS = ROOT / "examples" / "data"
GET_CORPUS = ROOT / "benchmarks" / "get_corpus.sh"
DEFAULT_LIMIT_DOCS = 30
REPEATS = 2
WARMUP_TEXTS = [f"Warm-up sentence number {i} for the embedding model." for i in range(64)]


@dataclass(frozen=True)
class Corpus:
    name: str
    files: list[Path]


@dataclass
class Row:
    corpus: str
    docs: int
    failed: int
    chunks: int
    model_tokens: int
    tiktoken_tokens: int
    e2e_seconds: float
    e2e_model_tokens_per_s: float
    e2e_tiktoken_tokens_per_s: float
    embed_groups: int
    embed_in_run_seconds: float
    pipeline_embed_seconds: float
    raw_encode_seconds: float
    precheck_seconds: float
    pipeline_embed_tokens_per_s: float
    raw_encode_tokens_per_s: float
    ratio: float
    share_parse: float
    share_chunk: float
    share_embed: float
    share_store: float
    share_other: float


class Timed:
    """Delegates everything to ``target``; calls of the ``methods`` named are timed.

    ``seconds[name]`` accumulates wall time per method; when ``keep_first_arg`` is set, the
    first argument of each successful call is kept in ``calls`` (the texts an encoder got).
    """

    def __init__(self, target: Any, methods: Sequence[str], keep_first_arg: bool = False) -> None:
        self._target = target
        self._methods = frozenset(methods)
        self._keep = keep_first_arg
        self.seconds = dict.fromkeys(methods, 0.0)
        self.calls: list[Any] = []

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in self._methods:
            return self._timed(name, value)
        return value

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
            if self._keep and args:
                self.calls.append(list(args[0]))
            return result

        return call


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def python_docs_html() -> Path:
    """The Python docs HTML folder, downloaded by get_corpus.sh when missing."""
    result = subprocess.run(["bash", str(GET_CORPUS)], check=True, capture_output=True, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def list_files(folder: Path, include: Sequence[str]) -> list[Path]:
    source = build_source([str(folder)], IngestOptions(include=tuple(include)))
    return sorted(Path(item.uri) for item in source.items())


def spread(files: list[Path], limit: int | None) -> list[Path]:
    """At most ``limit`` of the sorted ``files``, evenly spaced so they span the whole list."""
    if limit is None or len(files) <= limit:
        return files
    return [files[i * len(files) // limit] for i in range(limit)]


def default_corpora(limit: int | None) -> list[Corpus]:
    html = python_docs_html()
    return [
        Corpus("examples/data", spread(list_files(SAMPLE_CORPUS, DEFAULT_INCLUDE), limit)),
        Corpus("python-3.11-docs (html)", spread(list_files(html, ["*.html"]), limit)),
    ]


def given_corpora(paths: list[str], limit: int | None) -> list[Corpus]:
    corpora = []
    for path in map(Path, paths):
        files = list_files(path, DEFAULT_INCLUDE) if path.is_dir() else [path]
        corpora.append(Corpus(str(path), spread(files, limit)))
    return corpora


def warm_up(encoder: SentenceTransformerEncoder, parser: Any, files: list[Path]) -> None:
    """Load the model and run it once; parse the smallest file of each type once (imports)."""
    encoder.encode_documents(WARMUP_TEXTS)
    encoder.model.encode(WARMUP_TEXTS, batch_size=raw_batch_size(encoder), normalize_embeddings=True)
    smallest: dict[str, Path] = {}
    for file in sorted(files, key=lambda f: f.stat().st_size):
        smallest.setdefault(file.suffix.lower(), file)
    for file in smallest.values():
        item = SourceItem(uri=str(file), name=file.name, size=file.stat().st_size)
        try:
            parser.parse(item, file.read_bytes())
        except Exception as error:  # noqa: BLE001 - the timed run reports failures
            log(f"  warm-up parse of {file.name} failed: {error}")


def run_pipeline(corpus: Corpus, encoder: SentenceTransformerEncoder, options: IngestOptions) -> dict:
    """Index ``corpus`` into a fresh in-memory store; return the report and the stage proxies."""
    parser = Timed(build_parser(options), ["parse"])
    chunker = Timed(build_chunker(options, encoder), ["chunk"])
    timed_encoder = Timed(encoder, ["encode_documents"], keep_first_arg=True)
    store = Timed(
        QdrantServerStore(":memory:"),
        ["ensure_collection", "stored_documents", "replace_document", "collection_exists", "fingerprint"],
    )
    warm_up(encoder, parser._target, corpus.files)
    started = time.perf_counter()
    report = index_documents(
        build_source([str(f) for f in corpus.files], options),
        parser,
        chunker,
        timed_encoder,
        store,
        "bench",
        batch_chunks=options.batch_chunks,
        skip_unchanged=options.skip_unchanged,
    )
    seconds = time.perf_counter() - started
    store._target.close()
    return {"report": report, "seconds": seconds, "parser": parser, "chunker": chunker,
            "encoder": timed_encoder, "store": store}  # fmt: skip


def raw_encode(encoder: SentenceTransformerEncoder, texts: list[str]) -> float:
    started = time.perf_counter()
    encoder.model.encode(
        texts, batch_size=raw_batch_size(encoder), normalize_embeddings=True, show_progress_bar=False
    )
    return time.perf_counter() - started


def raw_batch_size(encoder: SentenceTransformerEncoder) -> int:
    """The encoder's fixed batch size, else sentence-transformers' default (32), for raw ``encode``."""
    return encoder.batch_size or 32


def pipeline_encode(encoder: SentenceTransformerEncoder, groups: list[list[str]]) -> float:
    started = time.perf_counter()
    for group in groups:
        encoder.encode_documents(group)
    return time.perf_counter() - started


def precheck(encoder: SentenceTransformerEncoder, groups: list[list[str]]) -> float:
    """Seconds of the encoder's token-count pre-check alone (a suspect when the ratio is low)."""
    started = time.perf_counter()
    for group in groups:
        encoder._refuse_overlong(group)
    return time.perf_counter() - started


def compare_encoders(encoder: SentenceTransformerEncoder, groups: list[list[str]]) -> tuple[float, ...]:
    """Best-of-``REPEATS`` seconds of (raw encode, pipeline encode, pre-check), alternated."""
    texts = [text for group in groups for text in group]
    raw, piped, checks = [], [], []
    for _ in range(REPEATS):
        raw.append(raw_encode(encoder, texts))
        piped.append(pipeline_encode(encoder, groups))
        checks.append(precheck(encoder, groups))
    return min(raw), min(piped), min(checks)


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def measure(corpus: Corpus, encoder: SentenceTransformerEncoder, options: IngestOptions) -> Row:
    log(f"{corpus.name}: {len(corpus.files)} files")
    run = run_pipeline(corpus, encoder, options)
    report, seconds, groups = run["report"], run["seconds"], run["encoder"].calls
    tokens = sum(encoder.tokenizer.count(text) for group in groups for text in group)
    log(f"  pipeline: {seconds:.1f}s, {report.indexed} docs, {report.chunks} chunks; comparing encoders")
    raw_seconds, pipe_seconds, check_seconds = compare_encoders(encoder, groups)
    stages = {name: run[name].total for name in ("parser", "chunker", "encoder", "store")}
    share = {name: value / seconds for name, value in stages.items()}
    return Row(
        corpus=corpus.name,
        docs=report.indexed,
        failed=report.failed,
        chunks=report.chunks,
        model_tokens=tokens,
        tiktoken_tokens=report.tokens,
        e2e_seconds=seconds,
        e2e_model_tokens_per_s=per_second(tokens, seconds),
        e2e_tiktoken_tokens_per_s=per_second(report.tokens, seconds),
        embed_groups=len(groups),
        embed_in_run_seconds=stages["encoder"],
        pipeline_embed_seconds=pipe_seconds,
        raw_encode_seconds=raw_seconds,
        precheck_seconds=check_seconds,
        pipeline_embed_tokens_per_s=per_second(tokens, pipe_seconds),
        raw_encode_tokens_per_s=per_second(tokens, raw_seconds),
        ratio=raw_seconds / pipe_seconds if pipe_seconds > 0 else 0.0,
        share_parse=share["parser"],
        share_chunk=share["chunker"],
        share_embed=share["encoder"],
        share_store=share["store"],
        share_other=max(0.0, 1.0 - sum(share.values())),
    )


COLUMNS = [
    ("corpus", "corpus", "{}"),
    ("docs", "docs", "{}"),
    ("chunks", "chunks", "{}"),
    ("model tokens", "model_tokens", "{:,}"),
    ("tiktoken tokens", "tiktoken_tokens", "{:,}"),
    ("e2e s", "e2e_seconds", "{:.1f}"),
    ("e2e model tok/s", "e2e_model_tokens_per_s", "{:,.0f}"),
    ("e2e tiktoken tok/s", "e2e_tiktoken_tokens_per_s", "{:,.0f}"),
    ("embed calls", "embed_groups", "{}"),
    ("embed in run s", "embed_in_run_seconds", "{:.1f}"),
    ("pipeline embed tok/s", "pipeline_embed_tokens_per_s", "{:,.0f}"),
    ("raw encode tok/s", "raw_encode_tokens_per_s", "{:,.0f}"),
    ("ratio", "ratio", "{:.3f}"),
    ("pre-check s", "precheck_seconds", "{:.2f}"),
    ("parse %", "share_parse", "{:.0%}"),
    ("chunk %", "share_chunk", "{:.0%}"),
    ("embed %", "share_embed", "{:.0%}"),
    ("store %", "share_store", "{:.0%}"),
    ("other %", "share_other", "{:.0%}"),
]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(title for title, _, _ in COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for row in rows:
        values = asdict(row)
        lines.append("| " + " | ".join(fmt.format(values[key]) for _, key, fmt in COLUMNS) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Variant:
    name: str
    backend: str
    read_ahead: int


VARIANTS = [
    Variant("one at a time", "torch", 0),
    Variant("read ahead", "torch", 2),
    Variant("read ahead + onnx", "onnx", 2),
    Variant("read ahead + onnx-int8", "onnx-int8", 2),
]


def ingest_once(corpus: Corpus, variant: Variant, parts: dict[str, Any], options: IngestOptions) -> dict:
    """One whole ingest of ``corpus`` into a new embedded store; its seconds and counts."""
    with tempfile.TemporaryDirectory(prefix="chunkwise-bench-") as folder, open_store(folder) as store:
        started = time.perf_counter()
        report = index_documents(
            build_source([str(f) for f in corpus.files], options),
            parts["parser"],
            parts["chunker"],
            parts["embedder"],
            store,
            "bench",
            sparse_encoder=parts["sparse"],
            batch_chunks=options.batch_chunks,
            read_ahead=variant.read_ahead,
        )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "docs": report.indexed, "failed": report.failed, "chunks": report.chunks}


def end_to_end(corpus: Corpus, repeats: int) -> list[dict]:
    """Every variant's best whole-ingest time of ``corpus``, measured in turns, and its speed-up."""
    options = IngestOptions()
    encoders = {
        backend: build_encoder(options.model, backend=backend) for backend in {v.backend for v in VARIANTS}
    }
    parts = {}
    for variant in VARIANTS:
        embedder = build_embedder(options, encoders[variant.backend])
        parser = build_parser(options)  # each variant its own parsing process, started and warmed here
        warm_up(encoders[variant.backend], parser, corpus.files)
        chunker, sparse = build_chunker(options, embedder), build_sparse_encoder(options)
        parts[variant.name] = {"parser": parser, "chunker": chunker, "embedder": embedder, "sparse": sparse}
    best: dict[str, dict] = {}
    for repeat in range(repeats):
        for variant in VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]:
            run = ingest_once(corpus, variant, parts[variant.name], options)
            log(f"  {corpus.name} | {variant.name}: {run['seconds']:.1f}s, {run['chunks']} chunks")
            if variant.name not in best or run["seconds"] < best[variant.name]["seconds"]:
                best[variant.name] = run
    for part in parts.values():
        part["parser"].close()
    baseline = best[VARIANTS[0].name]["seconds"]
    rows = []
    for variant in VARIANTS:
        run = best[variant.name]
        described = {"corpus": corpus.name, "variant": variant.name, "backend": variant.backend}
        speedup = baseline / run["seconds"]
        rows.append({**described, "read_ahead": variant.read_ahead, **run, "speedup": speedup})
    return rows


def end_to_end_table(rows: list[dict]) -> str:
    lines = ["| corpus | variant | docs | chunks | best s | speed-up |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['corpus']} | {row['variant']} | {row['docs']} | {row['chunks']} "
            f"| {row['seconds']:.1f} | {row['speedup']:.2f}x |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", metavar="PATH", help="file or folder (repeatable)")
    parser.add_argument(
        "--limit-docs",
        type=int,
        default=DEFAULT_LIMIT_DOCS,
        help=f"at most N files per corpus, evenly spread (default {DEFAULT_LIMIT_DOCS}; 0 = all)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="compare whole ingests: one document at a time, read ahead, and ONNX backends",
    )
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs per variant (default {REPEATS})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    limit = args.limit_docs or None
    corpora = given_corpora(args.corpus, limit) if args.corpus else default_corpora(limit)
    if args.end_to_end:
        compared = [row for corpus in corpora for row in end_to_end(corpus, max(1, args.repeats))]
        print(json.dumps(compared, indent=2) if args.json else end_to_end_table(compared))
        return
    options = IngestOptions(chunking="fixed")  # compared with encoding the same chunk texts alone
    encoder = build_encoder(options.model)
    rows = [measure(corpus, encoder, options) for corpus in corpora]
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print(markdown_table(rows))


if __name__ == "__main__":
    main()
