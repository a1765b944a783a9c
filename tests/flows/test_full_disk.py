"""A store on a disk that fills up, on a real small tmpfs: ``ingest`` stops with one clear error before
writing, what was stored stays whole and searchable, ``query`` on a disk too full to open the
collection says so, and the first run after space is freed completes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chunkwise

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
MIB = 2**20


@pytest.fixture
def small_disk(tmp_path: Path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:  # not root, or no mount namespace: the injected readings still run
        pytest.skip(f"this machine does not let the suite mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Take the disk's free space down to about ``leave`` bytes with a filler file."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    room = shutil.disk_usage(disk).free - leave
    with open(filler, "wb") as file:
        os.posix_fallocate(file.fileno(), 0, room)


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHUNKWISE, *arguments], capture_output=True, text=True, timeout=600)


def test_a_full_disk_stops_ingest_with_one_error_and_the_store_stays_whole(small_disk, tmp_path, sample_data):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(sample_data / "git-bisect.txt", docs)
    store = str(small_disk / "store")
    assert chunkwise.ingest(docs, store=store, collection="docs").indexed == 1

    fill(small_disk, leave=64 * MIB)  # under the room a write keeps free, over what opening needs
    shutil.copy(sample_data / "nodejs-path.md", docs)
    refused = cli("ingest", str(docs), "--store", store, "--collection", "docs", "--json")
    assert refused.returncode == 1, refused.stderr
    assert "not enough free disk space" in refused.stderr and "Traceback" not in refused.stderr
    [passage] = chunkwise.query("Which exit code skips a commit?", store=store, collection="docs", k=1)
    assert Path(passage.metadata["source"]).name == "git-bisect.txt"  # what was stored is searchable

    fill(small_disk, leave=4 * MIB)
    query = cli("query", "Which exit code skips a commit?", "--store", store, "--collection", "docs")
    assert query.returncode == 1 and "Traceback" not in query.stderr
    assert "not enough free disk space to open collection 'docs'" in query.stderr

    (small_disk / "filler").unlink()
    again = cli("ingest", str(docs), "--store", store, "--collection", "docs", "--json")
    assert again.returncode == 0, again.stderr
    documents = json.loads(again.stdout)["documents"]
    assert (documents["indexed"], documents["unchanged"], documents["failed"]) == (1, 1, 0)
