"""FileSystemSource on real files and folders under tmp_path."""

from __future__ import annotations

import builtins
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh folder; resolved so the uris the source builds compare equal to our paths."""
    folder = tmp_path.resolve() / "docs"
    folder.mkdir()
    return folder


def write(path: Path, data: bytes | str = b"content") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def relative_uris(items: list[SourceItem], base: Path) -> list[str]:
    return [Path(item.uri).relative_to(base).as_posix() for item in items]


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging forever if a walk never ends (e.g. a symlink loop)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"listing did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- listing --------------------------------------------------------------------------------


def test_lists_recursively_in_stable_sorted_order(root: Path) -> None:
    # Created in reverse order, so a listing in creation / directory order would differ.
    for name in ["z.md", "m.txt", "a.md", "b/z.md", "b/a.md", "a/c/y.md", "a/x.md"]:
        write(root / name)

    first = relative_uris(list(FileSystemSource([root]).items()), root)
    second = relative_uris(list(FileSystemSource([root]).items()), root)

    assert first == second
    assert sorted(first) == sorted(["z.md", "m.txt", "a.md", "b/z.md", "b/a.md", "a/c/y.md", "a/x.md"])
    # Within each folder, names come in sorted order.
    by_folder: dict[str, list[str]] = {}
    for rel in first:
        by_folder.setdefault(str(Path(rel).parent), []).append(Path(rel).name)
    for folder, names in by_folder.items():
        assert names == sorted(names), folder
    # Each folder's files are listed together (a depth-first walk, not interleaved).
    folders = [str(Path(rel).parent) for rel in first]
    runs = [f for i, f in enumerate(folders) if i == 0 or folders[i - 1] != f]
    assert len(runs) == len(set(runs))


def test_non_recursive_lists_only_top_level_files(root: Path) -> None:
    write(root / "top.md")
    write(root / "sub" / "deep.md")

    items = list(FileSystemSource([root], recursive=False).items())

    assert relative_uris(items, root) == ["top.md"]


def test_default_include_takes_document_formats_only(root: Path) -> None:
    wanted = ["a.md", "b.txt", "c.html", "d.pdf", "e.docx"]
    unwanted = ["f.png", "g.py", "h.jpg", "no_extension", "i.md.bak"]
    for name in wanted + unwanted:
        write(root / name)

    names = [item.name for item in FileSystemSource([root]).items()]

    assert names == sorted(wanted)


def test_include_glob_bare_name_matches_at_any_depth(root: Path) -> None:
    for name in ["a.md", "a.txt", "sub/b.md", "sub/b.txt", "sub/deeper/c.md"]:
        write(root / name)

    items = list(FileSystemSource([root], include=["*.md"]).items())

    assert sorted(relative_uris(items, root)) == ["a.md", "sub/b.md", "sub/deeper/c.md"]


def test_include_glob_relative_path_form(root: Path) -> None:
    for name in ["guide.md", "guides/intro.md", "guides/intro.txt", "other/intro.md"]:
        write(root / name)

    items = list(FileSystemSource([root], include=["guides/*.md"]).items())

    assert relative_uris(items, root) == ["guides/intro.md"]


def test_exclude_glob_relative_path_and_bare_name_forms(root: Path) -> None:
    for name in ["keep.md", "notes.txt", "drafts/wip.md", "sub/secret.md", "sub/public.md"]:
        write(root / name)

    source = FileSystemSource([root], exclude=["drafts/*", "secret.md", "*.txt"])
    items = list(source.items())

    assert sorted(relative_uris(items, root)) == ["keep.md", "sub/public.md"]


def test_exclude_wins_over_include(root: Path) -> None:
    write(root / "a.md")
    write(root / "b.md")

    items = list(FileSystemSource([root], include=["*.md"], exclude=["b.md"]).items())

    assert [item.name for item in items] == ["a.md"]


def test_hidden_files_and_folders_are_skipped(root: Path) -> None:
    for name in [
        "visible.md",
        ".hidden.md",
        ".git/config.md",
        "sub/.secret/inner.md",
        "sub/.dotfile.txt",
        "sub/shown.txt",
    ]:
        write(root / name)

    items = list(FileSystemSource([root]).items())

    assert sorted(relative_uris(items, root)) == ["sub/shown.txt", "visible.md"]


def test_hidden_root_folder_given_explicitly_is_walked(tmp_path: Path) -> None:
    hidden_root = tmp_path.resolve() / ".docs"
    write(hidden_root / "a.md")

    items = list(FileSystemSource([hidden_root]).items())

    assert [item.name for item in items] == ["a.md"]


def test_file_given_directly_is_taken_even_if_not_included(root: Path) -> None:
    image = write(root / "picture.png", b"\x89PNG")
    hidden = write(root / ".hidden.md")
    excluded = write(root / "skip.md")

    source = FileSystemSource([image, hidden, excluded], include=["*.txt"], exclude=["skip.md"])
    items = list(source.items())

    assert [item.uri for item in items] == [str(image), str(hidden), str(excluded)]


def test_same_file_given_twice_is_listed_once(root: Path) -> None:
    file = write(root / "a.md")
    write(root / "b.md")

    same_twice = list(FileSystemSource([file, file, root / "." / "a.md"]).items())
    folder_and_file = list(FileSystemSource([root, file, root]).items())

    assert [item.uri for item in same_twice] == [str(file)]
    assert sorted(relative_uris(folder_and_file, root)) == ["a.md", "b.md"]


def test_dangling_symlink_in_folder_is_ignored(root: Path) -> None:
    write(root / "a.md")
    (root / "broken.md").symlink_to(root / "missing.md")

    items = list(FileSystemSource([root]).items())

    assert [item.name for item in items] == ["a.md"]


# --- symbolic links -------------------------------------------------------------------------


def test_symlink_to_folder_outside_root_is_not_followed(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    outside = root.parent / "outside"
    write(outside / "secret.md")
    write(root / "inside.md")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "linked_file.md").symlink_to(outside / "secret.md")

    with caplog.at_level(logging.INFO, logger="chunkwise.connectors.filesystem_source"):
        items = list(FileSystemSource([root]).items())

    assert [item.name for item in items] == ["inside.md"]
    assert items[0].uri == str(root / "inside.md")
    assert "links outside" in caplog.text


def test_symlink_to_folder_inside_root_is_followed_once(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(root / "real" / "a.md")
    write(root / "real" / "b.md")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)

    with caplog.at_level(logging.INFO, logger="chunkwise.connectors.filesystem_source"):
        items = list(FileSystemSource([root]).items())

    names = [item.name for item in items]
    assert sorted(names) == ["a.md", "b.md"]  # not duplicated through the alias
    assert len({item.uri for item in items}) == 2
    assert "links outside" not in caplog.text


def test_symlink_inside_root_reaches_a_folder_the_walk_would_skip(root: Path) -> None:
    # The only way to observe that an inside link is followed: its target is a hidden
    # folder, which the walk never enters by itself.
    write(root / ".vendor" / "lib.md")
    (root / "vendor").symlink_to(root / ".vendor", target_is_directory=True)

    items = list(FileSystemSource([root]).items())

    assert [item.name for item in items] == ["lib.md"]
    assert Path(items[0].uri).read_bytes() == b"content"


def test_symlink_loop_terminates_and_lists_each_file_once(root: Path) -> None:
    write(root / "top.md")
    write(root / "a" / "mid.md")
    write(root / "a" / "b" / "leaf.md")
    (root / "a" / "b" / "up").symlink_to(root / "a", target_is_directory=True)
    (root / "a" / "b" / "to_root").symlink_to(root, target_is_directory=True)
    (root / "a" / "self").symlink_to(root / "a", target_is_directory=True)

    with deadline(20):
        items = list(FileSystemSource([root]).items())

    assert sorted(relative_uris(items, root)) == ["a/b/leaf.md", "a/mid.md", "top.md"]


# --- reading --------------------------------------------------------------------------------


def test_read_returns_the_bytes(root: Path) -> None:
    data = bytes(range(256)) * 10
    write(root / "binary.pdf", data)
    write(root / "empty.txt", b"")

    source = FileSystemSource([root])
    items = {item.name: item for item in source.items()}

    assert source.read(items["binary.pdf"]) == data
    assert source.read(items["empty.txt"]) == b""


def test_file_over_max_bytes_raises_source_error_naming_size_and_limit(root: Path) -> None:
    write(root / "big.md", b"x" * 2500)
    write(root / "fits.md", b"y" * 1000)

    source = FileSystemSource([root], max_bytes=1000)
    items = {item.name: item for item in source.items()}

    assert source.read(items["fits.md"]) == b"y" * 1000  # exactly the limit is allowed
    with pytest.raises(SourceError) as excinfo:
        source.read(items["big.md"])
    message = str(excinfo.value).replace(",", "").replace("_", "")
    assert "2500" in message
    assert "1000" in message


def test_file_that_grows_past_max_bytes_after_stat_raises_source_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file still being written (a log, a download) can pass the size check and then grow
    # before it is opened. The limit must still hold: no more than max_bytes is ever returned.
    file = write(root / "growing.txt", b"x" * 10)
    source = FileSystemSource([root], max_bytes=100)
    [item] = list(source.items())

    real_fstat = os.fstat

    def fstat_then_growth(descriptor: int) -> os.stat_result:
        info = real_fstat(descriptor)  # the size checked: 10 bytes
        with builtins.open(file, "ab") as handle:
            handle.write(b"y" * 500)
        return info

    monkeypatch.setattr(os, "fstat", fstat_then_growth)

    with pytest.raises(SourceError, match="100"):
        source.read(item)
    assert file.stat().st_size == 510


def test_max_bytes_must_be_positive(root: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileSystemSource([root], max_bytes=0)


def test_file_deleted_after_listing_raises_source_error(root: Path) -> None:
    file = write(root / "gone.md")
    source = FileSystemSource([root])
    [item] = list(source.items())
    file.unlink()

    with pytest.raises(SourceError, match="vanished"):
        source.read(item)


def test_file_replaced_by_a_directory_raises_source_error(root: Path) -> None:
    # Works as root too (unlike chmod 000): opening a directory fails for everyone.
    file = write(root / "doc.md")
    source = FileSystemSource([root])
    [item] = list(source.items())
    file.unlink()
    file.mkdir()

    with pytest.raises(SourceError) as excinfo:
        source.read(item)
    assert "vanished" not in str(excinfo.value)  # it exists; it just cannot be read
    assert "not a regular file" in str(excinfo.value)


def test_a_fifo_is_refused_instead_of_blocking(root: Path) -> None:
    fifo = root / "pipe.md"
    os.mkfifo(fifo)
    source = FileSystemSource([fifo])
    [item] = list(source.items())
    with pytest.raises(SourceError, match="not a regular file"):
        source.read(item)


def test_file_replaced_by_a_dangling_symlink_raises_source_error(root: Path) -> None:
    file = write(root / "doc.md")
    source = FileSystemSource([root])
    [item] = list(source.items())
    file.unlink()
    file.symlink_to(root / "nowhere.md")

    with pytest.raises(SourceError):
        source.read(item)


def test_file_without_read_permission(root: Path) -> None:
    # Tests often run as root, who may read a chmod 000 file anyway. The honest check is that
    # the source agrees with the OS: an error exactly when this process may not read the file.
    # (The failing path is always covered by the directory / dangling-symlink tests above.)
    file = write(root / "locked.md", b"locked")
    source = FileSystemSource([root])
    [item] = list(source.items())
    file.chmod(0)
    try:
        if os.access(file, os.R_OK):
            assert source.read(item) == b"locked"
        else:
            with pytest.raises(SourceError):
                source.read(item)
    finally:
        file.chmod(0o644)


@pytest.mark.parametrize(
    "name",
    ["résumé 日本語.md", "with spaces.txt", "line\nbreak.md", "émoji 🚀.md", "[brackets].md"],
)
def test_odd_file_names_are_listed_and_readable(root: Path, name: str) -> None:
    data = f"body of {name}".encode()
    write(root / name, data)

    source = FileSystemSource([root])
    items = list(source.items())

    assert [item.name for item in items] == [name]
    assert items[0].uri == str(root / name)
    assert source.read(items[0]) == data


# --- configuration and items ---------------------------------------------------------------


def test_nonexistent_path_raises_configuration_error(root: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        list(FileSystemSource([root / "missing"]).items())


def test_empty_path_list_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        FileSystemSource([])
    with pytest.raises(ConfigurationError):
        FileSystemSource(iter([]))


def test_source_item_fields(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = write(root / "sub" / "café.md", "héllo wörld")  # 13 bytes, 11 characters
    direct = write(root.parent / "direct.txt", b"12345")
    monkeypatch.chdir(root.parent)

    # Relative paths in, absolute uris out.
    items = list(FileSystemSource(["docs", "direct.txt"]).items())

    assert len(items) == 2
    by_name = {item.name: item for item in items}
    assert set(by_name) == {"café.md", "direct.txt"}
    for item in items:
        assert os.path.isabs(item.uri)
    assert by_name["café.md"].uri == str(nested)
    assert by_name["café.md"].size == len("héllo wörld".encode()) == 13
    assert by_name["direct.txt"].uri == str(direct)
    assert by_name["direct.txt"].size == 5


def test_a_symlink_loop_is_listed_and_its_read_names_the_loop(root: Path) -> None:
    good = write(root / "good.md", "# Good")
    (root / "a.md").symlink_to(root / "b.md")
    (root / "b.md").symlink_to(root / "a.md")
    (root / "loop-dir").symlink_to(root / "loop-dir")  # not a wanted name: skipped quietly
    source = FileSystemSource([root])
    items = {Path(item.uri).name: item for item in source.items()}
    assert set(items) == {"a.md", "b.md", "good.md"}
    for name in ("a.md", "b.md"):
        with pytest.raises(SourceError, match="symlink loop"):
            source.read(items[name])
    assert source.read(items["good.md"]) == good.read_bytes()


def test_a_file_name_that_is_not_utf8_is_listed_printably_and_its_read_says_why(root: Path) -> None:
    write(root / "good.md", "# Good")
    bad = os.fsencode(root) + b"/caf\xe9.md"  # Latin-1 bytes: not UTF-8
    with open(bad, "wb") as handle:
        handle.write(b"# Cafe")
    source = FileSystemSource([root])
    items = sorted(source.items(), key=lambda item: item.uri)
    assert [item.uri for item in items] == [f"{root}/caf\\xe9.md", f"{root}/good.md"]
    for item in items:
        item.uri.encode("utf-8")  # every uri can be stored and printed
    for reader in (source, FileSystemSource([root])):  # the one that listed, and one that did not
        with pytest.raises(SourceError, match="not valid UTF-8"):
            reader.read(items[0])
        assert reader.read(items[1]) == b"# Good"


def test_a_file_swapped_for_a_link_outside_the_folder_after_listing_is_not_read(
    root: Path, tmp_path: Path
) -> None:
    secret = write(tmp_path / "outside" / "secret.md", "# Secret")
    listed = write(root / "notes.md", "# Notes")
    source = FileSystemSource([root])
    [item] = list(source.items())
    listed.unlink()
    listed.symlink_to(secret)
    with pytest.raises(SourceError, match="outside"):
        source.read(item)


def test_a_fifo_is_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe.md")
    source = FileSystemSource([root / "pipe.md"])
    [item] = list(source.items())
    with pytest.raises(SourceError, match="not a regular file"):
        source.read(item)


def test_a_source_that_reads_before_listing_applies_the_same_checks(root: Path, tmp_path: Path) -> None:
    # The ingest flow reads a planned batch through a fresh source, in another task or process.
    secret = write(tmp_path / "outside" / "secret.md", "# Secret")
    listed = write(root / "notes.md", "# Notes")
    [item] = list(FileSystemSource([root]).items())
    listed.unlink()
    listed.symlink_to(secret)
    with pytest.raises(SourceError, match="outside"):
        FileSystemSource([root]).read(item)
