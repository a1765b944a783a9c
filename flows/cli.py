"""The ``chunkwise`` command: ``ingest``, ``query`` and ``info``."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

import click
import typer

from flows import console
from flows.components import (
    build_chunker,
    build_embedder,
    build_parser,
    build_source,
    build_store,
    encoder_for_collection,
)
from flows.environment import quiet_libraries
from flows.settings import DEFAULT_COLLECTION, DEFAULT_STORE, IngestOptions, Settings
from pipeline.errors import ChunkwiseError, ConfigurationError
from pipeline.indexing import index_documents

app = typer.Typer(
    help="Turn documents into a Qdrant collection a RAG application can trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=f"Folder of an embedded store, or a Qdrant URL. [env CHUNKWISE_STORE; default {DEFAULT_STORE}]",
    ),
]
CollectionOption = Annotated[
    str | None,
    typer.Option(
        "--collection", help=f"Collection name. [env CHUNKWISE_COLLECTION; default {DEFAULT_COLLECTION}]"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
_DEFAULTS = IngestOptions()


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders to ingest (folders recursively).")],
    store: StoreOption = None,
    collection: CollectionOption = None,
    chunking: Annotated[
        str,
        typer.Option(
            help="fixed: embed each chunk alone; late: pool chunks from whole-document token vectors."
        ),
    ] = _DEFAULTS.chunking,
    chunk_size: Annotated[int, typer.Option(help="Tokens per chunk at most.")] = _DEFAULTS.chunk_size,
    chunk_overlap: Annotated[
        int, typer.Option(help="Tokens shared by consecutive chunks.")
    ] = _DEFAULTS.chunk_overlap,
    tokenizer: Annotated[
        str, typer.Option(help="Counts chunk sizes: tiktoken (cl100k_base), tiktoken:<encoding>, or model.")
    ] = _DEFAULTS.tokenizer,
    boundaries: Annotated[
        str, typer.Option(help="Cut between words, prefer element ends, or never cross sections.")
    ] = _DEFAULTS.boundaries,
    model: Annotated[str, typer.Option(help="sentence-transformers model name or folder.")] = _DEFAULTS.model,
    late_window: Annotated[
        int | None,
        typer.Option(help="late: tokens per model pass, specials included [default: the model's maximum]."),
    ] = None,
    late_overlap: Annotated[
        int, typer.Option(help="late: context tokens shared by consecutive windows.")
    ] = 0,
    include: Annotated[
        list[str] | None, typer.Option(help="Glob of files to take from folders (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Glob of files to leave out (repeatable).")
    ] = None,
    max_bytes: Annotated[
        int, typer.Option(help="Files larger than this fail with an error.")
    ] = _DEFAULTS.max_bytes,
    as_json: JsonOption = False,
) -> None:
    """Parse, chunk, embed and store documents. Exit 0: all indexed; 2: some failed; 1: fatal error."""
    options = _validated(
        chunking=chunking,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        tokenizer=tokenizer,
        boundaries=boundaries,
        model=model,
        late_window=late_window,
        late_overlap=late_overlap,
        include=tuple(include) if include else _DEFAULTS.include,
        exclude=tuple(exclude or ()),
        max_bytes=max_bytes,
    )
    settings = Settings()
    collection = collection or settings.collection
    encoder = build_embedder(options)
    with build_store(store, settings) as vector_store, console.progress_bar(not as_json) as progress:
        report = index_documents(
            build_source(paths, options),
            build_parser(options),
            build_chunker(options, encoder),
            encoder,
            vector_store,
            collection,
            batch_chunks=options.batch_chunks,
            skip_unchanged=options.skip_unchanged,
            progress=progress,
        )
    if as_json:
        _print_json(report.to_dict())
    else:
        console.print_report(report, collection, vector_store.location)
    raise typer.Exit(report.exit_code)


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="The question or search text.")],
    store: StoreOption = None,
    collection: CollectionOption = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many passages to return.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Print the passages closest to TEXT, embedded with the collection's own model."""
    settings = Settings()
    collection = collection or settings.collection
    with build_store(store, settings) as vector_store:
        encoder, _ = encoder_for_collection(vector_store, collection)
        hits = vector_store.search(collection, encoder.encode_query(text), k)
    if as_json:
        keys = ("text", "source", "chunk_index", "start", "end")
        _print_json([{"score": hit.score, **{key: hit.payload.get(key) for key in keys}} for hit in hits])
    else:
        console.print_hits(hits)


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


def _validated(**values: Any) -> IngestOptions:
    from pydantic import ValidationError

    try:
        return IngestOptions(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(problems) from error


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
        console.err_console.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
