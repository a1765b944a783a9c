"""``--sparse-model`` on ``chunkwise ingest``, ``query`` and ``eval``, with the shipped SPLADE model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_sets import answer_set
from typer.testing import CliRunner

from chunkwise.connectors.stores import open_store
from chunkwise.flows.cli import app
from chunkwise.pipeline.errors import ConfigurationError

ANSWERS = {
    "packages.md": ("How are Debian packages built?", "Debian packages are built with dpkg-buildpackage."),
    "mail.md": (
        "Which program fetches mail over IMAP?",
        "Fetchmail retrieves mail from POP3 and IMAP servers.",
    ),
    "editor.md": ("How do I leave insert mode in Vim?", "Press Esc to leave insert mode."),
}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three one-paragraph documents and a question on each, as an evaluation set."""
    return answer_set(tmp_path_factory.mktemp("splade-set"), ANSWERS)


def invoke(*arguments: str):
    return CliRunner().invoke(app, list(arguments))


def test_ingest_query_and_eval_take_a_sparse_model(
    tmp_path: Path, small_set: Path, splade_model: str
) -> None:
    store = str(tmp_path / "qdrant")
    place = ("--store", store, "--collection", "docs")
    ingested = invoke("ingest", str(small_set / "corpus"), *place, "--sparse-model", splade_model, "--json")
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["documents"]["indexed"] == 3
    with open_store(store) as opened:
        assert opened.fingerprint("docs").sparse == {"kind": "learned", "model": splade_model}

    for extra in ((), ("--sparse-model", splade_model + "/")):  # the model from another folder
        found = invoke(
            "query", "fetch mail from an IMAP server", *place, "--mode", "sparse", "--json", *extra
        )
        assert found.exit_code == 0, found.output
        hits = json.loads(found.stdout)
        assert hits[0]["mode"] == "sparse" and Path(hits[0]["source"]).name == "mail.md"

    evaluated = invoke(
        "eval", str(small_set), "--chunking", "fixed", "--mode", "sparse,hybrid", "-k", "5",
        "--sparse-model", splade_model, "--json",
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    rows = [row for row in json.loads(evaluated.stdout) if row["dataset"] != "macro"]
    assert [row["config"]["mode"] for row in rows] == ["sparse", "hybrid"]
    assert all(row["config"]["sparse_model"] == splade_model and row["passage"] is not None for row in rows)
    assert rows[0]["passage"]["mrr@5"] == 1.0  # the learned weights rank each answer first


def test_a_sparse_model_that_does_not_load_stops_the_ingest_before_any_write(tmp_path, sample_data) -> None:
    store = tmp_path / "qdrant"
    result = invoke(
        "ingest", str(sample_data / "nodejs-path.md"), "--store", str(store), "--sparse-model",
        str(tmp_path / "no-such-model"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigurationError)  # `chunkwise` prints it as one line
    assert "cannot load sparse model" in str(result.exception) and "no-such-model" in str(result.exception)
    with open_store(str(store)) as opened:
        assert opened.collections() == []
