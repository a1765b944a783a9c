"""``chunkwise ingest`` over a folder of bad input: each bad file gets its own error, the rest is
indexed, the exit code is 2, and what an earlier run indexed is never lost."""

from __future__ import annotations

import ctypes
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pikepdf
import pytest

from chunkwise.connectors.stores import open_store

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
COLLECTION = "docs"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2

GOOD = {
    "résumé 日本語.md": "# Résumé\n\nThe curriculum vitae of a translator who reads Japanese and French.\n",
    "with spaces.txt": "Spaces in file names are common on desktops and must not break ingestion.\n",
    "line\nbreak.md": "# Newlines\n\nA file name may even contain a newline character on Linux.\n",
    "latin1.txt": "Größe und Maße: naïve café, déjà vu, written in Latin-1.\n",
}
# name -> (stage, words the error must contain)
BAD = {
    "empty.txt": ("parse", "empty"),
    "garbage.pdf": ("parse", "damaged"),
    "garbage.docx": ("parse", "could not be parsed"),
    "truncated.pdf": ("parse", "truncated"),
    "binary.txt": ("parse", "encoding"),
    "huge.md": ("read", "over the limit of 104,857,600"),
    "locked.md": ("read", "ermission denied"),
    "odd\nname [draft].pdf": ("parse", "damaged"),
    "loop-a.md": ("read", "symlink loop"),
    "loop-b.md": ("read", "symlink loop"),
    "caf\\xe9.md": ("read", "not valid UTF-8"),  # listed under its escaped, printable name
    "encrypted.pdf": ("parse", "encrypted PDF"),
    "bomb.docx": ("parse", "unpacks to 314,"),  # 300 MiB of zeros in a few hundred KB
    "long.txt": ("parse", "more than max_text_chars (10,000,000 characters)"),
}


def without_root_file_access() -> None:
    """Drop root's power to read any file, so a chmod 000 file is unreadable as for any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHUNKWISE, *arguments], capture_output=True, text=True, timeout=600)


def ingest(folder: Path, store: Path, as_json: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHUNKWISE, "ingest", str(folder), "--store", str(store), "--collection", COLLECTION]
        + (["--json"] if as_json else []),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=without_root_file_access if os.geteuid() == 0 else None,
    )


def write_bad_files(folder: Path, sample_data: Path) -> None:
    noise = random.Random(7)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "garbage.pdf").write_bytes(bytes(noise.randrange(256) for _ in range(4000)))
    (folder / "garbage.docx").write_bytes(b"PK\x03\x04" + bytes(noise.randrange(256) for _ in range(4000)))
    pdf = (sample_data / "debian-new-maintainers-guide.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    (folder / "binary.txt").write_bytes(bytes(noise.randrange(256) for _ in range(4000)))
    (folder / "odd\nname [draft].pdf").write_bytes(
        b"%PDF-1.7\n" + bytes(noise.randrange(256) for _ in range(999))
    )
    with open(folder / "huge.md", "wb") as huge:  # sparse: 100 MiB + 1 byte without using the disk
        huge.truncate(100 * 1024 * 1024 + 1)
    (folder / "loop-a.md").symlink_to(folder / "loop-b.md")
    (folder / "loop-b.md").symlink_to(folder / "loop-a.md")
    with open(os.fsencode(folder) + b"/caf\xe9.md", "wb") as latin1_name:
        latin1_name.write(b"# Cafe\n\nA file name in Latin-1 bytes.\n")
    with pikepdf.open(sample_data / "debian-new-maintainers-guide.pdf") as original:
        original.save(folder / "encrypted.pdf", encryption=pikepdf.Encryption(owner="o", user="secret"))
    docx = (sample_data / "python-sorting-howto.docx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(docx)) as original, zipfile.ZipFile(folder / "bomb.docx", "w") as bomb:
        for member in original.infolist():
            bomb.writestr(member, original.read(member))
        bomb.writestr("word/media/padding.bin", b"\0" * (300 * 1024 * 1024), zipfile.ZIP_DEFLATED)
    (folder / "long.txt").write_bytes(b"word " * 2_000_001)
    locked = folder / "locked.md"
    locked.write_text("# Locked\n\nNobody may read this file.\n")
    locked.chmod(0)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, sample_data):
    """A folder ingested twice: first with good files only, then with every kind of bad file."""
    root = tmp_path_factory.mktemp("bad-input")
    folder = root / "docs"
    folder.mkdir()
    for name, text in GOOD.items():
        (folder / name).write_bytes(text.encode("latin-1" if name == "latin1.txt" else "utf-8"))
    (folder / "loop").mkdir()
    (folder / "loop" / "again").symlink_to(folder, target_is_directory=True)
    first = ingest(folder, root / "store")
    write_bad_files(folder, sample_data)
    noise = random.Random(3)
    (folder / "with spaces.txt").write_bytes(bytes(noise.randrange(256) for _ in range(3000)))
    second = ingest(folder, root / "store")
    yield folder, root / "store", first, second
    (folder / "locked.md").chmod(0o644)


def stored_texts(store: Path, collection_state) -> dict[str, str]:
    """Each stored document's chunk texts, joined, by source."""
    with open_store(str(store)) as opened:
        points = collection_state(opened, COLLECTION).points.values()
    texts: dict[str, str] = {}
    for payload in sorted((point.payload for point in points), key=lambda payload: payload["chunk_index"]):
        texts[payload["source"]] = texts.get(payload["source"], "") + payload["text"]
    return texts


