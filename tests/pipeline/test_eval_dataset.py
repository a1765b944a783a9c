"""Loading evaluation sets: the files layout, the BEIR layout, and clear errors for broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunkwise.pipeline.evaluation.dataset import DatasetError, Judgement, load_dataset

DEBIAN_FAQ = Path(__file__).resolve().parents[2] / "examples" / "eval" / "debian-faq"


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


@pytest.fixture
def files_set(tmp_path: Path) -> Path:
    (tmp_path / "corpus" / "guides").mkdir(parents=True)
    (tmp_path / "corpus" / "guides" / "apt.md").write_text("# apt\n\nUse apt to install packages.\n")
    (tmp_path / "corpus" / "faq.txt").write_text("Debian is an operating system.\n")
    write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "How do I install packages?"},
            {"_id": "q2", "text": "What is Debian?"},
            {"_id": "q3", "text": "A question without qrels"},
        ],
    )
    write_jsonl(
        tmp_path / "qrels.jsonl",
        [
            {
                "query_id": "q1",
                "doc_id": "guides/apt.md",
                "answer": "Use apt to install packages.",
                "score": 1,
            },
            {"query_id": "q2", "doc_id": "faq.txt", "answer": "Debian is an operating system.", "score": 2},
            {"query_id": "q2", "doc_id": "guides/apt.md", "answer": "apt", "score": 0},
        ],
    )
    return tmp_path


@pytest.fixture
def beir_set(tmp_path: Path) -> Path:
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"_id": "d1", "title": "apt", "text": "Use apt."}, {"_id": "d2", "title": "", "text": "Debian."}],
    )
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "1", "text": "apt?"}, {"_id": "2", "text": "none"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    return tmp_path


def test_files_layout_reads_queries_judgements_and_answers(files_set: Path) -> None:
    dataset = load_dataset(files_set)

    assert dataset.layout == "files"
    assert [query.id for query in dataset.queries] == ["q1", "q2"]
    assert dataset.dropped_queries == 1  # q3 has no relevant document
    assert dataset.judgements["q1"] == (Judgement("guides/apt.md", 1.0, "Use apt to install packages."),)
    assert dataset.judgements["q2"] == (Judgement("faq.txt", 2.0, "Debian is an operating system."),)
    assert dataset.has_answers
    assert dataset.corpus == files_set / "corpus"


def test_files_layout_document_ids_are_paths_relative_to_the_corpus(files_set: Path) -> None:
    dataset = load_dataset(files_set)

    assert dataset.doc_id(str(files_set / "corpus" / "guides" / "apt.md")) == "guides/apt.md"
    assert dataset.doc_id(str(files_set / "corpus" / "faq.txt")) == "faq.txt"


def test_beir_layout_is_document_level_with_graded_gains(beir_set: Path) -> None:
    dataset = load_dataset(beir_set)

    assert dataset.layout == "beir"
    assert [query.id for query in dataset.queries] == ["1"]
    assert dataset.judgements["1"] == (Judgement("d1", 1.0, None),)
    assert not dataset.has_answers
    assert dataset.doc_id(f"{beir_set / 'corpus.jsonl'}#d1") == "d1"


def test_the_shared_debian_faq_set_loads() -> None:
    dataset = load_dataset(DEBIAN_FAQ)

    assert len(dataset.queries) == 123 and dataset.dropped_queries == 0
    assert dataset.has_answers
    assert all(len(judgements) == 1 for judgements in dataset.judgements.values())


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda root: (root / "qrels.jsonl").unlink(), "neither corpus/ with qrels.jsonl"),
        (lambda root: (root / "queries.jsonl").unlink(), "queries.jsonl is missing"),
        (
            lambda root: (root / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{oops\n'),
            "queries.jsonl:2",
        ),
        (lambda root: (root / "queries.jsonl").write_text('["q1"]\n'), "expected a JSON object"),
        (lambda root: write_jsonl(root / "queries.jsonl", [{"_id": "q1"}]), "missing 'text'"),
        (
            lambda root: write_jsonl(root / "queries.jsonl", [{"_id": "q2", "text": "x"}]),
            "missing from queries",
        ),
        (lambda root: write_jsonl(root / "qrels.jsonl", [{"query_id": "q1", "score": 1}]), "qrels.jsonl:1"),
    ],
)
def test_broken_files_sets_fail_with_the_file_and_line(files_set: Path, breakage, message: str) -> None:
    breakage(files_set)

    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_dataset(files_set)


def test_beir_qrels_must_be_three_columns_with_a_number(beir_set: Path) -> None:
    (beir_set / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\n")

    with pytest.raises(DatasetError, match=r"test\.tsv:2"):
        load_dataset(beir_set)


def test_a_missing_folder_or_no_judged_query_is_refused(tmp_path: Path, files_set: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(tmp_path / "nowhere")
    write_jsonl(
        files_set / "qrels.jsonl", [{"query_id": "q1", "doc_id": "faq.txt", "answer": "x", "score": 0}]
    )
    with pytest.raises(DatasetError, match="no query has a relevant document"):
        load_dataset(files_set)
