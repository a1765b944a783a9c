"""Terminal output of the CLI: a progress bar while ingesting, tables of results after."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.indexing import Progress as IngestProgress
from pipeline.indexing import ProgressCallback
from pipeline.report import RunReport
from pipeline.types import SearchHit

err_console = Console(stderr=True)
out_console = Console()


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a bar on stderr when it is a terminal, else ``None``."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("ingest", total=None, current="")

        def update(event: IngestProgress) -> None:
            name = event.source.rsplit("/", 1)[-1]
            current = f"{event.status}: {name}" if name else event.status
            bar.update(task, completed=event.seen, total=event.total, current=current)

        yield update


def print_report(report: RunReport, collection: str, store: str) -> None:
    table = Table(title=f"ingest into {collection!r} at {store}", show_header=False, box=None)
    summary = report.to_dict()
    for key, value in summary["documents"].items():
        table.add_row(f"documents {key}", str(value))
    table.add_row("chunks written", str(report.chunks))
    table.add_row("seconds", f"{report.seconds:.1f}")
    out_console.print(table)
    for failure in report.errors:
        err_console.print(f"[red]failed[/red] {failure.source} [{failure.stage}]: {failure.error}")


def print_hits(hits: Sequence[SearchHit]) -> None:
    if not hits:
        out_console.print("no results")
        return
    width = max(40, min(100, out_console.width))
    for rank, hit in enumerate(hits, 1):
        payload = hit.payload
        span = f"[{payload.get('start')}:{payload.get('end')}]"
        where = f"{payload.get('source')} #{payload.get('chunk_index')} {span}"
        out_console.print(
            f"[bold]{rank}.[/bold] score {hit.score:.3f}  {where}", highlight=False, soft_wrap=True
        )
        body = textwrap.fill(
            " ".join(hit.text.split()), width=width, initial_indent="   ", subsequent_indent="   "
        )
        out_console.print(body, highlight=False, markup=False, soft_wrap=True)
        out_console.print()


def print_info(info: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key, value in info.items():
        table.add_row(key, str(value))
    out_console.print(table)
