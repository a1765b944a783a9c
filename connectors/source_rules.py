"""Rules every source applies to what it lists and reads: which names to take, how many bytes."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from chunkwise.pipeline.errors import SourceError

DEFAULT_INCLUDE = (
    "*.md",
    "*.markdown",
    "*.txt",
    "*.text",
    "*.rst",
    "*.html",
    "*.htm",
    "*.xhtml",
    "*.pdf",
    "*.docx",
)
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def wanted(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a document at ``relative`` (a ``/``-separated path under a listed root) matches an
    ``include`` glob and no ``exclude`` glob; each glob matches the whole relative path or the bare
    file name, ignoring case. Every source filters its listing with this.

    Example::

        wanted("guide/intro.md", include=["*.md"], exclude=["drafts/*"])   # True
    """
    return _matches(relative, include) and not _matches(relative, exclude)


def _matches(relative: str, globs: Sequence[str]) -> bool:
    posix = relative.lower()
    name = posix.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(posix, glob.lower()) or fnmatch.fnmatch(name, glob.lower()) for glob in globs)


def check_size(size: int, max_bytes: int, *, at_least: bool = False) -> None:
    """Raise :class:`SourceError` when a document of ``size`` bytes (``at_least``: more than
    ``max_bytes`` were seen before reading stopped) is over ``max_bytes``.

    Example::

        check_size(len(data), 100 * 1024 * 1024)
    """
    if size > max_bytes:
        amount = f"more than {max_bytes:,}" if at_least else f"{size:,}"
        raise SourceError(f"the document has {amount} bytes, over the limit of {max_bytes:,} (max_bytes)")
