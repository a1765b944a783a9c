"""Fixtures of the flows tests: a tiny evaluation set built from the sample documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

QUERIES = [
    (
        "q1",
        "Which exit code makes git bisect run skip a commit that cannot be tested?",
        "git-bisect.txt",
        "The special exit code 125 should be used when the current source code cannot be tested.",
    ),
    (
        "q2",
        "What does path.basename return?",
        "nodejs-path.md",
        "The `path.basename()` method returns the last portion of a `path`, similar to the Unix `basename`",
    ),
    (
        "q3",
        "How can I find out which package a particular file came from?",
        "debian-faq-pkgtools.html",
        "To identify the package that produced the file named foo execute either: dpkg --search foo",
    ),
]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Path:
    """Three real sample documents, a corrupt PDF, and three questions with their answer passages."""
    root = tmp_path_factory.mktemp("tiny-set")
    (root / "corpus").mkdir()
    for _, _, name, _ in QUERIES:
        shutil.copy(sample_data / name, root / "corpus" / name)
    (root / "corpus" / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not a pdf body\n")
    with (root / "queries.jsonl").open("w") as queries, (root / "qrels.jsonl").open("w") as qrels:
        for query_id, text, name, answer in QUERIES:
            queries.write(json.dumps({"_id": query_id, "text": text}) + "\n")
            qrels.write(
                json.dumps({"query_id": query_id, "doc_id": name, "answer": answer, "score": 1}) + "\n"
            )
    return root
