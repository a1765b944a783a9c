"""The ``chunkwise`` command: ``ingest``, ``serve``, ``query``, ``info``, ``copy`` and ``eval``."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
from typing import Annotated, Any

import click
import typer
from rich.markup import escape

from connectors.qdrant_edge_store import QdrantEdgeStore
from connectors.stores import Store
from flows import console
from flows.cli_options import (
    DEFAULTS,
    CollectionOption,
    JsonOption,
    MaxSentencesOption,
    ModelOption,
    SentenceOverlapOption,
    StoreOption,
    TrustOption,
    validated_options,
    with_ingest_options,
)
from flows.components import (
    build_chunker,
    build_embedder,
    build_parser,
    build_source,
    build_sparse_encoder,
    build_store,
)
from flows.environment import quiet_libraries
from flows.query_options import parse_expansion, parse_filters
from flows.settings import DEFAULT_BATCH_DOCUMENTS, IngestOptions, Settings
from pipeline.copying import copy_collection
from pipeline.errors import ChunkwiseError, ConfigurationError
from pipeline.indexing import index_documents
from pipeline.types import Fusion

app = typer.Typer(
    help="Turn documents into a Qdrant collection a RAG application can trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
@with_ingest_options
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders to ingest (folders recursively).")],
    options: IngestOptions,
    store: StoreOption = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Parse, chunk, embed and store documents; unchanged ones are skipped.

    Exit 0: all indexed; 2: some failed (the rest is indexed); 1: fatal error.
    """
    settings = Settings()
    collection = collection or settings.collection
    encoder = build_embedder(options)
    with build_store(store, settings) as vector_store:
        with console.progress_bar(not as_json) as progress:
            report = index_documents(
                build_source(paths, options),
                build_parser(options),
                build_chunker(options, encoder),
                encoder,
                vector_store,
                collection,
                sparse_encoder=build_sparse_encoder(options),
                batch_chunks=options.batch_chunks,
                skip_unchanged=options.skip_unchanged,
                prune=options.prune,
                reindex=options.reindex,
                progress=progress,
            )
        if report.indexed or report.deleted:
            _optimize(vector_store, collection, quiet=as_json)
    if as_json:
        _print_json(report.to_dict())
    else:
        console.print_report(report, collection, vector_store.location)
    raise typer.Exit(report.exit_code)


@app.command()
@with_ingest_options
def serve(
    paths: Annotated[
        list[str], typer.Argument(help="Files and folders to keep the collection in sync with.")
    ],
    options: IngestOptions,
    cron: Annotated[
        str | None, typer.Option(help="Run on this cron schedule, e.g. '*/15 * * * *' (local time).")
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Run every this many seconds.")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name [default: the collection's].")] = None,
    batch_documents: Annotated[
        int, typer.Option(min=1, help="Documents per task of the flow.")
    ] = DEFAULT_BATCH_DOCUMENTS,
    store: StoreOption = None,
    collection: CollectionOption = None,
) -> None:
    """Keep a collection in sync with PATHS: run the ingest flow on a schedule until interrupted.

    Each run indexes new and changed documents (add --prune to delete those removed). Needs a
    Prefect server: PREFECT_API_URL, or one on 127.0.0.1:4200 (`make prefect-server`).
    """
    from flows.serving import serve_ingest, serve_parameters, use_local_prefect_home

    use_local_prefect_home()
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise ConfigurationError(f"{', '.join(missing)} does not exist")
    settings = Settings()
    collection = collection or settings.collection
    parameters = serve_parameters(paths, store or settings.store, collection, options, batch_documents)
    serve_ingest(name or collection, parameters, cron=cron, interval=interval)


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="The question or search text.")],
    store: StoreOption = None,
    collection: CollectionOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many passages to return.")] = 5,
    mode: Annotated[
        str | None,
        typer.Option(
            help="dense (meaning), sparse (BM25 keywords) or hybrid (both, fused by rank) "
            "[default: hybrid if the collection has keyword weights, else dense]."
        ),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="How hybrid joins its rankings: rrf (reciprocal rank), rrf:W (BM25 weighted W against "
            "the embedding's 1) or dbsf (scores scaled by their spread) [default: the model's]."
        ),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="KEY=VALUE a passage's payload must match, repeatable: source=*/faq/*.html (globs), "
            "document_id=ID, metadata.KEY=VALUE. A key given twice matches either value.",
        ),
    ] = None,
    expand: Annotated[
        str, typer.Option(help="Add N neighbouring chunks on each side of a hit, or its whole section.")
    ] = "0",
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Leave out passages scoring below this.")
    ] = None,
    mmr: Annotated[
        bool, typer.Option("--mmr", help="Diversify the passages (maximal marginal relevance).")
    ] = False,
    trust_remote_code: TrustOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print the passages that best answer TEXT, embedded with the collection's own model."""
    from connectors.retriever import open_retriever

    settings = Settings()
    collection = collection or settings.collection
    options: dict[str, Any] = {
        "k": k,
        "filter": parse_filters(filters or []),
        "expand": parse_expansion(expand),
        "score_threshold": threshold,
        "mmr": mmr,
        "trust_remote_code": trust_remote_code,
    }
    if mode is not None:
        options["mode"] = mode
    if fusion is not None:
        options["fusion"] = fusion
    with build_store(store, settings) as vector_store:
        documents = open_retriever(vector_store, collection, **options).invoke(text)
    if as_json:
        _print_json([{"text": document.page_content, **document.metadata} for document in documents])
    else:
        console.print_passages(documents)


