"""The run report as Markdown, for the Prefect artifact every ingest flow run leaves."""

from __future__ import annotations

import re

import httpx

from chunkwise.pipeline.report import RunReport

MAX_LISTED_FAILURES = 200


def artifact_key(collection: str) -> str:
    """The artifact key of ``collection``'s ingest runs (Prefect keys: lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", collection.lower()).strip("-")
    return f"chunkwise-ingest-{slug or 'collection'}"


def report_markdown(report: RunReport, collection: str, location: str) -> str:
    """A counts table and a table of the documents that failed, with their stage and error.

    Example::

        create_markdown_artifact(key=artifact_key("docs"), markdown=report_markdown(report, "docs", store))
    """
    counts = report.to_dict()["documents"]
    lines = [
        f"# Ingest into `{_cell(collection)}`",
        "",
        f"Store: `{_cell(location)}` · {report.chunks:,} chunks written · {report.seconds:.1f} s",
        "",
        "| documents | count |",
        "|---|---:|",
        *(f"| {name} | {value:,} |" for name, value in counts.items()),
    ]
    if report.errors:
        lines += ["", f"## {report.failed:,} failed", "", "| source | stage | error |", "|---|---|---|"]
        lines += [
            f"| {_cell(f.source)} | {f.stage} | {_cell(f.error)} |"
            for f in report.errors[:MAX_LISTED_FAILURES]
        ]
        if report.failed > MAX_LISTED_FAILURES:
            lines += ["", f"... and {report.failed - MAX_LISTED_FAILURES:,} more (see the run's logs)."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")


def latest_artifact(api_url: str, key: str) -> str | None:
    """The newest version of the artifact ``key`` on the Prefect server at ``api_url``, if any.

    Read over HTTP: Prefect 3.8.8's client sends null ``limit``/``sort`` fields that its server
    refuses with 422.

    Example::

        latest_artifact("http://127.0.0.1:4200/api", artifact_key("docs"))
    """
    response = httpx.post(
        f"{api_url.rstrip('/')}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": [key]}}, "limit": 1},
        timeout=30,
    )
    response.raise_for_status()
    artifacts = response.json()
    return str(artifacts[0]["data"]) if artifacts else None
