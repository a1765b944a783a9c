"""Evaluation through the real pipeline: unstructured, MiniLM (fixed and late), Qdrant in memory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from flows.evaluate import EvalRow, Evaluation, configuration_grid, describe, label
from flows.settings import IngestOptions
from pipeline.errors import ConfigurationError
from pipeline.evaluation.dataset import load_dataset

TINY_DOCUMENTS = {"git-bisect.txt", "nodejs-path.md", "debian-faq-pkgtools.html"}
FIXED = IngestOptions(chunking="fixed", chunk_size=128, chunk_overlap=0)
LATE = IngestOptions(chunking="late", chunk_size=128, chunk_overlap=0, late_window=256)


@pytest.fixture(scope="module")
def evaluated(tiny_set: Path) -> tuple[list[EvalRow], list[dict]]:
    run_file = io.StringIO()
    evaluation = Evaluation(load_dataset(tiny_set), k=10, run_file=run_file)
    rows = evaluation.run([FIXED, LATE])
    return rows, [json.loads(line) for line in run_file.getvalue().splitlines()]


def test_each_configuration_gets_passage_and_document_metrics(evaluated) -> None:
    rows, _ = evaluated

    assert [row.config["chunking"] for row in rows] == ["fixed", "late"]
    assert rows[1].config["late_window"] == 256 and rows[0].config["late_window"] is None
    for row in rows:
        assert set(row.passage) == {"ndcg@10", "recall@10", "mrr@10"}
        assert set(row.doc) == {"ndcg@10", "recall@10"}
        assert all(0.0 <= value <= 1.0 for value in [*row.passage.values(), *row.doc.values()])
        assert row.doc["recall@10"] == 1.0  # three documents: every one is in the top 10
        assert row.passage["recall@10"] >= 2 / 3  # MiniLM finds most answers among 10 chunks
        assert row.chunks > 20 and row.seconds > 0 and row.tokens_per_s > 0


def test_a_corrupt_document_is_reported_and_the_others_are_scored(evaluated) -> None:
    rows, _ = evaluated

    for row in rows:
        assert [Path(failure.source).name for failure in row.failures] == ["broken.pdf"]
        assert row.failures[0].stage == "parse"


def test_the_run_file_holds_every_ranked_hit(evaluated, tiny_set: Path) -> None:
    rows, hits = evaluated

    assert {tuple(sorted(hit)) for hit in hits} == {
        ("chunk_text", "config", "doc_id", "query_id", "rank", "score")
    }
    for row in rows:
        for query_id in ("q1", "q2", "q3"):
            ranked = [h for h in hits if h["config"] == row.config and h["query_id"] == query_id]
            assert [h["rank"] for h in ranked] == list(range(1, 11))
            assert [h["score"] for h in ranked] == sorted((h["score"] for h in ranked), reverse=True)
            for hit in ranked:
                corpus_text = (tiny_set / "corpus" / hit["doc_id"]).read_bytes()
                assert hit["doc_id"] in TINY_DOCUMENTS and corpus_text


def test_an_easy_question_finds_its_document_first_and_its_answer_near_the_top(evaluated) -> None:
    rows, hits = evaluated

    for row in rows:
        ranked = [h for h in hits if h["config"] == row.config and h["query_id"] == "q1"]
        assert ranked[0]["doc_id"] == "git-bisect.txt", label(row.config)
        assert any("125" in h["chunk_text"] for h in ranked[:5]), label(row.config)


def test_scores_are_reproducible(tiny_set: Path, evaluated) -> None:
    rows, _ = evaluated

    again = Evaluation(load_dataset(tiny_set)).run_one(LATE)

    assert again.passage == pytest.approx(rows[1].passage) and again.doc == pytest.approx(rows[1].doc)


def test_a_beir_set_is_scored_at_document_level(tmp_path: Path) -> None:
    records = [
        {
            "_id": "bisect",
            "title": "git bisect",
            "text": "Use binary search to find the commit that introduced a bug.",
        },
        {"_id": "apt", "title": "apt", "text": "apt installs, upgrades and removes Debian packages."},
        {"_id": "sort", "title": "Sorting", "text": "Python's sort is stable: equal keys keep their order."},
    ]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "1", "text": "How do I install a Debian package?"})
        + "\n"
        + json.dumps({"_id": "2", "text": "Is sorting stable in Python?"})
        + "\n"
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\tapt\t1\n2\tsort\t1\n")

    [row] = Evaluation(load_dataset(tmp_path), k=1).run([FIXED])

    assert row.passage is None
    assert row.doc == {"ndcg@1": 1.0, "recall@1": 1.0}
    assert row.chunks == 3 and not row.failures


def test_the_grid_combines_values_and_fixed_ignores_late_axes() -> None:
    grid = configuration_grid(
        IngestOptions(),
        {
            "chunking": ["fixed", "late"],
            "chunk_size": [64, 128],
            "late_window": [128, 256],
            "chunk_overlap": [0],
        },
    )

    described = [describe(options) for options in grid]
    assert len(grid) == 2 + 4  # fixed: one per size, whatever the windows
    assert [label(config) for config in described] == [
        "fixed token 64/0",
        "fixed token 128/0",
        "late token 64/0 W128 ω32",
        "late token 64/0 W256 ω32",
        "late token 128/0 W128 ω32",
        "late token 128/0 W256 ω32",
    ]


def test_the_grid_refuses_impossible_or_unknown_settings() -> None:
    with pytest.raises(ConfigurationError, match="chunk_overlap"):
        configuration_grid(IngestOptions(), {"chunk_size": [16], "chunk_overlap": [16]})
    with pytest.raises(ConfigurationError, match="unknown evaluation axes: window"):
        configuration_grid(IngestOptions(), {"window": [1]})
    with pytest.raises(ConfigurationError, match="chunking"):
        configuration_grid(IngestOptions(), {"chunking": ["early"]})


def test_sentence_configurations_ignore_the_token_overlap_axis() -> None:
    grid = configuration_grid(
        IngestOptions(chunking="fixed"),
        {"chunker": ["token", "sentence"], "chunk_size": [128], "chunk_overlap": [0, 16]},
    )

    described = [describe(options) for options in grid]
    assert [label(config) for config in described] == [
        "fixed token 128/0",
        "fixed token 128/16",
        "fixed sentence 128",
    ]
    assert described[2]["chunk_overlap"] is None and described[2]["sentence_overlap"] == 0
    assert described[0]["sentence_overlap"] is None and described[0]["max_sentences"] is None
