"""chunkwise from Python: one call per job, with the command line's defaults and collections.

Each function does what the ``chunkwise`` command of the same name does, and the command calls it:
``ingest`` writes exactly the collection ``chunkwise ingest`` writes. ``store`` is a location (a
folder for the embedded store, an ``http(s)://`` URL for a Qdrant server, ``:memory:``) or a store
already open; left out, it is ``CHUNKWISE_STORE`` (default ``.chunkwise/qdrant``), and ``collection``
is ``CHUNKWISE_COLLECTION`` (default ``chunkwise``).

Example::

    import chunkwise

    report = chunkwise.ingest("docs/", store=".chunkwise/qdrant", collection="docs")
    retriever = chunkwise.open_retriever(".chunkwise/qdrant", "docs", k=4)
    for passage in retriever.invoke("How do I roll back an upgrade?"):
        print(passage.metadata["source"], passage.page_content[:80])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chunkwise.connectors.qdrant_common import OVERSAMPLING_OF_AN_OPEN_STORE
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.sources import location_kind
from chunkwise.connectors.stores import Store
from chunkwise.flows import console
from chunkwise.flows.cli_options import validated_options
from chunkwise.flows.components import (
    build_chunker,
    build_embedder,
    build_parser,
    build_source,
    build_sparse_encoder,
    build_store,
)
from chunkwise.flows.evaluate import (
    AXES,
    EvalRow,
    Evaluation,
    baseline_options,
    check_modes,
    compare_rows,
    configuration_grid,
    pick_baseline,
)
from chunkwise.flows.settings import DEFAULT_BATCH_DOCUMENTS, IngestOptions, Settings
from chunkwise.pipeline.copying import copy_collection
from chunkwise.pipeline.errors import ChunkwiseError, ConfigurationError
from chunkwise.pipeline.evaluation.comparison import Comparison
from chunkwise.pipeline.indexing import ProgressCallback, index_documents, pipeline_fingerprint
from chunkwise.pipeline.report import RunReport
from chunkwise.pipeline.types import Fusion
from chunkwise.pipeline.verify import Verification, verify_collection

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chunkwise.connectors.retriever import ChunkwiseRetriever

PathArgument = str | os.PathLike[str]
StoreArgument = str | os.PathLike[str] | Store | None


def ingest(
    paths: PathArgument | Sequence[PathArgument],
    *,
    store: StoreArgument = None,
    collection: str | None = None,
    options: IngestOptions | None = None,
    progress: bool | ProgressCallback = False,
    dask: str | None = None,
    workers: int | None = None,
    batch_documents: int = DEFAULT_BATCH_DOCUMENTS,
    **option_values: Any,
) -> RunReport:
    """Parse, chunk, embed and store the documents under ``paths``; unchanged ones are skipped.

    Options are :class:`IngestOptions`' fields, given one by one (``chunk_size=128``) or as
    ``options``; those left out take the model's measured defaults, as on the command line.
    ``progress=True`` draws a progress bar on a terminal; a callable receives each
    :class:`~chunkwise.pipeline.indexing.Progress`. Documents that fail are listed in the report
    (``report.errors``, ``report.exit_code == 2``); a problem with the whole run raises
    :class:`~chunkwise.pipeline.errors.ChunkwiseError`.

    ``dask`` (a scheduler's address, ``tcp://host:8786``) or ``workers`` (a local cluster of that
    many processes) runs the ingest flow on Dask, ``batch_documents`` documents per task: the workers
    parse, chunk and embed; a Qdrant server is written by them, any other store by this process
    (no progress bar then).

    Example::

        report = chunkwise.ingest(["manuals/", "faq.html"], collection="docs", chunk_size=128)
        print(report.indexed, report.failed)
        chunkwise.ingest("manuals/", collection="docs", workers=4)
    """
    options = _ingest_options(options, option_values)
    settings = Settings()
    collection = collection or settings.collection
    if dask is not None or workers is not None:
        if isinstance(store, Store):
            raise ConfigurationError("--dask and --workers need the store's location, not an open store")
        runner = _dask_runner(dask, workers)
        location = os.fspath(store or settings.store)
        return _ingest_on_dask(paths, location, collection, options, runner, batch_documents)
    encoder, parser = build_embedder(options), build_parser(options)
    source = build_source(_paths(paths), options)
    opened = _opened(store, settings, quantization=options.quantization)
    with opened as vector_store, contextlib.closing(parser), _closing(source):
        with _ingest_progress(progress) as callback:  # closed before the index build's own spinner
            report = index_documents(
                source,
                parser,
                build_chunker(options, encoder),
                encoder,
                vector_store,
                collection,
                sparse_encoder=build_sparse_encoder(options),
                batch_chunks=options.batch_chunks,
                skip_unchanged=options.skip_unchanged,
                prune=options.prune,
                prune_force=options.prune_force,
                reindex=options.reindex,
                progress=callback,
            )
        if report.indexed or report.deleted:
            optimize(vector_store, collection, quiet=progress is not True)
    return report


def open_retriever(
    store: StoreArgument = None, collection: str | None = None, **options: Any
) -> ChunkwiseRetriever:
    """A langchain-core retriever over a collection, embedding queries with the collection's own model.

    A store given by location is opened by the retriever and closed by ``retriever.close()``.

    ``options``: ``k``, ``mode`` (dense, sparse, hybrid, multivector), ``fusion`` (hybrid's; none
    applies in a collection with token vectors, whose hybrid is rescored by MaxSim), ``filter``,
    ``score_threshold``, ``expand``, ``mmr``, ``fetch_k``, ``diversity``, ``trust_remote_code``,
    ``query_prompt`` (instead of the collection's), ``dimensions`` (checked against the
    collection's), ``sparse_model`` and ``multivector_model`` (folders to load the collection's
    learned sparse and multivector models from), ``device`` and ``precision`` (where queries are
    embedded, by the multivector model too: auto, cpu, cuda, cuda:N, mps; auto, fp32, fp16),
    ``oversampling`` (on a quantized collection, candidates per hit rescored on the original
    vectors; for a store given by location) (see
    :class:`~chunkwise.connectors.retriever.ChunkwiseRetriever`).

    Example::

        retriever = chunkwise.open_retriever(".chunkwise/qdrant", "docs", k=4, expand=1)
        documents = retriever.invoke("What does --prune do?")
    """
    from chunkwise.connectors.retriever import open_retriever as retriever_over

    settings = Settings()
    location = store if isinstance(store, Store) else os.fspath(store or settings.store)
    return retriever_over(location, collection or settings.collection, **options)


def query(
    text: str,
    *,
    store: StoreArgument = None,
    collection: str | None = None,
    k: int = 5,
    oversampling: float | None = None,
    **options: Any,
) -> list[Document]:
    """The ``k`` passages that best answer ``text``, as ``chunkwise query`` prints them.

    ``options`` are :func:`open_retriever`'s. The store is closed afterwards unless it was given open.
    ``oversampling``: on a quantized collection, how many candidates per hit are rescored on the
    original vectors (the store's default: 2 on the embedded store, the server's own on a server);
    for a store given open, set it when opening it (``open_store(location, oversampling=8)``).

    Example::

        for passage in chunkwise.query("How do I pin a package?", collection="docs", k=3):
            print(passage.metadata["source"], passage.metadata["score"])
    """
    from chunkwise.connectors.retriever import open_retriever as retriever_over

    settings = Settings()
    with _opened(store, settings, existing=True, oversampling=oversampling) as vector_store:
        retriever = retriever_over(vector_store, collection or settings.collection, k=k, **options)
        return retriever.invoke(text)


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection's size and the pipeline fingerprint it was built with (``chunkwise info``)."""

    store: str
    collection: str
    points: int
    documents: int
    fingerprint: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "collection": self.collection,
            "points": self.points,
            "documents": self.documents,
            "fingerprint": self.fingerprint,
        }


