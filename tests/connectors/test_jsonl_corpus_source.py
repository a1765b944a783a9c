"""JsonlCorpusSource: BEIR's corpus.jsonl as documents, read back by seeking to their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunkwise.connectors.jsonl_corpus_source import JsonlCorpusSource
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    records = [
        {"_id": "d1", "title": "Berlin", "text": "Berlin is the capital of Germany."},
        {"_id": "d2", "title": "", "text": "Größe und Maß: ünïcödé text."},
        {"_id": 3, "text": "An integer id and no title."},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n", encoding="utf-8")
    return path


def test_items_name_each_record_by_file_and_id(corpus: Path) -> None:
    items = list(JsonlCorpusSource(corpus).items())

    assert [item.uri for item in items] == [f"{corpus}#d1", f"{corpus}#d2", f"{corpus}#3"]
    assert [item.name for item in items] == ["d1.txt", "d2.txt", "3.txt"]
    assert all(item.size and item.size > 0 for item in items)


def test_read_gives_title_blank_line_text_or_the_text_alone(corpus: Path) -> None:
    source = JsonlCorpusSource(corpus)
    texts = [source.read(item).decode("utf-8") for item in source.items()]

    assert texts == [
        "Berlin\n\nBerlin is the capital of Germany.",
        "Größe und Maß: ünïcödé text.",
        "An integer id and no title.",
    ]


def test_records_parse_as_plain_text_documents(corpus: Path) -> None:
    source = JsonlCorpusSource(corpus)
    item = next(iter(source.items()))

    document = UnstructuredParser().parse(item, source.read(item))

    assert "Berlin is the capital of Germany." in document.text


def test_unknown_items_and_bad_files_raise_clear_errors(tmp_path: Path, corpus: Path) -> None:
    source = JsonlCorpusSource(corpus)
    with pytest.raises(SourceError, match=r"not in corpus\.jsonl"):
        source.read(SourceItem(uri=f"{corpus}#nope", name="nope.txt"))

    with pytest.raises(ConfigurationError, match="does not exist"):
        JsonlCorpusSource(tmp_path / "missing.jsonl")

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"_id": "a", "text": "fine"}\n{"text": "no id"}\n')
    with pytest.raises(ConfigurationError, match="line 2"):
        list(JsonlCorpusSource(broken).items())
