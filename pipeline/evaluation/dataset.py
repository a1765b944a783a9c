"""Labelled retrieval sets: queries, the documents that answer them, and (optionally) the answers.

Two layouts are read:

- **files** (passage and document level)::

      corpus/               the documents, any format the parser reads; relative path = doc id
      queries.jsonl         {"_id": "q1", "text": "..."}
      qrels.jsonl           {"query_id": "q1", "doc_id": "faq.html", "answer": "...", "score": 1}

- **BEIR** (document level)::

      corpus.jsonl          {"_id": "d1", "title": "...", "text": "..."}
      queries.jsonl         {"_id": "q1", "text": "..."}
      qrels/test.tsv        query-id <TAB> corpus-id <TAB> score, with a header line
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chunkwise.pipeline.errors import ConfigurationError

Layout = Literal["files", "beir"]


class DatasetError(ConfigurationError):
    """An evaluation set is missing a file or holds a malformed line."""


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Judgement:
    """A document relevant to a query, with its gain and, for passage-level sets, the answer text."""

    doc_id: str
    gain: float
    answer: str | None = None


@dataclass(frozen=True, slots=True)
class EvalDataset:
    """A loaded evaluation set. Only queries with at least one relevant document are kept.

    Example::

        dataset = load_dataset("eval/debian-faq")
        for query in dataset.queries:
            print(query.text, [j.doc_id for j in dataset.judgements[query.id]])
    """

    root: Path
    layout: Layout
    queries: tuple[Query, ...]
    judgements: dict[str, tuple[Judgement, ...]]
    dropped_queries: int = 0

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def corpus(self) -> Path:
        """The folder of documents (files layout) or the ``corpus.jsonl`` file (BEIR)."""
        return self.root / ("corpus" if self.layout == "files" else "corpus.jsonl")

    @property
    def has_answers(self) -> bool:
        """True when every judgement carries its answer text, so passages can be judged."""
        return all(j.answer for judgements in self.judgements.values() for j in judgements)

    def doc_id(self, source: str) -> str:
        """The dataset's id of the document a chunk came from, given the chunk's ``source`` uri."""
        if self.layout == "beir":
            return source.rpartition("#")[2]
        path = Path(source)
        try:
            return path.resolve().relative_to(self.corpus.resolve()).as_posix()
        except ValueError:
            return path.name


def load_dataset(path: str | Path) -> EvalDataset:
    """Read an evaluation set in the files or the BEIR layout (see the module docstring)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder with an evaluation set")
    if (root / "corpus").is_dir() and (root / "qrels.jsonl").is_file():
        layout: Layout = "files"
        judgements = _files_qrels(root / "qrels.jsonl")
    elif (root / "corpus.jsonl").is_file():
        layout = "beir"
        judgements = _beir_qrels(root / "qrels" / "test.tsv")
    else:
        raise DatasetError(
            f"{root} has neither corpus/ with qrels.jsonl (files layout) nor corpus.jsonl (BEIR layout)"
        )
    all_queries = [_query(record, where) for record, where in read_jsonl(root / "queries.jsonl")]
    unknown = sorted(set(judgements) - {query.id for query in all_queries})
    if unknown:
        raise DatasetError(f"qrels name queries missing from queries.jsonl: {', '.join(unknown[:5])}")
    queries = tuple(query for query in all_queries if query.id in judgements)
    if not queries:
        raise DatasetError(f"{root}: no query has a relevant document")
    return EvalDataset(root, layout, queries, judgements, dropped_queries=len(all_queries) - len(queries))


def read_jsonl(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """Each JSON object of a JSON-lines file, with ``file:line`` for error messages."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{where}: not valid JSON ({error.msg})") from error
            if not isinstance(record, dict):
                raise DatasetError(f"{where}: expected a JSON object")
            yield record, where


def _query(record: dict[str, Any], where: str) -> Query:
    return Query(id=str(_field(record, "_id", where)), text=str(_field(record, "text", where)))


def _files_qrels(path: Path) -> dict[str, tuple[Judgement, ...]]:
    judgements: dict[str, list[Judgement]] = {}
    for record, where in read_jsonl(path):
        gain = float(record.get("score", 1))
        if gain <= 0:
            continue
        answer = record.get("answer")
        judgement = Judgement(
            doc_id=str(_field(record, "doc_id", where)),
            gain=gain,
            answer=str(answer) if answer else None,
        )
        judgements.setdefault(str(_field(record, "query_id", where)), []).append(judgement)
    return {query_id: tuple(items) for query_id, items in judgements.items()}


def _beir_qrels(path: Path) -> dict[str, tuple[Judgement, ...]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing (BEIR layout needs qrels/test.tsv)")
    judgements: dict[str, list[Judgement]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if number == 1 and row and not _is_number(row[-1]):
                continue  # the header
            if len(row) != 3 or not _is_number(row[2]):
                raise DatasetError(f"{path.name}:{number}: expected query-id, corpus-id and a numeric score")
            if float(row[2]) > 0:
                judgements.setdefault(row[0], []).append(Judgement(doc_id=row[1], gain=float(row[2])))
    return {query_id: tuple(items) for query_id, items in judgements.items()}


def _field(record: dict[str, Any], key: str, where: str) -> Any:
    if key not in record or record[key] is None:
        raise DatasetError(f"{where}: missing {key!r}")
    return record[key]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