@app.command()
def info(
    store: StoreOption = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a collection's size and the pipeline fingerprint it was built with."""
    settings = Settings()
    collection = collection or settings.collection
    with build_store(store, settings) as vector_store:
        fingerprint = vector_store.fingerprint(collection)
        if fingerprint is None:
            raise ChunkwiseError(f"collection {collection!r} does not exist in {vector_store.location}")
        details = {
            "store": vector_store.location,
            "collection": collection,
            "points": vector_store.count(collection),
            "documents": vector_store.document_count(collection),
            "fingerprint": fingerprint.to_dict(),
        }
    if as_json:
        _print_json(details)
    else:
        console.print_info(details)


@app.command()
def copy(
    source: Annotated[str, typer.Argument(help="Store to copy from: folder, URL or local:FOLDER.")],
    target: Annotated[str, typer.Argument(help="Store to copy to: folder, URL or local:FOLDER.")],
    collection: CollectionOption = None,
    to_collection: Annotated[
        str | None, typer.Option("--to-collection", help="Name in the target store [default: the same].")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Drop the target collection first if it already holds points.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy a collection to another store with its vectors, fingerprint and payloads (no re-embedding).

    Moves an embedded collection to a Qdrant server: `chunkwise copy .chunkwise/qdrant http://HOST:6333`.
    """
    settings = Settings()
    collection = collection or settings.collection
    with build_store(source, settings) as source_store, build_store(target, settings) as target_store:
        with console.copy_progress_bar(not as_json) as progress:
            copied = copy_collection(
                source_store,
                target_store,
                collection,
                target_collection=to_collection,
                replace=replace,
                progress=progress,
            )
        if copied:
            _optimize(target_store, to_collection or collection, quiet=as_json)
    summary = {
        "source": source,
        "target": target,
        "collection": to_collection or collection,
        "points": copied,
    }
    if as_json:
        _print_json(summary)
    else:
        console.print_copy(summary)


@app.command("eval")
def evaluate(
    datasets: Annotated[
        list[str],
        typer.Argument(help="Evaluation set folders: corpus/ + queries.jsonl + qrels.jsonl, or BEIR."),
    ],
    chunking: Annotated[str | None, typer.Option(help="Comma-separated: fixed, late.")] = None,
    chunker: Annotated[str | None, typer.Option(help="Comma-separated: token, sentence.")] = None,
    chunk_size: Annotated[str | None, typer.Option(help="Comma-separated tokens per chunk.")] = None,
    chunk_overlap: Annotated[
        str | None, typer.Option(help="Comma-separated overlaps (token chunker).")
    ] = None,
    max_sentences: MaxSentencesOption = None,
    sentence_overlap: SentenceOverlapOption = DEFAULTS.sentence_overlap,
    late_window: Annotated[
        str | None, typer.Option(help="Comma-separated late windows [default: the model's].")
    ] = None,
    late_overlap: Annotated[str | None, typer.Option(help="Comma-separated late window overlaps.")] = None,
    late_mix: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated weights A of late vectors mixed with chunk-alone ones (1: late only)."
        ),
    ] = None,
    headers: Annotated[
        str | None, typer.Option(help="Comma-separated: off, on (embed chunks under title and section).")
    ] = None,
    tokenizer: Annotated[str, typer.Option(help="Counts chunk sizes (as for ingest).")] = DEFAULTS.tokenizer,
    boundaries: Annotated[str, typer.Option(help="words, elements or sections.")] = DEFAULTS.boundaries,
    model: ModelOption = DEFAULTS.model,
    trust_remote_code: TrustOption = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Cutoff of every metric.")] = 10,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated retrieval modes: dense (embedding), sparse (BM25 terms), hybrid (both, "
            "fused by rank). Each configuration is ingested once and scored in every mode. "
            "[default: dense and the default mode]"
        ),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated fusions scored in hybrid mode: rrf, rrf:W (BM25 weighted W), dbsf "
            "[default: the model's]."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Qdrant folder or URL for temporary collections [default: in memory]."),
    ] = None,
    run_file: Annotated[
        str | None, typer.Option("--run-file", help="Write every ranked hit as JSON lines to this file.")
    ] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Draw the metrics to this PNG file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score chunking configurations on labelled sets: every combination of the listed values, per mode.

    With no configuration option, scores the ingest defaults and, as baseline, fixed chunking
    with the same chunker. With several sets, also prints each configuration's macro average
    and its difference from the baseline (fixed chunking, dense) with a 95% bootstrap interval.

    Exit 0: done; 2: some documents failed to ingest (scores cover the rest); 1: fatal error.
    """
    from flows.eval_plot import plot_rows
    from flows.evaluate import Evaluation, baseline_options, check_modes, configuration_grid, pick_baseline
    from pipeline.evaluation.dataset import load_dataset

    defaults = validated_options(
        tokenizer=tokenizer,
        boundaries=boundaries,
        model=model,
        trust_remote_code=trust_remote_code,
        max_sentences=max_sentences,
        sentence_overlap=sentence_overlap,
    )
    axes = {
        "chunking": _values(chunking, str, "--chunking"),
        "chunker": _values(chunker, str, "--chunker"),
        "chunk_size": _values(chunk_size, int, "--chunk-size"),
        "chunk_overlap": _values(chunk_overlap, int, "--chunk-overlap"),
        "late_window": _values(late_window, int, "--late-window"),
        "late_overlap": _values(late_overlap, int, "--late-overlap"),
        "late_mix": _values(late_mix, float, "--late-mix"),
        "headers": [_switch(value, "--headers") for value in _values(headers, str, "--headers")],
    }
    baseline = baseline_options(defaults)
    if any(axes.values()):
        grid = configuration_grid(
            defaults, {"chunking": ["fixed", "late"], **{a: v for a, v in axes.items() if v}}
        )
    else:
        grid = [defaults, baseline]
    default_mode = "hybrid" if defaults.sparse else "dense"
    try:
        modes = check_modes(
            _values(mode, str, "--mode") if mode is not None else list(dict.fromkeys(["dense", default_mode]))
        )
    except ConfigurationError as error:
        raise ConfigurationError(f"--mode: {error}") from error
    try:
        fusions = [Fusion.parse(text) for text in _values(fusion, str, "--fusion")]
    except ValueError as error:
        raise ConfigurationError(f"--fusion: {error}") from error
    labelled = [load_dataset(dataset) for dataset in datasets]
    rows = []
    with contextlib.ExitStack() as stack:
        vector_store = stack.enter_context(build_store(store)) if store else None
        run_handle = stack.enter_context(open(run_file, "w", encoding="utf-8")) if run_file else None
        progress = stack.enter_context(console.eval_progress_bar(not as_json))
        for dataset in labelled:
            evaluation = Evaluation(
                dataset,
                store=vector_store,
                k=k,
                modes=modes,
                fusions=fusions,
                run_file=run_handle,
                progress=progress,
            )
            rows.extend(evaluation.run(grid))
    baseline_config = pick_baseline(rows)
    if plot:
        names = ", ".join(dataset.name for dataset in labelled)
        plot_rows(rows, plot, k, title=f"{names}: retrieval at {k}")
    if as_json:
        _print_json(console.eval_json(rows, baseline_config))
    else:
        console.print_eval_sets(rows, baseline_config, k)
    raise typer.Exit(2 if any(row.failures for row in rows) else 0)


def _switch(value: str, option: str) -> bool:
    """``on``/``off`` (or true/false, yes/no, 1/0) as a bool."""
    words = {
        "on": True,
        "true": True,
        "yes": True,
        "1": True,
        "off": False,
        "false": False,
        "no": False,
        "0": False,
    }
    if value.lower() not in words:
        raise ConfigurationError(f"{option}: {value!r} is not on or off")
    return words[value.lower()]


def _optimize(store: Store, collection: str, *, quiet: bool) -> None:
    """Let the embedded store build its index now, with a spinner, rather than silently at close."""
    if isinstance(store, QdrantEdgeStore):
        with console.status(not quiet, f"Optimizing {collection} (a large first write builds its index)"):
            store.optimize(collection)


def _values(text: str | None, kind: type, option: str) -> list[Any]:
    """The comma-separated values of a grid option (none when it was not given)."""
    if text is None:
        return []
    try:
        return [kind(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ConfigurationError(f"{option}: {text!r} is not a comma-separated list of numbers") from error


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def main() -> None:
    """Entry point of ``chunkwise``: exit 0 on success, 2 when documents failed, 1 on a fatal error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    try:
        code = app(standalone_mode=False)
    except click.ClickException as error:  # bad usage is fatal too: exit 1, keeping 2 for failed documents
        error.show()
        sys.exit(1)
    except click.Abort:
        sys.exit(130)
    except ChunkwiseError as error:
        console.err_console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    finally:
        # The command is done and the process about to exit: spare the interpreter's shutdown from
        # walking every object torch, transformers and spaCy made (about 2 s after an ingest).
        gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)
