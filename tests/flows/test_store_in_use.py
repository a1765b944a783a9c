"""Two processes using one embedded store (either backend): the second is refused, nothing is corrupted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chunkwise.connectors.stores import open_store

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
HOLDER = """
import sys
from chunkwise.connectors.stores import open_store

with open_store(sys.argv[1]) as store:
    store.count("docs")
    print("holding", flush=True)
    sys.stdin.read()
"""


def ingest(folder: Path, store: str) -> subprocess.CompletedProcess[str]:
    command = [CHUNKWISE, "ingest", str(folder), "--store", store, "--collection", "docs", "--json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("prefix", ["", "local:"], ids=["edge", "qdrant-client-local"])
def test_a_second_writer_of_an_embedded_store_gets_a_clear_error(tmp_path, collection_state, prefix):
    folder, store = tmp_path / "docs", f"{prefix}{tmp_path / 'store'}"
    folder.mkdir()
    (folder / "a.md").write_text("# Mirrors\n\nDebian is mirrored on hundreds of servers worldwide.\n")
    assert ingest(folder, store).returncode == 0
    with open_store(store) as opened:
        before = collection_state(opened, "docs")
    (folder / "b.md").write_text("# Releases\n\nA stable release is supported for about three years.\n")

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = ingest(folder, store)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)

    assert refused.returncode == 1 and refused.stdout == ""
    assert "is in use by another process" in refused.stderr and "Qdrant server" in refused.stderr
    with open_store(store) as opened:
        collection_state(opened, "docs").assert_same_as(before)
    after = ingest(folder, store)
    documents = json.loads(after.stdout)["documents"]
    assert (after.returncode, documents["indexed"], documents["unchanged"]) == (0, 1, 1)
