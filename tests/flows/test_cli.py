"""The ``chunkwise`` command end to end: the installed console script on the sample corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.cli import app
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.source import SourceItem

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
QUESTIONS = [
    (
        "How can I find out which package a particular file came from?",
        "debian-faq-pkgtools.html",
        "dpkg --search",
    ),
    (
        "What exit code should a git bisect run script return when the commit cannot be tested?",
        "git-bisect.txt",
        "125",
    ),
    ("Is Python's sort stable?", "python-sorting-howto.docx", "stable"),
]


def run(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHUNKWISE, *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory, sample_data):
    store = str(tmp_path_factory.mktemp("cli") / "store")
    result = run("ingest", str(sample_data), "--store", store, "--collection", "samples", "--json")
    return store, result


def test_ingest_indexes_every_sample_and_prints_the_report(sample_store, sample_data):
    _, result = sample_store
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"documents", "chunks", "errors", "seconds"}
    assert report["documents"] == {
        "seen": 8,
        "indexed": 8,
        "unchanged": 0,
        "failed": 0,
        "deleted": 0,
        "outdated": 0,
    }
    assert report["errors"] == [] and report["chunks"] > 100 and report["seconds"] > 0


@pytest.mark.parametrize(("question", "expected_file", "phrase"), QUESTIONS)
def test_a_question_finds_its_document_first(sample_store, sample_data, question, expected_file, phrase):
    store, _ = sample_store
    result = CliRunner().invoke(
        app, ["query", question, "--store", store, "--collection", "samples", "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 5 and hits[0]["source"] == str(sample_data / expected_file)
    assert any(phrase in hit["text"] for hit in hits)  # the answering passage is among the hits
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    provenance = {"score", "text", "source", "chunk_index", "start", "end", "page", "title", "chunk_ids"}
    assert provenance <= set(hits[0]) and hits[0]["mode"] == "hybrid"  # the collection has BM25 terms


def test_query_text_is_the_exact_span_of_the_document_text(sample_store, sample_data):
    store, _ = sample_store
    result = run("query", "dlocate -S foo", "--store", store, "--collection", "samples", "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    parser = UnstructuredParser()
    for hit in json.loads(result.stdout):
        path = Path(hit["source"])
        document = parser.parse(SourceItem(uri=str(path), name=path.name), path.read_bytes())
        assert hit["text"] == document.text[hit["start"] : hit["end"]]


def parsed_text(source: str) -> str:
    path = Path(source)
    return UnstructuredParser().parse(SourceItem(uri=str(path), name=path.name), path.read_bytes()).text


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_query_mode_filter_and_expand(sample_store, mode):
    store, _ = sample_store
    arguments = ["--store", store, "--collection", "samples", "-k", "3", "--json", "--mode", mode]
    result = run("query", "git bisect", *arguments, "--filter", "source=*.html", "--expand", "1")

    assert result.returncode == 0, result.stderr
    passages = json.loads(result.stdout)
    assert len(passages) == 3
    assert all(p["source"].endswith(".html") and p["mode"] == mode for p in passages)
    assert all(len(p["chunk_ids"]) >= 2 for p in passages)  # each hit with at least one neighbour
    for passage in passages:
        assert passage["text"] == parsed_text(passage["source"])[passage["start"] : passage["end"]]


def test_query_passages_from_a_pdf_carry_their_pages(sample_store):
    store, _ = sample_store
    arguments = ["--store", store, "--collection", "samples", "--json", "--filter", "source=*.pdf"]
    result = run("query", "debian/rules file", *arguments, "--expand", "2")

    assert result.returncode == 0, result.stderr
    passages = json.loads(result.stdout)
    assert passages and all(p["source"].endswith(".pdf") for p in passages)
    for passage in passages:
        assert isinstance(passage["page"], int) and passage["page"] >= 1
        assert passage["pages"][0] == passage["page"] and passage["pages"] == sorted(passage["pages"])


def test_query_filters_on_a_documents_metadata_and_drops_weak_passages(sample_store):
    store, _ = sample_store
    arguments = ["--store", store, "--collection", "samples", "--mode", "dense", "-k", "10", "--json"]
    every = json.loads(run("query", "sorting lists in Python", *arguments).stdout)
    threshold = str((every[0]["score"] + every[1]["score"]) / 2)

    docx = run("query", "sorting lists in Python", *arguments, "--filter", "metadata.format=docx")
    strong = run("query", "sorting lists in Python", *arguments, "--threshold", threshold)

    assert {Path(p["source"]).suffix for p in json.loads(docx.stdout)} == {".docx"}
    assert [p["chunk_ids"] for p in json.loads(strong.stdout)] == [every[0]["chunk_ids"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--filter", "source"], "write KEY=VALUE"),
        (["--expand", "two"], "--expand 'two'"),
        (["--mode", "keywords"], "mode must be one of"),
        (["--filter", "source=*/nowhere/*"], "no results"),
    ],
)
def test_query_refuses_bad_options_or_says_when_nothing_matches(sample_store, arguments, message):
    store, _ = sample_store
    result = run("query", "anything", "--store", store, "--collection", "samples", *arguments)
    assert message in result.stdout + result.stderr
    assert result.returncode == (0 if message == "no results" else 1)


def test_info_shows_points_documents_and_fingerprint(sample_store):
    store, ingested = sample_store
    result = CliRunner().invoke(
        app, ["info", "--json"], env={"CHUNKWISE_STORE": store, "CHUNKWISE_COLLECTION": "samples"}
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["points"] == json.loads(ingested.stdout)["chunks"] and info["documents"] == 8
    assert info["fingerprint"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["fingerprint"]["dimension"] == 384
    chunking = info["fingerprint"]["chunking"]
    defaults = IngestOptions()  # the model's measured defaults
    assert (chunking["strategy"], chunking.get("headers", False)) == (defaults.chunking, defaults.headers)
    assert (chunking["chunker"], chunking["chunk_size"], chunking["chunk_overlap"]) == (
        "token", defaults.chunk_size, defaults.chunk_overlap,
    )  # fmt: skip


def test_copy_moves_a_collection_to_another_backend_where_queries_and_reruns_work(
    sample_store, sample_data, tmp_path
):
    store, ingested = sample_store
    target = f"local:{tmp_path / 'server-stand-in'}"
    question = ["query", "Is Python's sort stable?", "--collection", "samples", "--json"]

    copied = run("copy", store, target, "--collection", "samples", "--json")

    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["points"] == json.loads(ingested.stdout)["chunks"]
    there = run(*question, "--store", target)
    here = run(*question, "--store", store)
    hits_there, hits_here = json.loads(there.stdout), json.loads(here.stdout)
    assert [(h["source"], h["start"], h["text"]) for h in hits_there] == [
        (h["source"], h["start"], h["text"]) for h in hits_here
    ]
    assert [h["score"] for h in hits_there] == pytest.approx([h["score"] for h in hits_here], abs=1e-5)
    again = run("copy", store, target, "--collection", "samples")
    assert again.returncode == 1 and "--replace" in again.stderr
    rerun = run("ingest", str(sample_data), "--store", target, "--collection", "samples", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["documents"]["unchanged"] == 8  # nothing re-embedded


def test_a_corrupt_file_exits_2_with_one_error_and_the_rest_indexed(tmp_path, sample_data):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "path.md").write_bytes((sample_data / "nodejs-path.md").read_bytes())
    (folder / "broken.docx").write_bytes(b"this is not a zip archive" * 50)
    store = str(tmp_path / "store")
    result = run("ingest", str(folder), "--store", store, "--json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["documents"]["indexed"] == 1 and report["documents"]["failed"] == 1
    [error] = report["errors"]
    assert error["source"] == str(folder / "broken.docx") and error["stage"] == "parse" and error["error"]

    again = run("ingest", str(folder), "--store", store, "--json")
    assert again.returncode == 2
    assert json.loads(again.stdout)["documents"] == {
        "seen": 2,
        "indexed": 0,
        "unchanged": 1,
        "failed": 1,
        "deleted": 0,
        "outdated": 0,
    }


def test_fatal_errors_exit_1_with_a_message(tmp_path, sample_data):
    store = str(tmp_path / "store")
    sample = str(sample_data / "nodejs-timers.md")
    assert run("ingest", sample, "--store", store).returncode == 0
    mismatch = run("ingest", sample, "--store", store, "--chunk-size", "64", "--chunk-overlap", "0")
    assert mismatch.returncode == 1 and "chunk_size" in mismatch.stderr
    bad_option = CliRunner().invoke(app, ["ingest", sample, "--store", store, "--chunk-overlap", "300"])
    assert isinstance(
        bad_option.exception, Exception
    ) and "chunk_overlap (300) must be < chunk_size (200)" in str(bad_option.exception)
    missing = run("query", "anything", "--store", store, "--collection", "nope")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad_overlap = run("ingest", sample, "--store", store, "--chunk-overlap", "300")
    assert bad_overlap.returncode == 1 and "chunk_overlap (300)" in bad_overlap.stderr


def test_eval_prints_json_rows_writes_the_run_file_and_the_plot(tmp_path, tiny_set):
    run_file, plot = tmp_path / "run.jsonl", tmp_path / "metrics.png"

    result = run(
        "eval", str(tiny_set), "--chunking", "fixed,late", "--chunk-size", "128", "--chunk-overlap", "0",
        "--late-window", "256", "-k", "5", "--json", "--run-file", str(run_file), "--plot", str(plot),
    )  # fmt: skip

    assert result.returncode == 2, result.stderr  # broken.pdf failed; the scores cover the rest
    output = json.loads(result.stdout)
    rows = [row for row in output if row["dataset"] != "macro"]
    assert [(row["config"]["chunking"], row["config"]["mode"]) for row in rows] == [
        ("fixed", "dense"), ("fixed", "hybrid"), ("late", "dense"), ("late", "hybrid"),
    ]  # fmt: skip
    for row in rows:
        assert set(row) == {
            "dataset", "default", "config", "passage", "doc", "seconds", "tokens_per_s", "chunks", "failed",
        }  # fmt: skip
        assert (
            row["dataset"] == tiny_set.name and row["default"] is False
        )  # 128-token chunks are not the default
        assert set(row["passage"]) == {"ndcg@5", "recall@5", "mrr@5", "answer_ndcg@5"}
        assert set(row["doc"]) == {"ndcg@5", "recall@5"}
        assert [Path(failure["source"]).name for failure in row["failed"]] == ["broken.pdf"]
    macro = [row for row in output if row["dataset"] == "macro"]
    assert [m["config"] for m in macro] == [row["config"] for row in rows]
    assert macro[0]["vs_baseline"] is None  # fixed dense: the baseline
    for m, row in zip(macro[1:], rows[1:], strict=True):
        difference = row["passage"]["ndcg@5"] - rows[0]["passage"]["ndcg@5"]
        assert m["vs_baseline"]["mean"] == pytest.approx(difference, abs=1e-3)
        assert m["vs_baseline"]["low"] <= m["vs_baseline"]["mean"] <= m["vs_baseline"]["high"]
    hits = [json.loads(line) for line in run_file.read_text().splitlines()]
    assert len(hits) == 4 * 3 * 5  # configurations x modes x queries x k
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_eval_without_options_scores_the_defaults_against_fixed_chunking_on_every_set(tmp_path, tiny_set):
    second = tmp_path / "second-set"
    shutil.copytree(tiny_set, second)
    (second / "corpus" / "broken.pdf").unlink()

    result = run("eval", str(tiny_set), str(second), "--json")

    assert result.returncode == 2, result.stderr  # broken.pdf of the first set
    output = json.loads(result.stdout)
    rows = [row for row in output if row["dataset"] != "macro"]
    assert {row["dataset"] for row in rows} == {tiny_set.name, "second-set"}
    defaults = [row for row in rows if row["default"]]
    assert len(defaults) == 2  # one per set: the ingest defaults, searched in the default mode
    assert all(row["config"]["mode"] == "hybrid" for row in defaults)
    assert {row["config"]["chunking"] for row in rows} == {IngestOptions().chunking, "fixed"}
    macro = {json.dumps(m["config"], sort_keys=True): m for m in output if m["dataset"] == "macro"}
    assert len(macro) == len(rows) // 2  # every configuration, over both sets
    [default] = [m for m in macro.values() if m["default"]]
    assert default["datasets"] == [tiny_set.name, "second-set"]
    baseline = [m for m in macro.values() if m["vs_baseline"] is None]
    assert [(b["config"]["chunking"], b["config"]["mode"]) for b in baseline] == [("fixed", "dense")]
    per_set = [r["passage"]["ndcg@10"] for r in rows if r["default"]]
    assert default["metrics"]["passage_ndcg@10"] == pytest.approx(sum(per_set) / 2, abs=1e-3)


def test_eval_prints_a_table_on_the_terminal(tiny_set):
    result = run("eval", str(tiny_set), "--chunking", "fixed", "--chunk-size", "256")

    assert result.returncode == 2
    assert "retrieval on" in result.stdout and "fixed" in result.stdout and "P ndcg" in result.stdout
    assert "macro average over 1 set," in result.stdout and "baseline" in result.stdout
    assert "broken.pdf" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--chunk-size", "big"], "--chunk-size"),
        (["--chunking", "early"], "chunking"),
        (["--chunk-size", "16", "--chunk-overlap", "16"], "chunk_overlap"),
        (["--backend", "tensorrt"], "backend"),
    ],
)
def test_eval_refuses_bad_grids_before_any_work(tiny_set, arguments, message):
    result = run("eval", str(tiny_set), *arguments)

    assert result.returncode == 1
    assert message in result.stderr


def test_eval_refuses_a_folder_that_is_no_evaluation_set(tmp_path):
    result = run("eval", str(tmp_path))

    assert result.returncode == 1
    assert "neither corpus/" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("query", "x", "-k", "0"), "Invalid value for '-k'"),
        (("ingest", "--chunk-size", "many", "docs"), "Invalid value for '--chunk-size'"),
        (("no-such-command",), "No such command"),
    ],
)
def test_bad_usage_is_one_error_with_exit_1_and_no_traceback(arguments, message):
    result = run(*arguments)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_reading_a_store_that_does_not_exist_is_an_error_and_creates_nothing(tmp_path):
    missing = tmp_path / "no-store"
    for arguments in (("info",), ("query", "dpkg")):
        result = run(*arguments, "--store", str(missing))
        assert result.returncode == 1
        assert f"there is no store at {missing}" in result.stderr
        assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_an_empty_query_is_refused(sample_store):
    store, _ = sample_store
    result = run("query", "   ", "--store", store, "--collection", "samples")
    assert result.returncode == 1
    assert "the query is empty" in result.stderr


def test_version_is_the_installed_distribution_s():
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"chunkwise {version('chunkwise')}"


def test_a_prune_of_an_emptied_folder_is_refused_with_one_error_until_forced(tmp_path, sample_data):
    folder, store = tmp_path / "docs", str(tmp_path / "store")
    folder.mkdir()
    for name in ("git-bisect.txt", "nodejs-path.md"):
        shutil.copy(sample_data / name, folder / name)
    arguments = ("--store", store, "--collection", "c", "--json")
    assert run("ingest", str(folder), *arguments).returncode == 0
    for file in folder.iterdir():
        file.unlink()

    refused = run("ingest", str(folder), "--prune", *arguments)
    assert refused.returncode == 1
    assert "prune would delete all 2 stored documents" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = run("ingest", str(folder), "--prune", "--prune-force", *arguments)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["documents"]["deleted"] == 2
