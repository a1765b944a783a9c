"""Run ``chunkwise`` and kill it with SIGKILL at a chosen call, as a crash would.

``CHUNKWISE_KILL_AT=<method>:<n>:<before|after>`` kills the process before or after the n-th call
of a store write: ``upsert``, ``delete``, ``create_collection`` or ``update_collection`` (the
``QdrantClient`` methods of that name, or the embedded store's ``_upsert``, ``_delete``,
``_create`` and ``set_fingerprint``). ``CHUNKWISE_BATCH`` sets the store's points per upsert,
so one document takes several writes.

Usage: python crashing_cli.py ingest FOLDER --store STORE ...
"""

from __future__ import annotations

import os
import signal
import sys

from qdrant_client import QdrantClient

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.flows import api, cli

EDGE_METHODS = {
    "upsert": "_upsert",
    "delete": "_delete",
    "create_collection": "_create",
    "update_collection": "set_fingerprint",
}


def kill_at(method: str, nth: int, when: str) -> None:
    kill_at_call(QdrantClient, method, nth, when)
    kill_at_call(QdrantEdgeStore, EDGE_METHODS[method], nth, when)


def kill_at_call(owner: type, method: str, nth: int, when: str) -> None:
    real = getattr(owner, method)
    calls = 0

    def wrapper(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(self, *args, **kwargs)
        if calls == nth and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, method, wrapper)


def small_batches(points: int) -> None:
    real = api.build_store

    def build_store(*args, **kwargs):
        store = real(*args, **kwargs)
        store.batch_size = points
        return store

    api.build_store = build_store  # the store every command opens


if __name__ == "__main__":
    if "CHUNKWISE_KILL_AT" in os.environ:
        method, nth, when = os.environ["CHUNKWISE_KILL_AT"].split(":")
        kill_at(method, int(nth), when)
    if "CHUNKWISE_BATCH" in os.environ:
        small_batches(int(os.environ["CHUNKWISE_BATCH"]))
    sys.argv[0] = "chunkwise"
    cli.main()
