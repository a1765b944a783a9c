"""``open_store``: the store a location names, embedded Qdrant Edge unless told otherwise."""

from __future__ import annotations

import os
from typing import Any

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.pipeline.errors import StoreError

LOCAL_PREFIX = "local:"

Store = QdrantEdgeStore | QdrantServerStore


def local_folder(location: str) -> str | None:
    """The folder an embedded or local-mode location names (``None`` for a URL or ``:memory:``)."""
    if location.startswith(("http://", "https://")) or location == ":memory:":
        return None
    return location[len(LOCAL_PREFIX) :] if location.startswith(LOCAL_PREFIX) else location


def open_existing_store(location: str, **options: Any) -> Store:
    """The store at ``location`` if there is one: a folder that does not exist is an error, not created.

    For readers (``query``, ``info``, a retriever): looking must never make an empty store.
    """
    folder = local_folder(location)
    if folder is not None and not os.path.isdir(folder):
        raise StoreError(f"there is no store at {folder}: ingest into it first, or check the path")
    return open_store(location, **options)


def open_store(location: str, *, api_key: str | None = None, **options: Any) -> Store:
    """The store at ``location``.

    - a folder: the embedded Qdrant Edge store (the default, one process at a time);
    - ``http://`` or ``https://`` URL: a Qdrant server or cluster (``api_key`` for Qdrant Cloud,
      by default the ``QDRANT_API_KEY`` environment variable);
    - ``:memory:`` or ``local:FOLDER``: qdrant-client's local mode (tests and small trials).

    ``options`` go to the store's constructor.

    Example::

        with open_store(".chunkwise/qdrant") as store:
            print(store.collections())
    """
    if location.startswith(("http://", "https://")):
        api_key = api_key if api_key is not None else os.environ.get("QDRANT_API_KEY") or None
        return QdrantServerStore(location, api_key=api_key, **options)
    if location == ":memory:":
        return QdrantServerStore(location, **options)
    if location.startswith(LOCAL_PREFIX):
        return QdrantServerStore(location[len(LOCAL_PREFIX) :], **options)
    return QdrantEdgeStore(location, **options)
