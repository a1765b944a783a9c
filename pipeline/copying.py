"""``copy_collection``: move a collection between stores with its vectors, never re-embedding."""

from __future__ import annotations

from collections.abc import Callable

from chunkwise.pipeline.errors import ConfigurationError, StoreError
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.protocols import VectorStore


def copy_collection(
    source: VectorStore,
    target: VectorStore,
    collection: str,
    *,
    target_collection: str | None = None,
    replace: bool = False,
    batch_points: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Copy every point of ``collection`` (ids, dense and sparse vectors, payloads) into ``target``.

    The copy gets the source's fingerprint, so it is searched and updated exactly like the
    original. A target collection that already holds points is refused unless ``replace``
    (it is dropped first). ``progress(copied, total)`` is called after each batch. Returns
    the number of points copied.

    Example::

        copy_collection(QdrantEdgeStore(".chunkwise/qdrant"),
                        QdrantServerStore("http://qdrant:6333"), "docs")
    """
    name = target_collection or collection
    fingerprint = source.fingerprint(collection)
    if fingerprint is None:
        raise StoreError(
            f"collection {collection!r} does not exist in the source store (or is not chunkwise's)"
        )
    if target.fingerprint(name) is not None:
        if replace:
            target.drop_collection(name)
        elif target.count(name) > 0:
            raise ConfigurationError(
                f"collection {name!r} already exists in the target store and holds points; "
                "copy to another name, or replace it (`--replace`)"
            )
    target.ensure_collection(name, fingerprint)
    total, copied = source.count(collection), 0
    batch: list[Point] = []
    for point in source.points(collection, with_vectors=True):
        batch.append(point)
        if len(batch) >= batch_points:
            copied += _write(target, name, batch, total, copied, progress)
            batch = []
    copied += _write(target, name, batch, total, copied, progress)
    return copied


def _write(
    target: VectorStore,
    collection: str,
    batch: list[Point],
    total: int,
    copied: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    if batch:
        target.write_points(collection, batch)
        if progress is not None:
            progress(copied + len(batch), total)
    return len(batch)
