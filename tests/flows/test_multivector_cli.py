"""``--multivector-model`` on ``chunkwise ingest``, ``query`` and ``eval``, with a tiny ColBERT model,
into Qdrant Edge and qdrant-client local mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_sets import answer_set
from tiny_models import save_tiny_colbert
from typer.testing import CliRunner

import chunkwise
from chunkwise.connectors.multivector_encoder import MultivectorEncoder, _TransformerEncoder, maxsim
from chunkwise.connectors.stores import open_store
from chunkwise.flows.cli import app
from chunkwise.flows.evaluate import label
from chunkwise.pipeline.errors import ConfigurationError, FingerprintMismatchError

ANSWERS = {
    "packages.md": ("How are Debian packages built?", "Debian packages are built with dpkg-buildpackage."),
    "mail.md": ("Which program fetches mail over IMAP?", "Fetchmail retrieves mail from IMAP servers."),
    "editor.md": ("How do I leave insert mode in Vim?", "Press Esc to leave insert mode in Vim."),
}
QUESTION = "fetch mail from an IMAP server"
IN_PROCESS = ("--max-seconds-per-document", "0")  # parsed here: spaCy loads once, not per ingest


@pytest.fixture(scope="module")
def colbert_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_colbert(tmp_path_factory.mktemp("colbert-cli"))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three one-paragraph documents and a question on each, as an evaluation set."""
    return answer_set(tmp_path_factory.mktemp("colbert-set"), ANSWERS)


def invoke(*arguments: str):
    return CliRunner().invoke(app, list(arguments))


def top_score_is_maxsim(store: str, hit: dict, colbert_folder: str) -> bool:
    """Whether ``hit``'s score is the MaxSim of the question's token vectors and the hit's stored ones."""
    with open_store(store) as opened:
        [point] = [p for p in opened.points("docs") if p.id == hit["chunk_ids"][0]]
    query = MultivectorEncoder(colbert_folder).encode_query(QUESTION)
    return bool(np.isclose(hit["score"], maxsim(query, point.named["multivector"]), rtol=1e-4))


@pytest.mark.parametrize("kind", ["edge", "local"])
def test_ingest_and_query_token_vectors_then_reindex_without_them(
    tmp_path: Path, small_set: Path, colbert_folder: str, kind: str
) -> None:
    store = str(tmp_path / "qdrant") if kind == "edge" else f"local:{tmp_path / 'qdrant'}"
    place = ("--store", store, "--collection", "docs", *IN_PROCESS)
    corpus = str(small_set / "corpus")
    options = ("--multivector-model", colbert_folder, "--multivector-pool-factor", "2")
    ingested = invoke("ingest", corpus, *place, "--chunking", "late", *options, "--json")
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["documents"]["indexed"] == 3
    with open_store(store) as opened:
        recorded = opened.fingerprint("docs").vectors["multivector"]
        points = list(opened.points("docs"))
    assert recorded == {
        "kind": "multivector",
        "size": 16,
        "model": colbert_folder,
        "chunks": "late",
        "pool_factor": 2,
    }
    assert all(p.named["multivector"].shape[1] == 16 for p in points)

    for mode in ("multivector", "hybrid")[: 2 if kind == "edge" else 1]:  # hybrid's are rescored by MaxSim
        found = invoke("query", QUESTION, *place[:4], "--mode", mode, "--json")
        assert found.exit_code == 0, found.output
        hits = json.loads(found.stdout)
        assert hits and hits[0]["mode"] == mode
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        assert top_score_is_maxsim(store, hits[0], colbert_folder)
    if kind == "local":
        return  # the rest is the same on both: the store tests cover local mode's refusals

    other = invoke("ingest", corpus, *place, "--chunking", "late", "--multivector-model", colbert_folder)
    assert isinstance(other.exception, FingerprintMismatchError), other.output  # no pooling now
    rebuilt = invoke("ingest", corpus, *place, "--chunking", "late", "--reindex", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    with open_store(store) as opened:
        assert opened.fingerprint("docs").vectors == {} and opened.count("docs") == len(points)
    refused = invoke("query", QUESTION, *place[:4], "--mode", "multivector")
    assert isinstance(refused.exception, ConfigurationError)
    assert "has none" in str(refused.exception) and "--multivector-model" in str(refused.exception)


def test_eval_scores_multivector_and_rescored_hybrid(
    small_set: Path, colbert_folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = []
    load = _TransformerEncoder._load
    monkeypatch.setattr(_TransformerEncoder, "_load", lambda self: loads.append(1) or load(self))
    # the options as the command line passes them, the documents parsed in this process
    result = chunkwise.evaluate(
        small_set,
        chunking="fixed",
        chunk_size=[64, 128],
        modes=["multivector", "hybrid"],
        fusions=["rrf", "dbsf"],
        k=5,
        multivector_model=colbert_folder,
        multivector_max_tokens=8,
        max_seconds_per_document=0,
    )
    assert len(loads) == 1  # one ColBERT load for the whole grid
    rows = [row.to_dict() for row in result.rows]
    assert [row["config"]["mode"] for row in rows] == ["multivector", "hybrid"] * 2  # hybrid once: MaxSim
    assert [row["config"]["fusion"] for row in rows] == [None, "maxsim"] * 2
    assert label(rows[1]["config"]).endswith("hybrid maxsim")
    assert all(row["config"]["multivector_model"] == colbert_folder for row in rows)
    assert all(row["config"]["multivector_max_tokens"] == 8 and row["passage"] is not None for row in rows)
    refused = invoke("eval", str(small_set), "--chunking", "fixed", "--mode", "multivector")
    assert isinstance(refused.exception, ConfigurationError)
    assert "--multivector-model" in str(refused.exception)
    unbound = invoke("eval", str(small_set), "--chunking", "fixed", "--multivector-max-tokens", "8")
    assert unbound.exit_code != 0 and "multivector_model" in str(unbound.exception or unbound.output)
