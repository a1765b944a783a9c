"""A source over a JSON-lines corpus (BEIR's ``corpus.jsonl``): one document per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem


class JsonlCorpusSource:
    """Lists the records ``{"_id", "title", "text"}`` of a JSON-lines file as plain-text documents.

    A document's uri is ``<file>#<_id>`` and its text the title, a blank line, then the text.
    Records are read back by seeking to their line, so the corpus is never held in memory.

    Example::

        source = JsonlCorpusSource("scifact/corpus.jsonl")
        item = next(iter(source.items()))      # SourceItem(uri=".../corpus.jsonl#4983", name="4983.txt")
        text = source.read(item).decode()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()
        if not self.path.is_file():
            raise ConfigurationError(f"{self.path} does not exist")
        self._offsets: dict[str, int] = {}

    def items(self) -> Iterator[SourceItem]:
        self._offsets.clear()
        with self.path.open("rb") as lines:
            offset = 0
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    doc_id = _doc_id(line, number)
                    self._offsets[doc_id] = offset
                    yield SourceItem(uri=f"{self.path}#{doc_id}", name=f"{doc_id}.txt", size=len(line))
                offset += len(line)

    def covers(self, uri: str) -> bool:
        """Whether ``uri`` names a record of this corpus file."""
        return uri.startswith(f"{self.path}#")

    def read(self, item: SourceItem) -> bytes:
        doc_id = item.uri.rpartition("#")[2]
        if doc_id not in self._offsets:
            raise SourceError(f"document {doc_id!r} is not in {self.path.name} (list items() first)")
        with self.path.open("rb") as handle:
            handle.seek(self._offsets[doc_id])
            record = json.loads(handle.readline())
        title, text = str(record.get("title") or "").strip(), str(record.get("text") or "")
        return (f"{title}\n\n{text}" if title else text).encode("utf-8")


def _doc_id(line: bytes, number: int) -> str:
    try:
        record = json.loads(line)
        return str(record["_id"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ConfigurationError(f"corpus line {number}: expected a JSON object with an '_id'") from error
