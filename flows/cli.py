"""The ``chunkwise`` command: ``ingest``, ``serve``, ``query``, ``info``, ``copy`` and ``eval``."""

from __future__ import annotations

import gc
import json
import logging
import sys
from typing import Annotated, Any

import click
import typer
from rich.markup import escape

from chunkwise.flows import api, console
from chunkwise.flows.cli_options import (
    DEFAULTS,
    BackendOption,
    CollectionOption,
    DeviceOption,
    DimensionsOption,
    DocumentPromptOption,
    JsonOption,
    MaxSentencesOption,
    ModelOption,
    MultivectorMaxTokensOption,
    MultivectorModelOption,
    MultivectorPoolOption,
    PrecisionOption,
    QueryPromptOption,
    SentenceOverlapOption,
    SparseModelOption,
    StoreOption,
    TrustOption,
    with_ingest_options,
)
from chunkwise.flows.environment import quiet_libraries
from chunkwise.flows.evaluate import check_modes
from chunkwise.flows.query_options import parse_expansion, parse_filters
from chunkwise.flows.settings import DEFAULT_BATCH_DOCUMENTS, IngestOptions, Settings
from chunkwise.pipeline.errors import ChunkwiseError, ConfigurationError
from chunkwise.pipeline.types import Fusion

LOCATIONS_HELP = (
    "files and folders (recursively), s3://bucket/prefix, a website's URL (crawled within its path) "
    "or its sitemap.xml, git+URL or a local repository with --ref."
)
app = typer.Typer(
    help="Turn documents into a Qdrant collection a RAG application can trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from chunkwise import __version__

        typer.echo(f"chunkwise {__version__}")
        raise typer.Exit()


@app.callback()
def _common(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Turn documents into a Qdrant collection a RAG application can trust."""


@app.command()
@with_ingest_options
def ingest(
    paths: Annotated[list[str], typer.Argument(help=f"What to ingest: {LOCATIONS_HELP}")],
    options: IngestOptions,
    store: StoreOption = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="Run on the Dask cluster whose scheduler is at this address (tcp://HOST:8786): its "
            "workers parse, chunk and embed. Needs chunkwise[dask].",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Start a Dask cluster of this many worker processes here for the run."
        ),
    ] = None,
    batch_documents: Annotated[
        int, typer.Option(min=1, help="With --dask or --workers: documents per task.")
    ] = DEFAULT_BATCH_DOCUMENTS,
) -> None:
    """Parse, chunk, embed and store documents; unchanged ones are skipped.

    Exit 0: all indexed; 2: some failed (the rest is indexed); 1: fatal error.
    """
    report = api.ingest(
        paths,
        store=store,
        collection=collection,
        options=options,
        progress=not as_json,
        dask=dask,
        workers=workers,
        batch_documents=batch_documents,
    )
    if as_json:
        _print_json(report.to_dict())
    else:
        settings = Settings()
        console.print_report(report, collection or settings.collection, _location(store, settings))
    raise typer.Exit(report.exit_code)


@app.command()
@with_ingest_options
def serve(
    paths: Annotated[
        list[str], typer.Argument(help=f"What to keep the collection in sync with: {LOCATIONS_HELP}")
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
    api.serve(
        paths,
        cron=cron,
        interval=interval,
        name=name,
        batch_documents=batch_documents,
        store=store,
        collection=collection,
        options=options,
    )


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="The question or search text.")],
    store: StoreOption = None,
    collection: CollectionOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many passages to return.")] = 5,
    mode: Annotated[
        str | None,
        typer.Option(
            help="dense (meaning), sparse (BM25 keywords), hybrid (both, fused by rank; rescored by "
            "MaxSim when the collection has token vectors) or multivector (MaxSim over token vectors) "
            "[default: hybrid if the collection has keyword weights, else dense]."
        ),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="How rankings are joined: rrf (reciprocal rank), rrf:W (BM25 weighted W against each "
            "embedding ranking's 1: one, or two with --alone-vector, whose dense mode fuses the late and "
            "alone rankings too) or dbsf (scores scaled by their spread) [default: the model's]. It does not "
            "apply to a collection with token vectors, whose hybrid is rescored by MaxSim instead."
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
    dimensions: Annotated[
        int | None,
        typer.Option(help="The collection's vector size, checked [default: the collection's]."),
    ] = None,
    query_prompt: Annotated[
        str | None,
        typer.Option(help="Text put before the query ('' for none) [default: the collection's]."),
    ] = None,
    trust_remote_code: TrustOption = False,
    device: DeviceOption = DEFAULTS.device,
    precision: PrecisionOption = DEFAULTS.precision,
    sparse_model: Annotated[
        str | None,
        typer.Option(
            "--sparse-model",
            help="Load the collection's learned sparse model from this folder [default: where the "
            "collection says it was].",
        ),
    ] = None,
    multivector_model: Annotated[
        str | None,
        typer.Option(
            "--multivector-model",
            help="Load the collection's multivector model from this folder [default: where the "
            "collection says it was].",
        ),
    ] = None,
    oversampling: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="On a quantized collection, candidates per hit rescored on the original vectors "
            "[default: 2 on the embedded store, the server's own on a server].",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the passages that best answer TEXT, embedded with the collection's own model."""
    options: dict[str, Any] = {
        "filter": parse_filters(filters or []),
        "expand": parse_expansion(expand),
        "score_threshold": threshold,
        "mmr": mmr,
        "dimensions": dimensions,
        "query_prompt": query_prompt,
        "trust_remote_code": trust_remote_code,
        "device": device,
        "precision": precision,
        "sparse_model": sparse_model,
        "multivector_model": multivector_model,
    }
    if mode is not None:
        options["mode"] = mode
    if fusion is not None:
        options["fusion"] = fusion
    documents = api.query(text, store=store, collection=collection, k=k, oversampling=oversampling, **options)
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
    details = api.info(store, collection).to_dict()
    if as_json:
        _print_json(details)
    else:
        console.print_info(details)


@app.command()
def verify(
    store: StoreOption = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read every point of a collection and check it: exit 0 when it is sound, 1 when it is damaged."""
    result = api.verify(store, collection)
    if as_json:
        _print_json(result.to_dict())
    else:
        console.print_verification(result.to_dict())
    raise typer.Exit(0 if result.sound else 1)


@app.command()
@with_ingest_options
def repair(
    options: IngestOptions,
    store: StoreOption = None,
    collection: CollectionOption = None,
) -> None:
    """Write an embedded collection's lost or damaged collection.json again.

    Give the model and ingest options the collection was built with: they are checked against every
    point (each carries the digest of the pipeline that built it) before anything is written.
    """
    checked = api.repair(store, collection, options=options)
    console.out_console.print(
        f"Restored the settings of {escape(collection or Settings().collection)}: its {checked:,} points "
        "were built with these options",
        highlight=False,
    )


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
    quantization: Annotated[
        str | None,
        typer.Option(help="Quantize the target collection's vectors: scalar (int8) or binary."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a collection to another store with its vectors, fingerprint and payloads (no re-embedding).

    Moves an embedded collection to a Qdrant server: `chunkwise copy .chunkwise/qdrant http://HOST:6333`.
    """
    copied = api.copy(
        source,
        target,
        collection=collection,
        to_collection=to_collection,
        replace=replace,
        quantization=quantization,
        progress=not as_json,
    )
    summary = {
        "source": source,
        "target": target,
        "collection": to_collection or collection or Settings().collection,
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
    alone_vector: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: off, on (late: store chunk-alone vectors beside late ones; fused)."
        ),
    ] = None,
    tokenizer: Annotated[str, typer.Option(help="Counts chunk sizes (as for ingest).")] = DEFAULTS.tokenizer,
    boundaries: Annotated[str, typer.Option(help="words, elements or sections.")] = DEFAULTS.boundaries,
    dimensions: DimensionsOption = None,
    query_prompt: QueryPromptOption = None,
    document_prompt: DocumentPromptOption = None,
    model: ModelOption = DEFAULTS.model,
    trust_remote_code: TrustOption = False,
    backend: BackendOption = DEFAULTS.backend,
    device: DeviceOption = DEFAULTS.device,
    precision: PrecisionOption = DEFAULTS.precision,
    sparse_model: SparseModelOption = None,
    multivector_model: MultivectorModelOption = None,
    multivector_pool_factor: MultivectorPoolOption = 1,
    multivector_max_tokens: MultivectorMaxTokensOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Cutoff of every metric.")] = 10,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated retrieval modes: dense (embedding), sparse (BM25 terms), hybrid (both, "
            "fused by rank, rescored by MaxSim with --multivector-model), multivector (MaxSim). Each "
            "configuration is ingested once and scored in every mode. "
            "[default: dense and the default mode]"
        ),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated fusions scored in hybrid mode: rrf, rrf:W (BM25 weighted W), dbsf "
            "[default: the model's]; with --multivector-model, hybrid is scored once, rescored by "
            "MaxSim (fusion maxsim)."
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
    axes = {
        "chunking": _values(chunking, str, "--chunking"),
        "chunker": _values(chunker, str, "--chunker"),
        "chunk_size": _values(chunk_size, int, "--chunk-size"),
        "chunk_overlap": _values(chunk_overlap, int, "--chunk-overlap"),
        "late_window": _values(late_window, int, "--late-window"),
        "late_overlap": _values(late_overlap, int, "--late-overlap"),
        "late_mix": _values(late_mix, float, "--late-mix"),
        "headers": [_switch(value, "--headers") for value in _values(headers, str, "--headers")],
        "alone_vector": [
            _switch(value, "--alone-vector") for value in _values(alone_vector, str, "--alone-vector")
        ],
    }
    try:
        modes = check_modes(_values(mode, str, "--mode")) if mode is not None else None
    except ConfigurationError as error:
        raise ConfigurationError(f"--mode: {error}") from error
    try:
        fusions = [Fusion.parse(text) for text in _values(fusion, str, "--fusion")]
    except ValueError as error:
        raise ConfigurationError(f"--fusion: {error}") from error
    result = api.evaluate(
        datasets,
        k=k,
        modes=modes,
        fusions=fusions,
        store=store,
        run_file=run_file,
        progress=not as_json,
        tokenizer=tokenizer,
        boundaries=boundaries,
        dimensions=dimensions,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        model=model,
        trust_remote_code=trust_remote_code,
        backend=backend,
        device=device,
        precision=precision,
        sparse_model=sparse_model,
        multivector_model=multivector_model,
        multivector_pool_factor=multivector_pool_factor,
        multivector_max_tokens=multivector_max_tokens,
        max_sentences=max_sentences,
        sentence_overlap=sentence_overlap,
        **{axis: values for axis, values in axes.items() if values},
    )
    if plot:
        result.plot(plot)
    if as_json:
        _print_json(result.to_dicts())
    else:
        console.print_eval_sets(result.rows, result.baseline, k)
    raise typer.Exit(2 if result.failed else 0)


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


def _location(store: str | None, settings: Settings) -> str:
    return store or settings.store


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


def _show_usage_error(error: Exception) -> None:
    """Typer's (and click's) own message and usage hint, never a traceback."""
    show = getattr(error, "show", None)
    if callable(show):
        show()
    else:
        console.err_console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point of ``chunkwise``: exit 0 on success, 2 when documents failed, 1 on a fatal error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    try:
        code = app(standalone_mode=False)
    except (click.ClickException, typer.TyperException) as error:  # bad usage: exit 1 (2 is failed documents)
        _show_usage_error(error)
        sys.exit(1)
    except (click.Abort, typer.Abort):
        sys.exit(130)
    except ChunkwiseError as error:
        console.err_console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    finally:
        # The command is done and the process about to exit: spare the interpreter's shutdown from
        # walking every object torch, transformers and spaCy made (about 2 s after an ingest).
        gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)
