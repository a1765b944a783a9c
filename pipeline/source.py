"""What a source lists: one item per document, before anything is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True, slots=True)
class SourceItem:
    """A document a source can read.

    ``uri`` identifies the document across runs (an absolute path, a URL); ``name`` is the
    file name parsers use to tell the format; ``size`` is in bytes when known.

    Example::

        SourceItem(uri="/srv/docs/faq.md", name="faq.md", size=5120)
    """

    uri: str
    name: str
    size: int | None = None

    @property
    def extension(self) -> str:
        return PurePath(self.name).suffix.lower()
