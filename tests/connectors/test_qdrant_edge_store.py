"""What only the embedded Qdrant Edge store does: its folder layout, index building, foreign folders."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.stores import open_store
from chunkwise.pipeline.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    StoreError,
    StoreInUseError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import SparseVector

FINGERPRINT = Fingerprint(
    model="sentence-transformers/all-MiniLM-L6-v2", dimension=16, chunking={"chunk_size": 64}
)


def points(count: int, seed: int = 0) -> list[Point]:
    vectors = np.random.default_rng(seed).standard_normal((count, 16)).astype(np.float32)
    return [
        Point(
            id=f"00000000-0000-0000-0000-{i:012d}",
            vector=v,
            payload={"document_id": f"d{i // 10}", "source": "/s"},
        )
        for i, v in enumerate(vectors)
    ]


def test_open_store_picks_the_backend_from_the_location(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "store")), QdrantEdgeStore)
    assert isinstance(open_store(":memory:"), QdrantServerStore)
    local = open_store(f"local:{tmp_path / 'local'}")
    assert isinstance(local, QdrantServerStore) and local.location == str(tmp_path / "local")
    server = open_store("https://qdrant.example:6333", api_key="secret")
    assert isinstance(server, QdrantServerStore) and server.is_server and server.api_key == "secret"


def test_a_qdrant_client_local_folder_is_refused_with_the_way_to_open_or_move_it(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    with QdrantServerStore(str(folder)) as old:
        old.ensure_collection("docs", FINGERPRINT)

    with pytest.raises(ConfigurationError) as excinfo:
        QdrantEdgeStore(folder).collections()

    assert f"local:{folder}" in str(excinfo.value) and "chunkwise copy" in str(excinfo.value)


def test_a_folder_without_chunkwise_settings_is_not_taken_for_a_collection(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        settings = tmp_path / "store" / "collections" / "docs" / "collection.json"
        settings.write_text(json.dumps({"other": "tool"}))

        assert store.fingerprint("docs") is None
        with pytest.raises(FingerprintMismatchError, match="not built by chunkwise"):
            store.ensure_collection("docs", FINGERPRINT)


def test_a_creation_cut_short_is_redone(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)  # the shard is made first, the file last
    (tmp_path / "store" / "collections" / "docs" / "collection.json").unlink()  # as if killed before it

    with QdrantEdgeStore(tmp_path / "store") as store:
        assert not store.collection_exists("docs")
        store.ensure_collection("docs", FINGERPRINT)
        assert store.count("docs") == 0 and store.fingerprint("docs") == FINGERPRINT


def test_operations_on_a_missing_collection_raise_store_error(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store, pytest.raises(StoreError, match="does not exist"):
        store.count("missing")


def test_a_store_path_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")

    with pytest.raises(StoreError, match="cannot open"):
        QdrantEdgeStore(tmp_path / "file").collections()


@pytest.mark.parametrize("with_sparse", [False, True], ids=["dense", "dense+sparse"])
def test_closing_builds_the_search_index_once_a_segment_is_big_enough(
    tmp_path: Path, with_sparse: bool
) -> None:
    many = points(3_000)
    if with_sparse:
        many = [replace(p, sparse=SparseVector(indices=(i % 50,), values=(1.0,))) for i, p in enumerate(many)]
    with QdrantEdgeStore(tmp_path / "few", index_after=None) as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", many)
    with QdrantEdgeStore(tmp_path / "many", index_after=1_000) as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", many)
        assert store.indexed_points("docs") == (3_000, 0)

    with QdrantEdgeStore(tmp_path / "few") as unindexed, QdrantEdgeStore(tmp_path / "many") as indexed:
        assert unindexed.indexed_points("docs") == (3_000, 0)
        assert indexed.indexed_points("docs") == (3_000, 3_000)
        query = many[1234].vector
        assert (
            indexed.search("docs", query, k=1)[0].id
            == unindexed.search("docs", query, k=1)[0].id
            == many[1234].id
        )


def test_closing_a_store_that_only_read_changes_nothing(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store", index_after=1_000) as store:
        store.ensure_collection("docs", FINGERPRINT)
    optimized: list[str] = []
    with QdrantEdgeStore(tmp_path / "store", index_after=1_000) as store:
        store.optimize = optimized.append  # type: ignore[method-assign]
        store.search("docs", points(1)[0].vector, k=3)
    assert optimized == []


def test_a_collection_that_lost_its_settings_file_is_never_recreated_over_its_points(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", points(5))
        settings = tmp_path / "store" / "collections" / "docs" / "collection.json"
    saved = settings.read_bytes()
    settings.unlink()
    with QdrantEdgeStore(tmp_path / "store") as store:
        for look in (store.fingerprint, lambda name: store.ensure_collection(name, FINGERPRINT)):
            with pytest.raises(StoreError, match=r"holds 5 points but has no collection\.json"):
                look("docs")
    settings.write_bytes(saved)  # restored: every point is still there
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert store.count("docs") == 5


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"chunkwise": {"model": 3}}'])
def test_a_damaged_settings_file_is_a_store_error_that_names_it(tmp_path: Path, damage: bytes) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", points(3))
    settings = tmp_path / "store" / "collections" / "docs" / "collection.json"
    settings.write_bytes(damage)
    with QdrantEdgeStore(tmp_path / "store") as store:
        with pytest.raises(StoreError, match=r"collection\.json is damaged"):
            store.fingerprint("docs")
        with pytest.raises(StoreError, match=r"collection\.json is damaged"):
            store.ensure_collection("docs", FINGERPRINT)


def test_every_store_of_a_folder_in_one_process_shares_it_until_the_last_one_closes(
    tmp_path: Path, store_lock_is_free
) -> None:
    folder = tmp_path / "store"
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    first = QdrantEdgeStore(folder).open()
    first.ensure_collection("docs", FINGERPRINT)
    first.write_points("docs", points(30))
    with QdrantEdgeStore(tmp_path / "link") as second:  # the same folder, named another way
        assert second.count("docs") == 30
        second.delete_document("docs", "d0")
    assert first.count("docs") == 20  # the second store's close left the first one open
    assert not store_lock_is_free(folder)
    first.close()
    assert store_lock_is_free(folder)
    with QdrantEdgeStore(folder) as reopened:
        assert reopened.count("docs") == 20


HOLDER = """
import sys
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore

