"""Documents from local files and folders."""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem

logger = logging.getLogger(__name__)

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


class FileSystemSource:
    """Lists files given directly and files found in folders (recursively), in a stable order.

    In folders, only files matching an ``include`` glob and no ``exclude`` glob are taken
    (globs match the path relative to the folder, or the bare file name); hidden files and
    folders are skipped. Symbolic links are followed only when they point inside the folder,
    and each folder is visited once, so link loops end. Files given directly are always taken.
    ``covers(uri)`` tells whether a stored document lies within these paths, for pruning: a
    folder that could not be listed covers nothing, so its documents are never pruned.

    Example::

        source = FileSystemSource(["docs/", "notes/todo.md"], exclude=["drafts/*"])
        for item in source.items():
            data = source.read(item)
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        recursive: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ConfigurationError("paths is empty: give at least one file or folder")
        if max_bytes <= 0:
            raise ConfigurationError(f"max_bytes ({max_bytes}) must be > 0")
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.recursive = recursive
        self.max_bytes = max_bytes
        # What the last listing covered, for ``covers``: its folders, files and unlisted folders.
        self._folders: list[Path] = []
        self._files: set[str] = set()
        self._unlisted: set[Path] = set()

    def items(self) -> Iterator[SourceItem]:
        self._folders, self._files, self._unlisted = [], set(), set()
        seen: set[Path] = set()
        for path in self.paths:
            if not path.exists():
                raise ConfigurationError(f"{path} does not exist")
            if path.is_dir():
                self._folders.append(path.resolve())
                files: Iterable[Path] = self._walk(self._folders[-1])
            else:
                files = [path.absolute()]
                self._files.add(os.path.normpath(files[0]))
            for file in files:
                real = file.resolve()
                if real not in seen:  # the same file through another path or link is taken once
                    seen.add(real)
                    yield SourceItem(uri=os.path.normpath(file), name=file.name, size=_size(file))

    def covers(self, uri: str) -> bool:
        """Whether ``uri`` is one of the given files or lies in a given folder that the last
        ``items()`` listed (before any listing, nothing is covered)."""
        if uri in self._files:
            return True
        path = Path(uri)
        if any(_inside(path, folder) for folder in self._unlisted):
            return False
        return any(_inside(path, folder) for folder in self._folders)

    def read(self, item: SourceItem) -> bytes:
        path = Path(item.uri)
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise SourceError("not a regular file")
            self._check_size(info.st_size)
            with open(path, "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except FileNotFoundError as error:
            raise SourceError("the file vanished before it could be read") from error
        except OSError as error:
            raise SourceError(f"the file could not be read: {error.strerror or error}") from error
        self._check_size(len(data), at_least=True)  # it may have grown since stat()
        return data

    def _check_size(self, size: int, *, at_least: bool = False) -> None:
        if size > self.max_bytes:
            amount = f"more than {self.max_bytes:,}" if at_least else f"{size:,}"
            raise SourceError(
                f"the file has {amount} bytes, over the limit of {self.max_bytes:,} (max_bytes)"
            )

    def _walk(self, root: Path) -> Iterator[Path]:
        visited: set[Path] = set()
        pending = [root]
        while pending:
            folder = pending.pop()
            if folder in visited:
                continue
            visited.add(folder)
            subfolders: list[Path] = []
            entries = _sorted_entries(folder)
            if entries is None:
                self._unlisted.add(folder)
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                target = entry.resolve() if entry.is_symlink() else entry
                if entry.is_symlink() and not _inside(target, root):
                    logger.info("skipping %s: it links outside %s", entry, root)
                    continue
                if target.is_dir():
                    if self.recursive:
                        subfolders.append(target)
                elif target.is_file() and self._wanted(entry.relative_to(root)):
                    yield entry
            pending.extend(reversed(subfolders))

    def _wanted(self, relative: Path) -> bool:
        return _matches(relative, self.include) and not _matches(relative, self.exclude)


def _matches(relative: Path, globs: Sequence[str]) -> bool:
    """Case-insensitive glob match on the relative path or the bare file name."""
    posix, name = relative.as_posix().lower(), relative.name.lower()
    return any(fnmatch.fnmatch(posix, glob.lower()) or fnmatch.fnmatch(name, glob.lower()) for glob in globs)


def _sorted_entries(folder: Path) -> list[Path] | None:
    """The folder's entries by name, or ``None`` when it cannot be listed."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as error:
        logger.warning("cannot list %s: %s", folder, error)
        return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
