"""Small evaluation sets written in a test: a document per answer, in the layout `chunkwise eval` reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path


def answer_set(root: Path, answers: Mapping[str, tuple[str, str]]) -> Path:
    """``root`` made an evaluation set: for each ``name: (question, answer)``, a one-paragraph document
    ``corpus/name`` holding the answer, the question (``q0``, ``q1``, ...) and its judgement.

    Example::

        answer_set(tmp_path, {"mail.md": ("Which program fetches mail?", "Fetchmail fetches mail.")})
    """
    (root / "corpus").mkdir()
    with (root / "queries.jsonl").open("w") as queries, (root / "qrels.jsonl").open("w") as qrels:
        for number, (name, (question, answer)) in enumerate(answers.items()):
            (root / "corpus" / name).write_text(f"# {name}\n\n{answer} Nothing else is said here.\n")
            queries.write(json.dumps({"_id": f"q{number}", "text": question}) + "\n")
            qrels.write(
                json.dumps({"query_id": f"q{number}", "doc_id": name, "answer": answer, "score": 1}) + "\n"
            )
    return root
