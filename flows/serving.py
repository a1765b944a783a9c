"""``chunkwise serve``: keep a collection in sync with its folders, running ``ingest_flow`` on a schedule."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chunkwise.connectors.sources import normalize_location
from chunkwise.flows.prefect_server import server_is_healthy
from chunkwise.flows.resources import absolute_location
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError

LOCAL_API_URL = "http://127.0.0.1:4200/api"
LOCAL_PREFECT_HOME = ".chunkwise/prefect"
START_SERVER_HINT = (
    "start one with `make prefect-server` (or `PREFECT_HOME=.chunkwise/prefect prefect server start "
    "--host 127.0.0.1`) and set PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def use_local_prefect_home() -> None:
    """Keep Prefect's database and results in ``.chunkwise/prefect`` unless ``PREFECT_HOME`` is set.

    Call it before Prefect is imported: Prefect reads its settings at import.
    """
    if "PREFECT_HOME" not in os.environ:
        home = Path(LOCAL_PREFECT_HOME).absolute()
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)


def prefect_api_url() -> str:
    """``PREFECT_API_URL``, else the local server at 127.0.0.1:4200 when it answers.

    A schedule needs a running Prefect server: without one, a clear error says how to start it.
    """
    given = os.environ.get("PREFECT_API_URL")
    url = given or LOCAL_API_URL
    if not server_is_healthy(url):
        where = "PREFECT_API_URL" if given else "the default local server"
        raise ConfigurationError(
            f"serving on a schedule needs a Prefect server, and none answers at {url} ({where}): "
            + START_SERVER_HINT
        )
    return url


def serve_parameters(
    paths: list[str], store: str, collection: str, options: IngestOptions, batch_documents: int
) -> dict[str, Any]:
    """The flow parameters of a served ingest, with absolute paths (runs may start elsewhere)."""
    return {
        "paths": [normalize_location(path, ref=options.ref) for path in paths],
        "store": absolute_location(store),
        "collection": collection,
        "options": options.model_dump(mode="json"),
        "batch_documents": batch_documents,
    }


def check_schedule(cron: str | None, interval: float | None) -> None:
    """Exactly one of ``cron`` and ``interval`` (seconds, > 0), with ``cron`` a valid expression."""
    if (cron is None) == (interval is None):
        raise ConfigurationError("give exactly one schedule: --cron EXPRESSION or --interval SECONDS")
    if interval is not None and interval <= 0:
        raise ConfigurationError(f"--interval ({interval:g}) must be > 0 seconds")
    if cron is not None:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=cron)
        except ValueError as error:
            raise ConfigurationError(
                f"--cron {cron!r} is not a cron expression (e.g. '*/15 * * * *')"
            ) from error


def serve_ingest(
    name: str,
    parameters: dict[str, Any],
    *,
    cron: str | None = None,
    interval: float | None = None,
) -> None:
    """Serve ``ingest_flow`` with ``parameters`` on the schedule until interrupted (one run at a time)."""
    check_schedule(cron, interval)
    api_url = prefect_api_url()
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.types.entrypoint import EntrypointType

    from chunkwise.flows.ingest import ingest_flow

    with temporary_settings({PREFECT_API_URL: api_url}):
        ingest_flow.serve(
            name=name,
            parameters=parameters,
            cron=cron,
            interval=interval,
            limit=1,  # runs never overlap: an embedded store has one writer
            description=f"Ingest {', '.join(parameters['paths'])} into {parameters['collection']}",
            print_starting_message=True,
            entrypoint_type=EntrypointType.MODULE_PATH,  # runs import the package, wherever they start
        )
