"""``ingest_flow``: ``chunkwise ingest`` as a Prefect flow of observable, retried, cached tasks.

discover (list, hash, plan batches) -> index_batch per batch (mapped, bounded by the task
runner, retried on store failures, cached on the batch's content hashes and pipeline) ->
settle (prune, count outdated documents, build the index) -> a Markdown artifact of the report.
Tasks pass paths, options, batches of ids and reports; each builds its own model and client.
On a task runner whose tasks run in other processes (Dask: :mod:`chunkwise.flows.dask`), a store
that only one process may open is written by the flow process: prepare-batch tasks parse, chunk
and embed, and write-batch writes their points here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import PrefectFuture, wait
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.sources import normalize_location
from chunkwise.connectors.stores import Store
from chunkwise.flows.artifacts import artifact_key, report_markdown
from chunkwise.flows.components import build_source
from chunkwise.flows.dask import cluster_threads, release_result
from chunkwise.flows.environment import quiet_libraries
from chunkwise.flows.resources import absolute_location, pipeline_parts, shared_source, shared_store
from chunkwise.flows.settings import DEFAULT_BATCH_DOCUMENTS, IngestOptions, Settings
from chunkwise.flows.window import submit_in_window
from chunkwise.pipeline.batching import Batch, plan_batches
from chunkwise.pipeline.deferred import PreparedBatch, prepare_items, write_prepared
from chunkwise.pipeline.errors import ChunkwiseError, FingerprintMismatchError, StoreError, StoreInUseError
from chunkwise.pipeline.ids import document_id
from chunkwise.pipeline.indexing import index_items, open_collection, settle_unlisted
from chunkwise.pipeline.manifest import StoredDocument
from chunkwise.pipeline.report import RunReport

quiet_libraries()  # flow runs start in processes of their own (served, deployed): no progress bars

WRITE_TAG = "chunkwise-store-write"
"""Tag of the tasks that write to a store: ``prefect concurrency-limit create chunkwise-store-write 4``
caps how many run at once across every worker."""

DEFAULT_WORKERS = 2
STORE_RETRIES = 3
PREPARED_AHEAD = 2
"""Prepared batches in flight per worker thread ahead of the writes (Dask with an embedded store)."""


class DocumentsFailedError(ChunkwiseError):
    """Some documents could not be indexed (the others were); ``report`` says which and why."""

    def __init__(self, report: RunReport) -> None:
        listed = "; ".join(f"{f.source} ({f.stage}): {f.error}" for f in report.errors[:3])
        more = f"; and {report.failed - 3} more" if report.failed > 3 else ""
        super().__init__(f"{report.failed} of {report.seen} documents failed: {listed}{more}")
        self.report = report


@dataclass(frozen=True, slots=True)
class IngestPlan:
    """What ``discover`` found: the batches to index and the pipeline's fingerprint digest."""

    fingerprint: str
    batches: list[Batch]


def _store_failed(task: Any, task_run: Any, state: State) -> bool:
    """Retry when the store failed, not when it refused the run (another pipeline, another process)."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, StoreError) and not isinstance(
        error, (FingerprintMismatchError, StoreInUseError)
    )


_store_retries: dict[str, Any] = {
    "retries": STORE_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": _store_failed,
}


@task(name="discover", **_store_retries)
def discover(
    paths: list[str], location: str, collection: str, options: IngestOptions, batch_documents: int
) -> IngestPlan:
    """Open (or create) the collection, list the documents and cut them into batches."""
    parts = pipeline_parts(options)
    fingerprint = parts.fingerprint
    with shared_source(paths, options) as source, shared_store(location, options.quantization) as store:
        open_collection(store, collection, fingerprint, reindex=options.reindex)
        items = source.items()  # kept for this process's tasks: a website is crawled once per run
        stored = store.stored_documents(collection)
        batches = plan_batches(
            items, source.source.read, parts.parser.settings, stored, fingerprint.digest, batch_documents
        )
    current = sum(batch.current for batch in batches)
    get_run_logger().info(
        "%d documents in %d batches (%d already indexed whole)", len(items), len(batches), current
    )
    return IngestPlan(fingerprint=fingerprint.digest, batches=batches)


def _batch_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The batch's documents, their bytes and the pipeline, in this store and collection."""
    batch: Batch = parameters["batch"]
    return batch.cache_key(f"{parameters['location']}\0{parameters['collection']}")


@task(
    name="index-batch",
    task_run_name="index-batch-{batch.label}",
    tags=[WRITE_TAG],
    cache_key_fn=_batch_cache_key,
    persist_result=True,
    **_store_retries,
)
def index_batch(
    batch: Batch, paths: list[str], location: str, collection: str, options: IngestOptions
) -> RunReport:
    """Read, parse, chunk, embed and write one batch; unchanged documents are skipped."""
    parts = pipeline_parts(options)
    with shared_source(paths, options) as source, shared_store(location) as store:
        report = index_items(
            source.source,  # in the flow's process, the pages discover fetched are read, not fetched again
            batch.items,
            parts.parser,
            parts.chunker,
            parts.embedder,
            store,
            collection,
            sparse_encoder=parts.sparse_encoder,
            batch_chunks=options.batch_chunks,
            skip_unchanged=options.skip_unchanged,
            reindex=options.reindex,
        )
    _log_batch(batch, report)
    return report


