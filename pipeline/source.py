"""What a source lists: one item per document, before anything is read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceItem:
    """A document a source can read.

    ``uri`` identifies the document across runs (an absolute path, a URL); ``name`` is the
    file name parsers use to tell the format; ``size`` is in bytes when known. ``version``,
    when the source knows one before reading (an object's ETag, a git blob id, a page's
    validator), names the bytes: a document stored from the same version is not read again.
    ``metadata`` is stored with every chunk, under ``metadata`` (retriever filters take
    ``metadata.KEY``).

    Example::

        SourceItem(uri="/srv/docs/faq.md", name="faq.md", size=5120)
        SourceItem(uri="s3://docs/faq.pdf", name="faq.pdf", version='"9b2cf5"',
                   metadata={"bucket": "docs", "key": "faq.pdf"})
    """

    uri: str
    name: str
    size: int | None = None
    version: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def extension(self) -> str:
        return PurePath(self.name).suffix.lower()
