"""Terminal output of the CLI: a progress bar while ingesting, tables of results after."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chunkwise.flows.evaluate import AXES, EvalProgress, EvalRow, compare_rows, config_key, label
from chunkwise.pipeline.indexing import Progress as IngestProgress
from chunkwise.pipeline.indexing import ProgressCallback
from chunkwise.pipeline.report import RunReport

err_console = Console(stderr=True)
out_console = Console()


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a bar on stderr when it is a terminal, else ``None``."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with _progress() as bar:
        task = bar.add_task("ingest", total=None, current="")

        def update(event: IngestProgress) -> None:
            bar.update(task, completed=event.seen, total=event.total, current=_current(event))

        yield update


@contextmanager
def status(enabled: bool, message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while the block runs, on a terminal."""
    if not enabled or not err_console.is_terminal:
        yield
        return
    with err_console.status(escape(message)):
        yield


@contextmanager
def copy_progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A callback drawing the points copied so far, on a terminal."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with _progress() as bar:
        task = bar.add_task("copy", total=None, current="points")

        def update(copied: int, total: int) -> None:
            bar.update(task, completed=copied, total=total)

        yield update


@contextmanager
def eval_progress_bar(enabled: bool) -> Iterator[Callable[[EvalProgress], None] | None]:
    """A callback drawing the configurations done and the current one's documents, on a terminal."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with _progress() as bar:
        configs = bar.add_task("configurations", total=None, current="")
        documents = bar.add_task("documents", total=None, current="")

        def update(event: EvalProgress) -> None:
            bar.update(configs, completed=event.index - 1, total=event.total, current=event.label)
            if event.ingest is not None:
                bar.update(
                    documents,
                    description=event.stage,
                    completed=event.ingest.seen,
                    total=event.ingest.total,
                    current=_current(event.ingest),
                )
            else:
                bar.update(documents, description=event.stage, current="")

        yield update


def _progress() -> Progress:
    """Transient bars on stderr: description, bar, done/total, elapsed time, current document."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
    )
    return Progress(*columns, console=err_console, transient=True)


def _current(event: IngestProgress) -> str:
    """``status: file name`` of an ingest event (the status alone before the first document)."""
    name = escape(printable(event.source.rsplit("/", 1)[-1]))
    return f"{event.status}: {name}" if name else event.status


def print_eval_sets(rows: Sequence[EvalRow], baseline: dict[str, Any] | None, k: int) -> None:
    """A table per set, then (several sets) each configuration's macro average and its difference
    from ``baseline`` with a 95% bootstrap interval."""
    datasets = list(dict.fromkeys(row.dataset for row in rows))
    for dataset in datasets:
        print_eval([row for row in rows if row.dataset == dataset], dataset, k)
    if len(datasets) > 1 or baseline is not None:
        print_macro(rows, baseline, k)


def print_macro(rows: Sequence[EvalRow], baseline: dict[str, Any] | None, k: int) -> None:
    """Each configuration's macro average over the sets and its interval against ``baseline``."""
    configs = {config_key(row.config): row for row in rows}
    comparisons = compare_rows(rows, baseline)
    level = "passage" if all(row.passage is not None for row in rows) else "doc"
    sets = len(comparisons[0].datasets) if comparisons else 0
    table = Table(
        title=f"macro average over {sets} set{'' if sets == 1 else 's'}, "
        f"{level} nDCG@{k}; difference from {label(baseline) if baseline else 'no baseline'} "
        "(points, 95% bootstrap interval)",
        box=box.SIMPLE_HEAD,
    )
    for name in ("configuration", f"{level} ndcg", f"{level} recall", "difference", "interval", "default"):
        table.add_column(name, justify="left" if name == "configuration" else "right")
    for comparison in sorted(comparisons, key=lambda c: -c.macro.get(f"{level}_ndcg@{k}", 0.0)):
        row = configs[comparison.config]
        interval = comparison.interval
        table.add_row(
            escape(label(row.config)),
            f"{comparison.macro.get(f'{level}_ndcg@{k}', 0.0):.4f}",
            f"{comparison.macro.get(f'{level}_recall@{k}', 0.0):.4f}",
            f"{100 * interval.mean:+.1f}" if interval else "baseline" if baseline else "",
            f"[{100 * interval.low:+.1f}, {100 * interval.high:+.1f}]" if interval else "",
            "yes" if row.default else "",
        )
    wide = out_console if out_console.is_terminal else Console(width=max(out_console.width, WIDE_TABLE))
    wide.print(table)