def _log_batch(batch: Batch, report: RunReport) -> None:
    get_run_logger().info(
        "batch %s: %d indexed, %d unchanged, %d failed, %d chunks in %.1f s",
        batch.label,
        report.indexed,
        report.unchanged,
        report.failed,
        report.chunks,
        report.seconds,
    )


@task(
    name="prepare-batch",
    task_run_name="prepare-batch-{batch.label}",
    cache_policy=NO_CACHE,
    persist_result=False,  # the points go straight to the flow, which writes them
)
def prepare_batch(
    batch: Batch,
    paths: list[str],
    options: IngestOptions,
    stored: dict[str, StoredDocument],
) -> PreparedBatch:
    """Read, parse, chunk and embed one batch without opening the store (which another process holds):
    its points go back to the flow, ``write_batch`` stores them. ``stored``: the batch's manifest.

    Example::

        stored = store.stored_documents("docs", document_ids=[document_id(i.uri) for i in batch.items])
        future = prepare_batch.submit(batch, ["docs/"], options, stored)   # in a flow, on Dask's workers
        write_batch(batch, future.result(), location, "docs")
    """
    parts = pipeline_parts(options)
    prepared = prepare_items(
        build_source(paths, options),
        batch.items,
        parts.parser,
        parts.chunker,
        parts.embedder,
        stored=stored,
        fingerprint=parts.fingerprint,
        sparse_encoder=parts.sparse_encoder,
        batch_chunks=options.batch_chunks,
        skip_unchanged=options.skip_unchanged,
        reindex=options.reindex,
    )
    _log_batch(batch, prepared.report)
    return prepared


@task(
    name="write-batch",
    task_run_name="write-batch-{batch.label}",
    tags=[WRITE_TAG],
    cache_policy=NO_CACHE,  # always write: and hashing every vector to make a key would cost as much
    **_store_retries,
)
def write_batch(batch: Batch, prepared: PreparedBatch, location: str, collection: str) -> RunReport:
    """Write the points a prepare-batch task made, in this process, which holds the store.

    Example::

        report.add(write_batch(batch, prepare_batch.submit(batch, paths, options, stored).result(),
                               location, "docs"))   # the batch's report, once its points are stored
    """
    with shared_store(location) as store:
        write_prepared(store, collection, prepared.documents)
    return prepared.report


@task(name="settle", **_store_retries)
def settle(
    paths: list[str], location: str, collection: str, options: IngestOptions, fingerprint: str, wrote: bool
) -> RunReport:
    """Prune what vanished from the sources, count outdated documents, and build the store's index."""
    report = RunReport()
    with shared_source(paths, options) as shared, shared_store(location) as store:
        source = shared.source
        uris = shared.uris()  # discover's listing in this process (one crawl per run), else listed now
        listed = {document_id(uri) for uri in uris}
        unlisted = [entry for key, entry in store.stored_documents(collection).items() if key not in listed]
        report.deleted, report.outdated = settle_unlisted(
            store,
            collection,
            unlisted,
            fingerprint,
            prune=source if options.prune else None,
            listed=uris,
            force=options.prune_force,
        )
        if (wrote or report.deleted) and isinstance(store, QdrantEdgeStore):
            store.optimize(collection)
    return report