def info(store: StoreArgument = None, collection: str | None = None) -> CollectionInfo:
    """How many points and documents a collection holds, and how it was built.

    Raises :class:`~chunkwise.pipeline.errors.ChunkwiseError` when the collection does not exist.

    Example::

        details = chunkwise.info(".chunkwise/qdrant", "docs")
        print(details.points, details.fingerprint["model"])
    """
    settings = Settings()
    collection = collection or settings.collection
    with _opened(store, settings, existing=True) as vector_store:
        fingerprint = vector_store.fingerprint(collection)
        if fingerprint is None:
            raise ChunkwiseError(f"collection {collection!r} does not exist in {vector_store.location}")
        return CollectionInfo(
            store=vector_store.location,
            collection=collection,
            points=vector_store.count(collection),
            documents=vector_store.document_count(collection),
            fingerprint=fingerprint.to_dict(),
        )


def verify(
    store: StoreArgument = None, collection: str | None = None, *, searches: int = 200
) -> Verification:
    """Read every point of a collection and report damage (``chunkwise verify``): unreadable points,
    vectors that are all zeros or of the wrong size, payloads without their keys, documents missing
    chunks, and ``searches`` points that their own vector does not find.

    Example::

        result = chunkwise.verify(".chunkwise/qdrant", "docs")
        if not result.sound:
            print("\n".join(result.problems))
    """
    settings = Settings()
    with _opened(store, settings, existing=True) as vector_store:
        return verify_collection(vector_store, collection or settings.collection, searches=searches)