def eval_json(rows: Sequence[EvalRow], baseline: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every row, then one ``"dataset": "macro"`` row per configuration with its interval."""
    configs = {config_key(row.config): row for row in rows}
    macro = [
        {
            "dataset": "macro",
            "datasets": list(comparison.datasets),
            "default": configs[comparison.config].default,
            "config": configs[comparison.config].config,
            "metrics": {name: round(value, 4) for name, value in comparison.macro.items()},
            "vs_baseline": comparison.interval.to_dict() if comparison.interval else None,
        }
        for comparison in compare_rows(rows, baseline)
    ]
    return [row.to_dict() for row in rows] + macro


WIDE_TABLE = 180  # columns of the eval tables when the output is not a terminal (a file, a pipe)
AXIS_HEADINGS = {
    "chunk_size": "size",
    "chunk_overlap": "overlap",
    "late_window": "W",
    "late_overlap": "ω",
    "late_mix": "mix",
    "alone_vector": "alone",
}  # the eval table's short column names; other axes go by their own


def print_eval(rows: Sequence[EvalRow], dataset: str, k: int) -> None:
    """One line per configuration and mode: its axes, mode, passage and document metrics, chunks and
    ingest speed (shared by the modes of a configuration, which is ingested once)."""
    table = Table(
        title=f"retrieval on {dataset}, metrics at {k} (P: passage, D: document)", box=box.SIMPLE_HEAD
    )
    # a column per axis that some row sets (late-only axes are left out of a fixed-only table)
    axes = [axis for axis in (*AXES, "mode", "fusion") if any(_cell(row.config.get(axis)) for row in rows)]
    for axis in axes:
        name = AXIS_HEADINGS.get(axis, axis)
        table.add_column(name, justify="left" if name.startswith("chunk") or name == "mode" else "right")
    with_passages = any(row.passage is not None for row in rows)
    metrics = [("P", f"ndcg@{k}"), ("P", f"recall@{k}"), ("P", f"mrr@{k}")] if with_passages else []
    metrics += [("D", f"ndcg@{k}"), ("D", f"recall@{k}")]
    for level, name in metrics:
        table.add_column(f"{level} {name.split('@')[0]}", justify="right")
    for name in ("chunks", "seconds", "tokens/s"):
        table.add_column(name, justify="right")
    for row in rows:
        config = [_cell(row.config.get(axis)) for axis in axes]
        scores = [row.passage if level == "P" else row.doc for level, _ in metrics]
        values = [
            f"{(score or {}).get(name, 0.0):.4f}" for score, (_, name) in zip(scores, metrics, strict=True)
        ]
        speed = [str(row.chunks), f"{row.seconds:.1f}", f"{row.tokens_per_s:,.0f}"]
        table.add_row(*config, *values, *speed)
    wide = out_console if out_console.is_terminal else Console(width=max(out_console.width, WIDE_TABLE))
    wide.print(table)
    ingests = {
        repr(sorted({**row.config, "mode": None, "fusion": None}.items())): row for row in rows
    }  # modes share one
    for row in ingests.values():
        name = label({**row.config, "mode": None, "fusion": None})
        for failure in row.failures:
            err_console.print(
                f"[red]failed[/red] ({escape(name)}) {escape(printable(failure.source))} "
                f"\\[{failure.stage}]: {escape(failure.error)}",
                soft_wrap=True,
            )


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    return "" if value is None else str(value)


def print_report(report: RunReport, collection: str, store: str) -> None:
    table = Table(title=f"ingest into {collection!r} at {store}", show_header=False, box=None)
    summary = report.to_dict()
    for key, value in summary["documents"].items():
        table.add_row(f"documents {key}", str(value))
    table.add_row("chunks written", str(report.chunks))
    table.add_row("seconds", f"{report.seconds:.1f}")
    out_console.print(table)
    for failure in report.errors:
        where = escape(printable(failure.source))
        err_console.print(
            f"[red]failed[/red] {where} \\[{failure.stage}]: {escape(failure.error)}", soft_wrap=True
        )
    if report.outdated:
        err_console.print(
            f"{report.outdated} documents of other sources in {collection!r} were built with other "
            "options or left incomplete: ingest their sources again to bring them up to date.",
            soft_wrap=True,
        )


def printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name, ...) shown as escapes."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_passages(documents: Sequence[Any]) -> None:
    """Retrieved passages (langchain ``Document`` objects), best first, with where each comes from."""
    if not documents:
        out_console.print("no results")
        return
    width = max(40, min(100, out_console.width))
    for rank, document in enumerate(documents, 1):
        meta = document.metadata
        span = f"[{meta.get('start')}:{meta.get('end')}]"
        where = f"{printable(str(meta.get('source')))} #{meta.get('chunk_index')} {span}"
        if meta.get("page") is not None:
            where += f" p.{meta['page']}"
        if meta.get("title"):
            where += f" · {printable(str(meta['title']))}"
        chunks = len(meta.get("chunk_ids") or [])
        if chunks > 1:
            where += f" ({chunks} chunks)"
        out_console.print(
            f"[bold]{rank}.[/bold] score {meta.get('score', 0.0):.3f}  {escape(where)}",
            highlight=False,
            soft_wrap=True,
        )
        body = textwrap.fill(
            " ".join(document.page_content.split()),
            width=width,
            initial_indent="   ",
            subsequent_indent="   ",
        )
        out_console.print(body, highlight=False, markup=False, soft_wrap=True)
        out_console.print()


def print_info(info: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key, value in info.items():
        table.add_row(key, str(value))
    out_console.print(table)


def print_verification(result: dict[str, Any]) -> None:
    """The counts on stdout; ``sound``, or each kind of damage, one line each."""
    print_info({key: value for key, value in result.items() if key != "problems"})
    for problem in result["problems"]:
        out_console.print(f"[red]damaged:[/red] {escape(problem)}", highlight=False, soft_wrap=True)


def print_copy(summary: dict[str, Any]) -> None:
    out_console.print(
        f"Copied {summary['points']:,} points of {escape(summary['collection'])} "
        f"from {escape(printable(summary['source']))} to {escape(printable(summary['target']))}",
        highlight=False,
    )