@flow(
    name="chunkwise-ingest",
    task_runner=ThreadPoolTaskRunner(max_workers=DEFAULT_WORKERS),
    validate_parameters=True,
    persist_result=True,  # the report stays readable from the run's state in the API
)
def ingest_flow(
    paths: list[str],
    store: str | None = None,
    collection: str | None = None,
    options: IngestOptions | None = None,
    batch_documents: int = DEFAULT_BATCH_DOCUMENTS,
    fail_on_errors: bool = False,
) -> RunReport:
    """Index the documents under ``paths`` into ``collection``, as ``chunkwise ingest`` does.

    ``paths`` are local files and folders, ``s3://bucket/prefix`` locations, website or
    ``sitemap.xml`` URLs and git repositories (``git+URL``, or a local one with ``options.ref``).

    ``store`` and ``collection`` default to ``CHUNKWISE_STORE`` / ``CHUNKWISE_COLLECTION``;
    ``options`` are the ingest options (an :class:`IngestOptions` or a dict of them). Returns the
    run report, also kept in Prefect's result storage (``flow_run.state.result()`` reads it from
    anywhere that storage is) and left as a Markdown artifact keyed ``chunkwise-ingest-<collection>``.
    Documents that failed are in the report and the run completes, or fails with
    :class:`DocumentsFailedError` with ``fail_on_errors`` (to be alerted). A store failure (after
    retries) fails the run; what was written stays.

    Example::

        report = ingest_flow(["docs/"], collection="docs", options={"chunk_size": 128})
        ingest_flow.serve(name="docs", interval=3600, parameters={"paths": ["/srv/docs"]})
    """
    started = time.perf_counter()
    settings = Settings()
    location = absolute_location(store or settings.store)
    collection = collection or settings.collection
    options = options or IngestOptions()
    paths = [normalize_location(path, ref=options.ref) for path in paths]
    logger = get_run_logger()
    report = RunReport()
    # held for the run, so that tasks in this process share one store
    with shared_store(location, options.quantization) as held, shared_source(paths, options):
        plan = discover(paths, location, collection, options, batch_documents)
        if _writes_in_tasks(location):
            submitted = _index(plan.batches, paths, location, collection, options)
            wait([future for _, future in submitted])
            failures = _count(submitted, report)
        else:
            failures = _prepare_and_write(plan.batches, held, paths, location, collection, options, report)
        if not failures:
            report.add(settle(paths, location, collection, options, plan.fingerprint, report.indexed > 0))
    report.seconds = time.perf_counter() - started
    create_markdown_artifact(
        key=artifact_key(collection),
        markdown=report_markdown(report, collection, location),
        description=f"chunkwise ingest into {collection}",
    )
    if failures:
        raise failures[0]
    if fail_on_errors and report.failed:
        raise DocumentsFailedError(report)
    logger.info(
        "%d documents: %d indexed, %d unchanged, %d failed, %d deleted in %.1f s",
        report.seen,
        report.indexed,
        report.unchanged,
        report.failed,
        report.deleted,
        report.seconds,
    )
    return report


def _index(
    batches: Sequence[Batch], paths: list[str], location: str, collection: str, options: IngestOptions
) -> list[tuple[Batch, PrefectFuture[RunReport]]]:
    """Submit every batch: those the store holds current may come from the cache, the others run."""
    reusable = options.skip_unchanged and not options.reindex
    current: list[Batch] = []
    pending: list[Batch] = []
    for batch in batches:
        (current if batch.current and reusable else pending).append(batch)
    constants = {
        "paths": unmapped(paths),
        "location": unmapped(location),
        "collection": unmapped(collection),
        "options": unmapped(options),
    }
    submitted: list[tuple[Batch, PrefectFuture[RunReport]]] = []
    if current:
        submitted += zip(current, index_batch.map(current, **constants), strict=True)
    if pending:
        refreshing = index_batch.with_options(refresh_cache=True)
        submitted += zip(pending, refreshing.map(pending, **constants), strict=True)
    return submitted


def _writes_in_tasks(location: str) -> bool:
    """Whether batch tasks write the store themselves: they run in this process (threads share its
    one open store), or the store is a server that takes writes from many processes."""
    if location.startswith(("http://", "https://")):
        return True
    context = FlowRunContext.get()
    return context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)


def _prepare_and_write(
    batches: Sequence[Batch],
    store: Store,
    paths: list[str],
    location: str,
    collection: str,
    options: IngestOptions,
    report: RunReport,
) -> list[BaseException]:
    """Batches prepared elsewhere (parsed, chunked, embedded), written here as each comes back.

    Batches the store holds current are counted unchanged, as the cache would; the others go to
    the workers with their part of the manifest. Returns the errors of batches that failed."""
    reusable = options.skip_unchanged and not options.reindex
    pending: list[Batch] = []
    for batch in batches:
        if batch.current and reusable:
            report.add(RunReport(seen=len(batch.documents), unchanged=len(batch.documents)))
        else:
            pending.append(batch)

    def submit(batch: Batch) -> PrefectFuture[PreparedBatch]:
        stored = store.stored_documents(collection, document_ids=[document_id(i.uri) for i in batch.items])
        return prepare_batch.submit(batch, paths, options, stored)

    # a few batches ahead of the writes, each dropped once written: memory does not grow with the corpus
    context = FlowRunContext.get()
    ahead = PREPARED_AHEAD * cluster_threads(context.task_runner if context else None)
    failures: list[BaseException] = []
    for batch, future in submit_in_window(pending, submit, ahead):
        state = future.state
        if state.is_failed() or state.is_crashed():
            failures.append(_exception(state))
        else:
            report.add(write_batch(batch, future.result(), location, collection))
        release_result(future)  # the worker drops the points; this process drops them with the future
    return failures


def _count(
    submitted: Sequence[tuple[Batch, PrefectFuture[RunReport]]], report: RunReport
) -> list[BaseException]:
    """Add each batch's report to ``report``; return the errors of batches that failed."""
    failures: list[BaseException] = []
    for batch, future in submitted:
        state = future.state
        if state.is_failed() or state.is_crashed():
            failures.append(_exception(state))
            continue
        if state.name == "Cached":  # done by an earlier run: nothing was read or written now
            report.add(RunReport(seen=len(batch.documents), unchanged=len(batch.documents)))
        else:
            report.add(future.result())
    return failures


def _exception(state: State) -> BaseException:
    error = state.result(raise_on_failure=False)
    return error if isinstance(error, BaseException) else RuntimeError(f"a batch ended {state.name}")