def repair(
    store: StoreArgument = None,
    collection: str | None = None,
    *,
    options: IngestOptions | None = None,
    **option_values: Any,
) -> int:
    """Write an embedded collection's lost or damaged ``collection.json`` again, from the model and
    ingest options it was built with (``chunkwise repair``); returns the points checked.

    Every point's payload carries the digest of the pipeline that built it: the options are checked
    against all of them before anything is written.

    Example::

        chunkwise.repair(".chunkwise/qdrant", "docs")  # built with the defaults
        chunkwise.repair(".chunkwise/qdrant", "docs", chunk_size=128, headers=False)
    """
    options = _ingest_options(options, option_values)
    settings = Settings()
    with _opened(store, settings, existing=True) as vector_store:
        if not isinstance(vector_store, QdrantEdgeStore):
            raise ConfigurationError(
                f"{vector_store.location} keeps its collections' settings in Qdrant itself: only an "
                "embedded store (a folder) has a collection.json to restore"
            )
        encoder = build_embedder(options)
        fingerprint = pipeline_fingerprint(
            encoder, build_chunker(options, encoder), build_sparse_encoder(options)
        )
        return vector_store.restore_settings(collection or settings.collection, fingerprint)


def copy(
    source: StoreArgument,
    target: StoreArgument,
    *,
    collection: str | None = None,
    to_collection: str | None = None,
    replace: bool = False,
    quantization: str | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> int:
    """Copy a collection to another store with its vectors, fingerprint and payloads; the points copied.
    ``quantization`` (``scalar``, ``binary``) quantizes the target collection's vectors.

    Example::

        chunkwise.copy(".chunkwise/qdrant", "http://localhost:6333", collection="docs")
        chunkwise.copy(".chunkwise/qdrant", ".chunkwise/int8", quantization="scalar")
    """
    settings = Settings()
    collection = collection or settings.collection
    target_collection = to_collection or collection
    with contextlib.ExitStack() as stack:
        source_store = stack.enter_context(_opened(source, settings, existing=True))
        target_store = stack.enter_context(_opened(target, settings, quantization=quantization))
        with contextlib.ExitStack() as bar:  # closed before the index build's own spinner
            callback = (
                progress if callable(progress) else bar.enter_context(console.copy_progress_bar(progress))
            )
            copied = copy_collection(
                source_store,
                target_store,
                collection,
                target_collection=to_collection,
                replace=replace,
                progress=callback,
            )
        if copied:
            optimize(target_store, target_collection, quiet=progress is not True)
    return copied


def serve(
    paths: PathArgument | Sequence[PathArgument],
    *,
    cron: str | None = None,
    interval: float | None = None,
    name: str | None = None,
    batch_documents: int = DEFAULT_BATCH_DOCUMENTS,
    store: str | os.PathLike[str] | None = None,
    collection: str | None = None,
    options: IngestOptions | None = None,
    **option_values: Any,
) -> None:
    """Keep a collection in sync with ``paths``: run the ingest flow on a schedule until interrupted.

    Needs a Prefect server (``PREFECT_API_URL``, or one on 127.0.0.1:4200). Exactly one of ``cron``
    (a cron expression, local time) and ``interval`` (seconds).

    Example::

        chunkwise.serve("docs/", interval=900, collection="docs", prune=True)
    """
    from chunkwise.flows.serving import serve_ingest, serve_parameters, use_local_prefect_home

    options = _ingest_options(options, option_values)
    use_local_prefect_home()
    folders = _paths(paths)
    local = [path for path in folders if location_kind(path, ref=options.ref) == "file"]
    missing = [path for path in local if not os.path.exists(path)]
    if missing:
        raise ConfigurationError(f"{', '.join(missing)} does not exist")
    settings = Settings()
    collection = collection or settings.collection
    location = os.fspath(store) if store is not None else settings.store
    parameters = serve_parameters(folders, location, collection, options, batch_documents)
    serve_ingest(name or collection, parameters, cron=cron, interval=interval)


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The rows of an evaluation (one per set, configuration and mode) and their comparison.

    ``baseline`` is the configuration the others are compared with (fixed chunking, dense);
    :attr:`comparisons` gives each configuration's macro average over the sets and its 95% interval
    against the baseline.
    """

    rows: tuple[EvalRow, ...]
    baseline: dict[str, Any] | None
    k: int

    @property
    def comparisons(self) -> list[Comparison]:
        return compare_rows(self.rows, self.baseline)

    @property
    def failed(self) -> bool:
        """Whether some documents failed to ingest (the scores cover the rest)."""
        return any(row.failures for row in self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every row, then one ``"dataset": "macro"`` row per configuration (``chunkwise eval --json``)."""
        return console.eval_json(self.rows, self.baseline)

    def plot(self, path: str | os.PathLike[str]) -> None:
        """Draw the metrics to a PNG file."""
        from chunkwise.flows.eval_plot import plot_rows

        names = ", ".join(dict.fromkeys(row.dataset for row in self.rows))
        plot_rows(list(self.rows), os.fspath(path), self.k, title=f"{names}: retrieval at {self.k}")


def evaluate(
    datasets: PathArgument | Sequence[PathArgument],
    *,
    k: int = 10,
    modes: str | Sequence[str] | None = None,
    fusions: str | Fusion | Sequence[str | Fusion] | None = None,
    store: StoreArgument = None,
    run_file: str | os.PathLike[str] | None = None,
    progress: bool = False,
    **grid: Any,
) -> EvaluationResult:
    """Score chunking configurations on labelled sets: every combination of the values in ``grid``.

    ``grid`` takes the axes ``chunking``, ``chunker``, ``chunk_size``, ``chunk_overlap``,
    ``late_window``, ``late_overlap``, ``late_mix``, ``headers`` and ``alone_vector``, each one value
    or a list, and
    the shared options ``model``, ``tokenizer``, ``boundaries``, ``max_sentences``,
    ``sentence_overlap``, ``trust_remote_code``, ``backend``, ``device``, ``precision``,
    ``dimensions``, ``query_prompt``, ``document_prompt``, ``sparse_model``, ``multivector_model``,
    ``multivector_pool_factor`` and ``multivector_max_tokens``. With no axis it scores the ingest
    defaults against fixed chunking. ``modes``: dense, sparse, hybrid, multivector (MaxSim: needs
    ``multivector_model``; default: dense and the default mode); ``fusions``: rrf, rrf:W, dbsf
    (default: the model's), scored in hybrid mode, which a ``multivector_model`` scores once,
    rescored by MaxSim (fusion ``maxsim``). A set is a folder with ``corpus/``,
    ``queries.jsonl`` and ``qrels.jsonl``, or a BEIR folder. ``store``: where the temporary
    collections go (default: in memory).

    Example::

        result = chunkwise.evaluate(["sets/faq", "sets/manual"], chunk_size=[128, 200])
        for row in result.comparisons:
            print(row.config, row.macro["passage_ndcg@10"], row.interval)
    """
    from chunkwise.pipeline.evaluation.dataset import load_dataset

    axes = {name: _listed(grid.pop(name)) for name in AXES if name in grid}
    defaults = validated_options(**grid)
    baseline = baseline_options(defaults)
    if any(axes.values()):
        configurations = configuration_grid(
            defaults, {"chunking": ["fixed", "late"], **{a: v for a, v in axes.items() if v}}
        )
    else:
        configurations = [defaults, baseline]
    default_mode = "hybrid" if defaults.sparse else "dense"
    chosen_modes = check_modes(
        _listed(modes) if modes is not None else [*dict.fromkeys(["dense", default_mode])]
    )
    try:
        chosen_fusions = [Fusion.parse(str(fusion)) for fusion in _listed(fusions)]
    except ValueError as error:
        raise ConfigurationError(f"fusion: {error}") from error
    labelled = [load_dataset(os.fspath(dataset)) for dataset in _paths(datasets)]
    rows: list[EvalRow] = []
    with contextlib.ExitStack() as stack:
        vector_store = stack.enter_context(_opened(store, Settings())) if store is not None else None
        run_handle = stack.enter_context(open(run_file, "w", encoding="utf-8")) if run_file else None
        callback = stack.enter_context(console.eval_progress_bar(progress))
        for dataset in labelled:
            evaluation = Evaluation(
                dataset,
                store=vector_store,
                k=k,
                modes=chosen_modes,
                fusions=chosen_fusions,
                run_file=run_handle,
                progress=callback,
            )
            rows.extend(evaluation.run(configurations))
    return EvaluationResult(tuple(rows), pick_baseline(rows), k)


def optimize(store: Store, collection: str, *, quiet: bool) -> None:
    """Let the embedded store build its index now, with a spinner, rather than silently at close."""
    if isinstance(store, QdrantEdgeStore):
        with console.status(not quiet, f"Optimizing {collection} (a large first write builds its index)"):
            store.optimize(collection)


def _dask_runner(address: str | None, workers: int | None) -> Any:
    """The Dask task runner of ``--dask``/``--workers``, once the options and the address are checked."""
    from chunkwise.flows.dask import check_dask_options, check_reachable, dask_task_runner

    check_dask_options(address, workers)
    if address is not None:
        check_reachable(address)
    return dask_task_runner(address, workers)


def _ingest_on_dask(
    paths: PathArgument | Sequence[PathArgument],
    location: str,
    collection: str,
    options: IngestOptions,
    runner: Any,
    batch_documents: int,
) -> RunReport:
    """The ingest flow into the store at ``location``, its batches run by ``runner``."""
    from chunkwise.flows.ingest import ingest_flow

    report: RunReport = ingest_flow.with_options(task_runner=runner)(
        _paths(paths),
        store=location,
        collection=collection,
        options=options,
        batch_documents=batch_documents,
    )
    return report


def _ingest_options(options: IngestOptions | None, values: dict[str, Any]) -> IngestOptions:
    if options is None:
        return validated_options(**values)
    if values:
        return validated_options(**{**options.model_dump(exclude_unset=True), **values})
    return options


@contextlib.contextmanager
def _closing(resource: Any) -> Iterator[Any]:
    """``resource``, closed on leaving when it has a ``close()`` (a web source's spooled pages)."""
    try:
        yield resource
    finally:
        close = getattr(resource, "close", None)
        if close is not None:
            close()


def _paths(paths: PathArgument | Sequence[PathArgument]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(path) for path in paths]


def _listed(value: Any) -> list[Any]:
    """A grid value as a list: one value (a string is one), or a list or tuple of them."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


@contextlib.contextmanager
def _opened(
    store: StoreArgument,
    settings: Settings,
    *,
    existing: bool = False,
    quantization: str | None = None,
    oversampling: float | None = None,
) -> Iterator[Store]:
    """The store given open (left open), or the one at a location (closed afterwards); ``existing``:
    a location with no store is an error (readers never create one). ``quantization`` and
    ``oversampling`` go to a store opened here (see :func:`build_store`); an open store keeps its
    own oversampling, and one asked for beside it is refused."""
    if isinstance(store, Store):
        if oversampling is not None:
            raise ConfigurationError(OVERSAMPLING_OF_AN_OPEN_STORE)
        yield store
        return
    location = os.fspath(store) if store is not None else None
    with build_store(
        location, settings, existing=existing, quantization=quantization, oversampling=oversampling
    ) as opened:
        yield opened


@contextlib.contextmanager
def _ingest_progress(progress: bool | ProgressCallback) -> Iterator[ProgressCallback | None]:
    if callable(progress):
        yield progress
        return
    with console.progress_bar(progress) as callback:
        yield callback


__all__ = [
    "CollectionInfo",
    "EvaluationResult",
    "copy",
    "evaluate",
    "info",
    "ingest",
    "open_retriever",
    "query",
    "serve",
]
