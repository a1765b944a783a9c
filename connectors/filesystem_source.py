"""Documents from local files and folders."""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES, check_size, wanted
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem

logger = logging.getLogger(__name__)

NOT_UTF8 = "the file name is not valid UTF-8 (shown with its bytes escaped): rename it"
# Open the real path itself (a link swapped in after the check is not followed), without waiting on a
# FIFO or a device: what was opened is then checked to be a regular file.
_READ_FLAGS = os.O_RDONLY | sum(getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_CLOEXEC", "O_NONBLOCK"))


class FileSystemSource:
    """Lists files given directly and files found in folders (recursively), in a stable order.

    In folders, only files matching an ``include`` glob and no ``exclude`` glob are taken
    (globs match the path relative to the folder, or the bare file name); hidden files and
    folders are skipped. Symbolic links are followed only when they point inside the folder,
    and each folder is visited once, so link loops end; a file read later is opened at its real
    path, which must still lie inside the folder. A file that cannot be taken (a link loop, a
    name that is not valid UTF-8) is still listed, under a printable name, and reading it raises
    a :class:`SourceError` that names the cause: its own error entry, never the run's end.
    Files given directly are always taken.
    ``root_of(uri)`` tells which given path a stored document lies within, for pruning: a
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
        self._unreadable: dict[str, str] = {}  # listed files that cannot be read, and why

    def items(self) -> Iterator[SourceItem]:
        self._folders, self._files, self._unlisted = [], set(), set()
        self._unreadable = {}
        seen: set[Path] = set()
        for path in self.paths:
            if not path.exists():
                raise ConfigurationError(f"{path} does not exist")
            if path.is_dir():
                root = path.resolve()
                self._folders.append(root)
                yield from self._listed(self._walk(root), seen)
            else:
                self._files.add(os.path.normpath(path.absolute()))
                yield from self._listed([(path.absolute(), None)], seen)

    def _listed(self, files: Iterable[tuple[Path, str | None]], seen: set[Path]) -> Iterator[SourceItem]:
        for file, problem in files:
            uri = _printable(os.path.normpath(file))
            if problem is None and uri != os.path.normpath(file):
                problem = NOT_UTF8
            if problem is not None:
                self._unreadable[uri] = problem
                yield SourceItem(uri=uri, name=_printable(file.name))
                continue
            real = file.resolve()
            if real in seen:  # the same file through another path or link is taken once
                continue
            seen.add(real)
            yield SourceItem(uri=uri, name=file.name, size=_size(file))

    def root_of(self, uri: str) -> str | None:
        """The given path that ``uri`` falls under in the last ``items()`` listing: a given folder, or
        ``uri`` itself when it was given as a file; ``None`` when it is not covered (outside every
        path, in a folder that could not be listed, or before any listing)."""
        if uri in self._files:
            return uri
        path = Path(uri)
        if any(_inside(path, folder) for folder in self._unlisted):
            return None
        covering = [folder for folder in self._folders if _inside(path, folder)]
        return str(max(covering, key=lambda folder: len(folder.parts))) if covering else None  # deepest

    def covers(self, uri: str) -> bool:
        """Whether a stored document at ``uri`` lies within these paths (see :meth:`root_of`)."""
        return self.root_of(uri) is not None

    def read(self, item: SourceItem) -> bytes:
        """The file's bytes, read at its real path (no link is followed after the check), which must
        lie inside the given folder the file is under. Works on a source that never listed too
        (another process reading a planned batch)."""
        if item.uri in self._unreadable:
            raise SourceError(self._unreadable[item.uri])
        try:
            real = Path(item.uri).resolve(strict=True)
            root = next((folder for folder in self._roots if _inside(Path(item.uri), folder)), None)
            if root is not None and not _inside(real, root):
                raise SourceError(f"the file is now a link to {real}, outside {root}: not read")
            descriptor = os.open(real, _READ_FLAGS)
            try:
                info = os.fstat(descriptor)
                if not stat.S_ISREG(info.st_mode):
                    raise SourceError("not a regular file")
                self._check_size(info.st_size)
                data = _read_at_most(descriptor, self.max_bytes + 1)
            finally:
                os.close(descriptor)
        except FileNotFoundError as error:
            problem = NOT_UTF8 if _listed_under_escaped_name(item.uri) else None
            raise SourceError(problem or "the file vanished before it could be read") from error
        except RuntimeError as error:  # pathlib's "Symlink loop"
            raise SourceError("a symlink loop: the path never reaches a file") from error
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise SourceError("a symlink loop: the path never reaches a file") from error
            raise SourceError(f"the file could not be read: {error.strerror or error}") from error
        self._check_size(len(data), at_least=True)  # it may have grown since stat()
        return data

    @functools.cached_property
    def _roots(self) -> list[Path]:
        """The given folders, resolved as listing resolves them."""
        return [path.resolve() for path in self.paths if path.is_dir()]

    def _check_size(self, size: int, *, at_least: bool = False) -> None:
        check_size(size, self.max_bytes, at_least=at_least)

    def _walk(self, root: Path) -> Iterator[tuple[Path, str | None]]:
        """Each wanted file under ``root``, with why it cannot be read (``None`` when it can)."""
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
                try:
                    target = entry.resolve(strict=True) if entry.is_symlink() else entry
                except (OSError, RuntimeError) as error:  # a link loop, or a link to nothing
                    if _is_loop(error) and self._wanted(entry.relative_to(root)):
                        yield entry, "a symlink loop: the path never reaches a file"
                    else:
                        logger.info("skipping %s: %s", entry, error)
                    continue
                if entry.is_symlink() and not _inside(target, root):
                    logger.info("skipping %s: it links outside %s", entry, root)
                    continue
                if target.is_dir():
                    if self.recursive:
                        subfolders.append(target)
                elif target.is_file() and self._wanted(entry.relative_to(root)):
                    yield entry, None
            pending.extend(reversed(subfolders))

    def _wanted(self, relative: Path) -> bool:
        return wanted(relative.as_posix(), self.include, self.exclude)


def _sorted_entries(folder: Path) -> list[Path] | None:
    """The folder's entries by name, or ``None`` when it cannot be listed."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as error:
        logger.warning("cannot list %s: %s", folder, error)
        return None


def _read_at_most(descriptor: int, limit: int) -> bytes:
    """Up to ``limit`` bytes (one read may return fewer than asked before the end)."""
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(descriptor, min(limit - size, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _listed_under_escaped_name(uri: str) -> bool:
    """Whether ``uri`` is the printable name of a file whose real name is not valid UTF-8."""
    folder, name = os.path.split(uri)
    try:
        entries = os.listdir(folder)
    except OSError:
        return False
    return any(_printable(entry) == name != entry for entry in entries)


def _is_loop(error: BaseException) -> bool:
    return isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP


def _printable(text: str | os.PathLike[str]) -> str:
    """``text`` as valid UTF-8: bytes of a file name that are not are shown escaped (``\\xe9``)."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
