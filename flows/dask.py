"""``--dask ADDRESS`` and ``--workers N``: the ingest flow's batches on a Dask cluster (prefect-dask).

Workers parse, chunk and embed. A Qdrant server (``http(s)://``) is written by the workers
themselves; any other store (Qdrant Edge, qdrant-client's local mode, ``:memory:``) is open in
one process only, so the workers send back their points and the flow process writes them
(:mod:`chunkwise.pipeline.deferred`).
"""

from __future__ import annotations

import sys
from typing import Any

from chunkwise.pipeline.errors import ConfigurationError

INSTALL = "pip install 'chunkwise[dask]'"


def check_dask_options(address: str | None, workers: int | None) -> None:
    """Refuse ``--dask`` with ``--workers`` (one cluster or the other) and fewer than one worker.

    Example::

        check_dask_options("tcp://scheduler:8786", None)   # fine
        check_dask_options(None, 0)                        # raises ConfigurationError
    """
    if address is not None and workers is not None:
        raise ConfigurationError(
            "--dask joins a running cluster and --workers starts one on this machine: give one of them"
        )
    if workers is not None and workers < 1:
        raise ConfigurationError(f"--workers must be at least 1 (got {workers})")
    if address is not None and not address.strip():
        raise ConfigurationError("--dask needs the scheduler's address, e.g. tcp://scheduler:8786")


def check_reachable(address: str) -> None:
    """Connect to the scheduler at ``address`` once, so that a wrong address fails before the run
    (trying for Dask's ``distributed.comm.timeouts.connect``, 30 s unless configured).

    Example::

        check_reachable("tcp://127.0.0.1:8786")   # ConfigurationError if nothing answers there
    """
    distributed = _import("distributed")
    try:
        with distributed.Client(address, set_as_default=False):
            pass
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigurationError(f"--dask: cannot reach a Dask scheduler at {address}: {error}") from error


def dask_task_runner(address: str | None = None, workers: int | None = None) -> Any:
    """A ``DaskTaskRunner`` that joins the scheduler at ``address``, or starts a local cluster of
    ``workers`` processes on 127.0.0.1 (one thread each; closed when the flow ends).

    Example::

        ingest_flow.with_options(task_runner=dask_task_runner(workers=4))(["docs/"])
    """
    check_dask_options(address, workers)
    task_runners = _import("prefect_dask.task_runners")
    if address is not None:
        return task_runners.DaskTaskRunner(address=address)
    return task_runners.DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers or 1,
            "processes": True,
            "threads_per_worker": 1,
            "host": "127.0.0.1",
            "dashboard_address": None,  # no web dashboard: nothing to collide with on a shared port
        },
    )


def cluster_threads(runner: Any) -> int:
    """Threads across the workers of a Dask task runner's cluster now (at least 1); for another
    runner, its ``max_workers`` (else 1).

    Example::

        ahead = 2 * cluster_threads(FlowRunContext.get().task_runner)
    """
    task_runners = sys.modules.get("prefect_dask.task_runners")  # loaded if the runner is Dask's
    if task_runners is not None and isinstance(runner, task_runners.DaskTaskRunner):
        return max(1, sum(runner.client.nthreads().values()))
    workers = getattr(runner, "max_workers", None)
    return max(1, workers) if isinstance(workers, int) else 1


def release_result(future: Any) -> None:
    """Let the cluster drop a task's result once the flow has used it: a Prefect future on Dask
    wraps a ``distributed.Future``, which keeps its result pinned on a worker until released.

    Example::

        write(future.result()); release_result(future)
    """
    release = getattr(getattr(future, "wrapped_future", None), "release", None)
    if callable(release):
        release()


def _import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigurationError(f"--dask and --workers need Dask and prefect-dask: {INSTALL}") from error
