"""Documents from git repositories: the wanted files of one commit, read from git's object store."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from chunkwise.connectors.filesystem_source import NOT_UTF8
from chunkwise.connectors.model_description import default_cache_folder
from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES, check_size, wanted
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem

logger = logging.getLogger(__name__)

SCHEMES = ("https", "http", "ssh", "file")
DEFAULT_TIMEOUT = 1800.0  # seconds one git command may take (a first clone of a large repository)
REMOTE_HEAD = "refs/chunkwise/remote-head"  # where a cached clone keeps the remote's HEAD commit
FETCHED_REF = "refs/chunkwise/ref"  # where a ref fetched by name (not a branch or tag) is kept

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256
_FETCHABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")  # a ref name or commit id git can fetch
# Each command runs with these, whatever the repository's own configuration says: no hook,
# no file-system monitor (both run programs), no submodule, and a garbage collection that
# finishes before the command does (never a process left behind).
_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.autoDetach=false",
)
# Variables that would point git at another repository, index or object store than the one named.
_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_CEILING_DIRECTORIES",
    }
)


class GitSource:
    """Lists the files of git repositories at one commit and reads them from git's object store.

    A location is a repository URL prefixed with ``git+`` (``git+https://``, ``git+ssh://``,
    ``git+http://``, ``git+file:///abs/repo``), cloned bare and partially (file contents fetched
    only when needed, if the server allows) into ``cache_dir/<sha256 of the URL>`` (by default
    under ``$CHUNKWISE_CACHE_DIR`` or ``$XDG_CACHE_HOME/chunkwise``, in ``git/``) and fetched again
    on each listing; or a local repository's top folder (work tree or bare), read in place.
    ``ref`` is a branch, tag or commit (default: the remote's HEAD, or the local repository's
    HEAD), resolved to a commit once per listing; one that names nothing is a
    :class:`ConfigurationError`, as is a location that cannot be cloned or is not a repository.

    Each regular file of that commit whose repository-relative path matches ``include`` and no
    ``exclude`` (hidden files and folders skipped; symbolic links and submodules too) is one item:
    ``uri`` ``git+<URL>#<path>`` (a local path's URL is ``file://`` and its absolute path), its
    ``version`` the blob id, so an unchanged file is never read again, and metadata
    ``repository``, ``path``, ``commit``, ``ref`` and ``blob``. ``read`` needs only the item (a
    fresh source reads a batch another process listed). ``root_of`` covers the repositories
    whose last listing succeeded: a renamed file's old path is pruned, a failed listing prunes
    nothing.

    Example::

        source = GitSource(["git+https://github.com/org/handbook.git"], ref="v2.1", include=["*.md"])
        for item in source.items():          # uri "git+https://github.com/org/handbook.git#docs/faq.md"
            data = source.read(item)
    """

    def __init__(
        self,
        locations: Iterable[str | os.PathLike[str]],
        ref: str | None = None,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(locations, (str, os.PathLike)):
            locations = [locations]
        cache_root = Path(cache_dir) if cache_dir is not None else default_cache_folder() / "git"
        repositories: dict[str, _Repository] = {}
        for location in locations:
            repository = _repository(os.fspath(location), cache_root)
            repositories.setdefault(repository.url, repository)
        self.repositories = list(repositories.values())
        if not self.repositories:
            raise ConfigurationError("locations is empty: give at least one repository")
        if max_bytes <= 0:
            raise ConfigurationError(f"max_bytes ({max_bytes}) must be > 0")
        if timeout <= 0:
            raise ConfigurationError(f"timeout ({timeout}) must be > 0")
        if ref is not None and (not ref or ref.startswith("-") or any(c.isspace() or c < " " for c in ref)):
            raise ConfigurationError(f"ref {ref!r} is not a branch, tag or commit")
        self.ref = ref
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._listed: list[_Repository] = []  # repositories the last listing went through
        self._git_dirs: dict[str, str] = {}

    def items(self) -> Iterator[SourceItem]:
        self._listed = []
        seen: set[str] = set()
        for repository in self.repositories:
            listing = self._list(repository)
            for entry in listing.entries:
                item = _item(repository, listing, entry)
                if item.uri not in seen:
                    seen.add(item.uri)
                    yield item
            self._listed.append(repository)

    def read(self, item: SourceItem) -> bytes:
        """The file's bytes, from the blob the item names (at most ``max_bytes``)."""
        problem = item.metadata.get("unreadable")
        if problem:
            raise SourceError(str(problem))
        repository = _owner(self.repositories, item.uri)
        if repository is None:
            roots = ", ".join(r.root for r in self.repositories)
            raise SourceError(f"{item.uri} is not a file of {roots}")
        blob = item.version or item.metadata.get("blob")
        if not isinstance(blob, str) or not _OID.fullmatch(blob):
            raise SourceError(f"the item names no blob id ({blob!r}): list it with GitSource")
        if item.size is not None:
            check_size(item.size, self.max_bytes)
        try:
            git_dir = self._git_dir(repository, update=False)
        except ConfigurationError as error:
            raise SourceError(str(error)) from error
        return self._read_blob(repository, git_dir, blob)

    def root_of(self, uri: str) -> str | None:
        """``git+<URL>`` of the repository ``uri`` is a file of, among those the last ``items()``
        listed; ``None`` otherwise (another repository, one whose listing failed, no listing)."""
        repository = _owner(self._listed, uri)
        return repository.root if repository is not None else None

    def covers(self, uri: str) -> bool:
        """Whether a stored document at ``uri`` is a file of a listed repository (see :meth:`root_of`)."""
        return self.root_of(uri) is not None

    # --- listing ------------------------------------------------------------------------------

    def _list(self, repository: _Repository) -> _Listing:
        if repository.remote is None:
            return self._list_at(repository, self._git_dir(repository, update=True))
        with _locked(repository.path):  # one process at a time clones, fetches and lists a cache
            return self._list_at(repository, self._git_dir(repository, update=True))

    def _list_at(self, repository: _Repository, git_dir: str) -> _Listing:
        commit, ref = self._resolve(repository, git_dir)
        try:
            tree = self._git(repository, ["ls-tree", "-r", "-z", "--full-tree", commit], git_dir=git_dir)
        except _GitFailed as error:
            raise ConfigurationError(f"{repository.root} could not be listed at {commit}: {error}") from error
        entries = [entry for entry in _tree_entries(tree, repository) if self._wanted(entry.path)]
        missing = self._prefetch(repository, git_dir, commit, entries) if repository.remote else set()
        sizes = self._sizes(repository, git_dir, {e.blob for e in entries} - missing)
        return _Listing(commit=commit, ref=ref, entries=entries, sizes=sizes)

    def _wanted(self, path: str) -> bool:
        if any(part.startswith(".") for part in path.split("/")):
            return False
        return wanted(path, self.include, self.exclude)

    def _resolve(self, repository: _Repository, git_dir: str) -> tuple[str, str]:
        """The commit the listing reads, and the ref's name for the metadata."""
        default = REMOTE_HEAD if repository.remote else "HEAD"
        commit = self._commit(repository, git_dir, self.ref or default)
        if commit is None and self.ref and repository.remote and _FETCHABLE.fullmatch(self.ref):
            # Not a branch or tag: maybe a commit, or a ref outside refs/heads and refs/tags.
            with contextlib.suppress(_GitFailed):
                self._fetch(repository, [f"+{self.ref}:{FETCHED_REF}"])
                commit = self._commit(repository, git_dir, FETCHED_REF)
        if commit is None:
            what = f"ref {self.ref!r}" if self.ref else "HEAD"
            raise ConfigurationError(
                f"{repository.root}: {what} names no commit (no such branch, tag or commit"
                f"{'' if self.ref else ', or an empty repository'})"
            )
        if self.ref:
            return commit, self.ref
        if repository.remote:
            return commit, "HEAD"
        branch = self._git(
            repository, ["symbolic-ref", "--quiet", "--short", "HEAD"], git_dir=git_dir, check=False
        )
        return commit, branch.decode("utf-8", "replace").strip() or "HEAD"

    def _commit(self, repository: _Repository, git_dir: str, ref: str) -> str | None:
        found = self._git(
            repository,
            ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            git_dir=git_dir,
            check=False,
        )
        commit = found.decode("ascii", "replace").strip()
        return commit if _OID.fullmatch(commit) else None

    def _prefetch(
        self, repository: _Repository, git_dir: str, commit: str, entries: list[_Entry]
    ) -> set[str]:
        """Fetch, in one go, the listed blobs a partial clone lacks; the blobs still missing."""
        try:
            objects = self._git(
                repository, ["rev-list", "--objects", "--missing=print", "--no-walk", commit], git_dir=git_dir
            )
        except _GitFailed as error:
            raise ConfigurationError(f"{repository.root} could not be listed at {commit}: {error}") from error
        absent = {
            line[1:].decode("ascii", "replace") for line in objects.splitlines() if line.startswith(b"?")
        }
        missing = sorted(absent & {entry.blob for entry in entries if entry.problem is None})
        if not missing:
            return set()
        logger.info("fetching %d files of %s", len(missing), repository.root)
        try:
            self._fetch(repository, ["--stdin"], negotiate=False, data="".join(f"{b}\n" for b in missing))
        except _GitFailed as error:
            logger.warning(
                "%s: files could not be fetched ahead (reading will try again): %s", repository.root, error
            )
            return set(missing)
        return set()

    def _sizes(self, repository: _Repository, git_dir: str, blobs: set[str]) -> dict[str, int]:
        if not blobs:
            return {}
        request = "".join(f"{blob}\n" for blob in sorted(blobs))
        found = self._git(
            repository,
            ["cat-file", "--batch-check=%(objectname) %(objectsize)"],
            git_dir=git_dir,
            data=request,
            check=False,
        )
        sizes = {}
        for line in found.decode("ascii", "replace").splitlines():
            blob, _, size = line.partition(" ")
            if size.isdigit():
                sizes[blob] = int(size)
        return sizes

    # --- the repository on disk -----------------------------------------------------------

    def _git_dir(self, repository: _Repository, *, update: bool) -> str:
        """The repository's git folder: a local one checked, a cached clone made (and fetched when
        ``update``)."""
        if repository.remote is None:
            if repository.url not in self._git_dirs:
                self._git_dirs[repository.url] = self._local_git_dir(repository)
            return self._git_dirs[repository.url]
        if update:  # the caller holds the cache's lock
            self._clone_once(repository)
            self._update(repository)
        elif not (repository.path / "HEAD").is_file():
            with _locked(repository.path):
                self._clone_once(repository)
        return str(repository.path)

    def _local_git_dir(self, repository: _Repository) -> str:
        path = repository.path
        if not path.is_dir():
            raise ConfigurationError(f"{path} is not a git repository (no such folder)")
        try:  # found in the folder itself, never in one above it
            found = self._git(
                repository,
                ["-C", str(path), "rev-parse", "--absolute-git-dir"],
                extra_env={"GIT_CEILING_DIRECTORIES": str(path.resolve().parent)},
            )
        except _GitFailed as error:
            raise ConfigurationError(
                f"{path} is not a git repository (give the folder holding .git, or a bare one): {error}"
            ) from error
        return os.fsdecode(found.rstrip(b"\n"))

    def _clone_once(self, repository: _Repository) -> None:
        assert repository.remote is not None
        target = repository.path
        if (target / "HEAD").is_file():
            return
        partial = target.with_name(target.name + ".partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
            if target.exists():  # a clone stopped halfway: the cache is ours to redo
                shutil.rmtree(target)
        except OSError as error:
            raise ConfigurationError(f"the git cache {target.parent} cannot be written: {error}") from error
        logger.info("cloning %s into %s", repository.remote, target)
        arguments = ["clone", "--bare", "--quiet", "--no-tags", "--filter=blob:none"]
        try:
            self._git(repository, [*arguments, "--", repository.remote, str(partial)])
            partial.rename(target)
        except (_GitFailed, OSError) as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise ConfigurationError(f"{repository.root} could not be cloned: {error}") from error

    def _update(self, repository: _Repository) -> None:
        refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        if self.ref is None:
            refspecs.append(f"+HEAD:{REMOTE_HEAD}")
        try:
            self._fetch(repository, ["--prune", "--update-head-ok", *refspecs])
        except _GitFailed as error:
            raise ConfigurationError(
                f"{repository.root} could not be fetched into {repository.path}: {error}"
            ) from error

    def _fetch(
        self,
        repository: _Repository,
        arguments: list[str],
        *,
        negotiate: bool = True,
        data: str | None = None,
    ) -> None:
        options = [] if negotiate else ["-c", "fetch.negotiationAlgorithm=noop"]
        fetch = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no"]
        if not negotiate:
            fetch.append("--filter=blob:none")
        self._git(
            repository, [*options, *fetch, "origin", *arguments], git_dir=str(repository.path), data=data
        )

    # --- running git ----------------------------------------------------------------------

    def _read_blob(self, repository: _Repository, git_dir: str, blob: str) -> bytes:
        command = self._command(["cat-file", "blob", blob], git_dir)
        with tempfile.TemporaryFile() as errors:
            process = self._start(repository, command, stdout=subprocess.PIPE, stderr=errors)
            timer = threading.Timer(self.timeout, _stop, (process,))
            timer.start()
            try:
                assert process.stdout is not None
                data = _read_at_most(process.stdout, self.max_bytes + 1)
                if len(data) > self.max_bytes:
                    _stop(process)
                    check_size(len(data), self.max_bytes, at_least=True)
                returncode = process.wait()
            finally:
                timer.cancel()
                _stop(process)
                process.wait()
                if process.stdout is not None:
                    process.stdout.close()
            if returncode != 0:
                errors.seek(0)
                why = _message(errors.read()) or f"exit status {returncode}"
                raise SourceError(f"git could not read blob {blob} of {repository.root}: {why}")
        return data

    def _git(
        self,
        repository: _Repository,
        arguments: list[str],
        *,
        git_dir: str | None = None,
        data: str | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> bytes:
        """``git`` with ``arguments``: its output; :class:`_GitFailed` (git's message) when it fails
        and ``check``, or takes longer than ``timeout``."""
        process = self._start(
            repository,
            self._command(arguments, git_dir),
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            extra_env=extra_env,
        )
        try:
            output, errors = process.communicate(data.encode() if data is not None else None, self.timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            process.communicate()
            command = _subcommand(arguments)
            raise _GitFailed(f"git {command} took longer than {self.timeout:g} s and was stopped") from None
        if check and process.returncode != 0:
            status = process.returncode
            raise _GitFailed(_message(errors) or f"git {_subcommand(arguments)} ended with status {status}")
        return output

    def _command(self, arguments: list[str], git_dir: str | None) -> list[str]:
        configuration = [part for setting in _SAFE_CONFIG for part in ("-c", setting)]
        location = [f"--git-dir={git_dir}"] if git_dir is not None else []
        return ["git", *configuration, *location, *arguments]

    def _start(
        self,
        repository: _Repository,
        command: list[str],
        *,
        stdin: int = subprocess.DEVNULL,
        stdout: int | IO[bytes],
        stderr: int | IO[bytes],
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        environment = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES}
        environment["GIT_TERMINAL_PROMPT"] = "0"  # fail rather than ask for a password
        if repository.remote is not None:  # only the protocol of the URL given, never ext:: and such
            environment["GIT_ALLOW_PROTOCOL"] = urlsplit(repository.remote).scheme.lower()
        environment.update(extra_env or {})
        try:  # a session of its own: no terminal to prompt on, and the whole group can be stopped
            return subprocess.Popen(
                command, stdin=stdin, stdout=stdout, stderr=stderr, env=environment, start_new_session=True
            )
        except OSError as error:
            raise ConfigurationError(f"git could not be started (is it installed?): {error}") from error


@dataclass(frozen=True)
class _Repository:
    """A location: ``url`` names its files (``git+<url>#<path>``); ``remote`` is what is cloned
    into ``path`` (``None``: the repository at ``path`` is read in place)."""

    url: str
    remote: str | None
    path: Path

    @property
    def root(self) -> str:
        return f"git+{self.url}"


@dataclass(frozen=True)
class _Entry:
    path: str  # printable: bytes that are not UTF-8 shown escaped
    blob: str
    problem: str | None


@dataclass(frozen=True)
class _Listing:
    commit: str
    ref: str
    entries: list[_Entry]
    sizes: dict[str, int]


class _GitFailed(Exception):
    """A git command failed; the message is git's own."""


def _repository(location: str, cache_root: Path) -> _Repository:
    if location[:4].lower() != "git+":
        path = os.path.abspath(location)
        return _Repository(url=f"file://{path}", remote=None, path=Path(path))
    url = location[4:]
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"{location}: a git location is git+https://, git+ssh://, git+http:// or git+file:// "
            "(write user@host:path as git+ssh://user@host/path), or a local repository's folder"
        )
    if parts.fragment or url.endswith("#"):
        raise ConfigurationError(f"{location}: a #fragment is not supported (choose files with include=)")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigurationError(
                f"{location}: git+file:// takes an absolute path, as git+file:///srv/repo"
            )
    elif not parts.hostname or parts.netloc.startswith("-") or parts.hostname.startswith("-"):
        raise ConfigurationError(f"{location}: the URL names no valid host")
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return _Repository(url=url, remote=url, path=cache_root / key)


def _owner(repositories: Iterable[_Repository], uri: str) -> _Repository | None:
    """The repository whose files have URIs like ``uri`` (the longest URL, when one holds another)."""
    owners = [r for r in repositories if uri.startswith(f"{r.root}#")]
    return max(owners, key=lambda r: len(r.url)) if owners else None


def _tree_entries(tree: bytes, repository: _Repository) -> Iterator[_Entry]:
    """The regular files of ``git ls-tree -r -z`` output."""
    for record in tree.split(b"\0"):
        if not record:
            continue
        header, _, raw = record.partition(b"\t")
        mode, kind, blob = header.decode("ascii", "replace").split(" ")
        path = raw.decode("utf-8", "backslashreplace")
        if kind != "blob":  # a submodule (its commit), never read
            logger.debug("skipping %s#%s: a submodule", repository.root, path)
            continue
        if mode == "120000":
            logger.info("skipping %s#%s: a symbolic link", repository.root, path)
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            yield _Entry(path=path, blob=blob, problem=NOT_UTF8)
        else:
            yield _Entry(path=path, blob=blob, problem=None)


def _item(repository: _Repository, listing: _Listing, entry: _Entry) -> SourceItem:
    metadata = {
        "repository": repository.url,
        "path": entry.path,
        "commit": listing.commit,
        "ref": listing.ref,
        "blob": entry.blob,
    }
    name = entry.path.rsplit("/", 1)[-1]
    uri = f"{repository.root}#{entry.path}"
    size = listing.sizes.get(entry.blob)
    if entry.problem is not None:  # listed, so that its failure is reported; read() says why
        return SourceItem(uri=uri, name=name, size=size, metadata={**metadata, "unreadable": entry.problem})
    return SourceItem(uri=uri, name=name, size=size, version=entry.blob, metadata=metadata)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock file (next to it) while one process clones or fetches it."""
    lock = path.with_name(path.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as error:
        raise ConfigurationError(f"the git cache {path.parent} cannot be written: {error}") from error
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(limit - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the process and what it started (it leads its own process group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _subcommand(arguments: list[str]) -> str:
    """The git command ``arguments`` run (``fetch`` in ``-c key=value fetch ...``)."""
    words = iter(arguments)
    for word in words:
        if word in ("-c", "-C"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return "command"


def _message(errors: bytes) -> str:
    """git's error output, short: its last lines."""
    lines = [line.strip() for line in errors.decode("utf-8", "replace").splitlines() if line.strip()]
    return "; ".join(lines[-5:])[-2000:]