store = QdrantEdgeStore(sys.argv[1]).open()
print("holding", flush=True)
sys.stdin.read()
"""


def test_a_store_held_by_another_process_is_refused_with_that_process_named(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreInUseError, match=rf"in use by another process \(process {holder.pid}: "):
            QdrantEdgeStore(folder).open()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    with QdrantEdgeStore(folder) as store:  # the holder exited: its lock went with it
        assert store.collections() == []


def test_a_write_the_disk_has_no_room_for_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chunkwise.connectors import qdrant_edge_store

    def free_space(free: int) -> None:
        monkeypatch.setattr(qdrant_edge_store, "free_disk_bytes", lambda path: free)

    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", points(20))
        more = [replace(point, id=f"10000000-0000-0000-0000-{i:012d}") for i, point in enumerate(points(20))]
        free_space(qdrant_edge_store.WRITE_RESERVE_BYTES + 1000)  # the reserve, and too little for 20 points
        with pytest.raises(StoreError, match=r"not enough free disk space to write to 'docs' .* MiB free"):
            store.write_points("docs", more)
        with pytest.raises(StoreError, match="not enough free disk space to delete from 'docs'"):
            store.delete_document("docs", "d0")
        assert store.count("docs") == 20
        free_space(qdrant_edge_store.WRITE_RESERVE_BYTES + 2**20)  # room for them
        store.write_points("docs", more)
        assert store.count("docs") == 40

    free_space(2**20)  # under what opening a collection needs
    with (
        QdrantEdgeStore(tmp_path / "store") as store,
        pytest.raises(StoreError, match="not enough free disk space to open collection 'docs'"),
    ):
        store.count("docs")
    monkeypatch.undo()
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert store.count("docs") == 40


def test_threads_opening_a_collection_at_once_share_one_load(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        store.write_points("docs", points(30))
    stores = [QdrantEdgeStore(tmp_path / "store") for _ in range(4)]
    start, counts, errors = threading.Barrier(len(stores)), [], []

    def first_use(store: QdrantEdgeStore) -> None:
        start.wait()
        try:
            counts.append(store.count("docs"))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == [] and counts == [30] * len(stores)


def test_a_store_dropped_without_closing_gives_its_share_back(tmp_path: Path, store_lock_is_free) -> None:
    store = QdrantEdgeStore(tmp_path / "store")
    assert store.collections() == []
    assert not store_lock_is_free(tmp_path / "store")
    del store
    gc.collect()
    assert store_lock_is_free(tmp_path / "store")


def test_a_forked_child_does_not_take_its_parents_open_store_for_its_own(tmp_path: Path) -> None:
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        child = os.fork()
        if child == 0:  # the child: a store of its own is refused, the parent holds the folder
            try:
                QdrantEdgeStore(tmp_path / "store").open()
            except StoreInUseError:
                os._exit(3)
            except BaseException:  # noqa: BLE001 - anything else: a distinct exit code
                os._exit(4)
            os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 3
        assert store.count("docs") == 0  # the parent's store still works