def test_the_first_run_walks_the_link_loop_once_and_indexes_every_file(bad_run):
    _, _, first, _ = bad_run
    assert first.returncode == 0, first.stderr
    documents = json.loads(first.stdout)["documents"]
    assert (documents["seen"], documents["indexed"], documents["failed"]) == (len(GOOD), len(GOOD), 0)


def test_each_bad_file_gets_one_error_with_its_stage_and_the_run_exits_2(bad_run):
    folder, _, _, second = bad_run
    assert second.returncode == 2, second.stderr
    report = json.loads(second.stdout)
    errors = {Path(error["source"]).name: error for error in report["errors"]}
    expected = {**BAD, "with spaces.txt": ("parse", "encoding")}
    assert errors.keys() == expected.keys()
    for name, (stage, words) in expected.items():
        assert errors[name]["stage"] == stage, errors[name]
        assert words in errors[name]["error"], errors[name]
        assert errors[name]["source"] == str(folder / name)
    assert report["documents"]["seen"] == len(GOOD) + len(BAD)
    assert report["documents"]["unchanged"] == len(GOOD) - 1


def test_good_files_stay_indexed_under_their_exact_names_and_text(bad_run, collection_state):
    folder, store, _, _ = bad_run
    texts = stored_texts(store, collection_state)
    assert texts.keys() == {str(folder / name) for name in GOOD}
    assert "naïve café, déjà vu" in texts[str(folder / "latin1.txt")]
    assert "newline character" in texts[str(folder / "line\nbreak.md")]


def test_a_good_file_turned_bad_keeps_its_indexed_version(bad_run, collection_state):
    folder, store, _, _ = bad_run
    assert "Spaces in file names" in stored_texts(store, collection_state)[str(folder / "with spaces.txt")]


def test_the_terminal_report_shows_odd_names_escaped(bad_run, tmp_path):
    folder, *_ = bad_run
    result = ingest(folder, tmp_path / "store", as_json=False)
    assert result.returncode == 2
    assert f"failed {folder}/odd\\nname [draft].pdf [parse]: no text could be extracted" in result.stderr
    assert f"failed {folder}/truncated.pdf [parse]: no text could be extracted" in result.stderr
    assert result.stderr.count("failed ") == len(BAD) + 1


DAMAGES = {  # a file of the segment holding the points, cut short as a full disk or a broken copy does
    "vectors": ("vector_storage-dense/vectors/chunk_0.mmap", 3000),  # one vector of 384 floats is left
    "payloads": ("payload_storage/page_0.dat", 200),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_is_one_error_to_query_and_ingest_and_verify_lists_it(bad_run, tmp_path, damage):
    folder, store, _, second = bad_run
    damaged = tmp_path / "store"
    shutil.copytree(store, damaged)
    name, kept = DAMAGES[damage]
    targets = list(damaged.glob(f"collections/{COLLECTION}/shard/segments/*/{name}"))
    assert targets
    for target in targets:
        with open(target, "r+b") as file:
            file.truncate(kept)

    ran = {
        "query": cli("query", "Who reads Japanese?", "--store", str(damaged), "--collection", COLLECTION),
        "ingest": ingest(folder, damaged),
        "verify": cli("verify", "--store", str(damaged), "--collection", COLLECTION),
    }

    for command, result in ran.items():
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
    for command in ("query", "ingest"):
        assert f"collection '{COLLECTION}' in {damaged}" in ran[command].stderr, ran[command].stderr
        assert "chunkwise verify" in ran[command].stderr
    assert ran["ingest"].stdout == ""  # no report calling the documents unchanged
    assert "damaged:" in ran["verify"].stdout

    shutil.rmtree(damaged / "collections" / COLLECTION)  # what the error advises, short of a backup
    rebuilt = ingest(folder, damaged)
    assert rebuilt.returncode == 2, rebuilt.stderr  # the bad files of the folder fail again
    before = json.loads(second.stdout)["documents"]
    assert json.loads(rebuilt.stdout)["documents"]["indexed"] == before["indexed"] + before["unchanged"]


def test_a_document_that_parses_too_long_is_stopped_and_the_others_are_indexed(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    words = ["alpha", "beta", "gamma", "delta", "package", "mirror", "release", "kernel", "module", "option"]
    rng = random.Random(1)
    lines = (" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) + "." for _ in range(40_000))
    (folder / "a-huge.txt").write_text("\n".join(lines))  # minutes for unstructured: a line at a time
    for name, text in GOOD.items():
        (folder / name).write_bytes(text.encode("latin-1" if name == "latin1.txt" else "utf-8"))

    result = cli("ingest", str(folder), "--store", str(tmp_path / "store"), "--collection", COLLECTION,
                 "--json", "--max-seconds-per-document", "5")  # fmt: skip

    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert [(Path(e["source"]).name, e["stage"]) for e in report["errors"]] == [("a-huge.txt", "parse")]
    assert "parsing took longer than 5 s" in report["errors"][0]["error"]
    assert report["documents"]["indexed"] == len(GOOD)
