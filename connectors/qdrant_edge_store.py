"""The embedded default store: Qdrant's own engine in-process (Qdrant Edge), one folder per store."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from chunkwise.connectors.qdrant_common import (
    DENSE,
    INDEXED_FIELDS,
    METADATA_KEY,
    QUANTIZATION_OVERSAMPLING,
    RRF_K,
    SPARSE,
    Quantization,
    check_collection_name,
    check_oversampling,
    check_quantization,
    fusion_weights,
    point_from_record,
    vector_layout,
    vector_lists,
)
from chunkwise.connectors.qdrant_store import QdrantStore, SearchPlan
from chunkwise.pipeline.errors import (
    ConfigurationError,
    StoreError,
    StoreInUseError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.points import Point
from chunkwise.pipeline.types import Fusion

logger = logging.getLogger(__name__)
_Driver = TypeVar("_Driver", bound="EdgeDriver")

LOCK_FILE = ".lock"
COLLECTIONS = "collections"
SHARD = "shard"
SETTINGS_FILE = "collection.json"
MIB = 2**20
WRITE_RESERVE_BYTES = 128 * MIB  # kept free beyond what a write needs (segments, the optimizers)
OPEN_RESERVE_BYTES = 16 * MIB  # what opening a collection needs (its write-ahead log)
VECTOR_SAMPLE = 256  # points whose vectors an ingest reads back before trusting the collection
WRITE_OVERHEAD = 4  # bytes on disk per byte of points: write-ahead log, segment, payload index


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path``, for this user."""
    return shutil.disk_usage(path).free


class _OpenFolder:
    """What every store opened on one folder in this process shares: the lock, the open shards, and
    the collections written since the folder was opened. The last store to close releases it."""

    def __init__(self, key: str, lock: Any) -> None:
        self.key = key
        self.lock = lock
        self.shards: dict[str, Any] = {}
        self.written: set[str] = set()
        self.values: dict[tuple[str, str], list[Any]] = {}  # field value lists, dropped on writes
        self.sampled: set[str] = set()  # collections whose vectors were read back and found whole
        self.loading = threading.Lock()  # one thread loads a shard; the others wait for it
        self.users = 0

    def leave(self) -> bool:
        """One user fewer; ``True`` when it was the last (the folder is then out of the registry)."""
        with _OPEN_FOLDERS_GUARD:
            self.users -= 1
            if self.users:
                return False
            _OPEN_FOLDERS.pop(self.key, None)
            return True

    def release(self) -> None:
        """Close the shards and the lock (after the last user left)."""
        try:
            for shard in self.shards.values():
                shard.close()
        finally:
            self.shards.clear()
            self.written.clear()
            self.values.clear()
            _release_lock(self.lock)


_OPEN_FOLDERS: dict[str, _OpenFolder] = {}
_OPEN_FOLDERS_GUARD = threading.Lock()


def _forget_open_folders() -> None:
    """In a forked child the parent's open stores are not its own: it opens (or is refused) anew."""
    global _OPEN_FOLDERS_GUARD
    _OPEN_FOLDERS.clear()
    _OPEN_FOLDERS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_open_folders)


def _abandoned(shared: _OpenFolder) -> None:
    """A store collected without ``close()``: its share of the folder is given back."""
    if shared.leave():
        try:
            shared.release()
        except Exception as error:  # noqa: BLE001 - a finalizer must not raise; the failure is logged
            logger.warning("releasing the store %s failed: %s", shared.key, error)


class EdgeDriver:
    """The Qdrant Edge driver of :class:`~connectors.qdrant_store.QdrantStore`: shards in a folder, in
    this process, behind a lock file (see :class:`QdrantEdgeStore`)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ".chunkwise/qdrant",
        *,
        batch_size: int = 256,
        scroll_page: int = 4096,
        index_after: int | None = 20_000,
        reserve_bytes: int = WRITE_RESERVE_BYTES,
        quantization: Quantization | None = None,
        oversampling: float = QUANTIZATION_OVERSAMPLING,
    ) -> None:
        if not str(path):
            raise ConfigurationError("the store path is empty")
        check_quantization(quantization)
        check_oversampling(oversampling)
        if batch_size < 1 or scroll_page < 1:
            raise ConfigurationError(
                f"batch_size ({batch_size}) and scroll_page ({scroll_page}) must be >= 1"
            )
        self.path = Path(path)
        self.location = str(path)
        self.batch_size = batch_size
        self.scroll_page = scroll_page
        self.index_after = index_after
        self.reserve_bytes = reserve_bytes
        self.quantization = quantization
        self.oversampling = oversampling
        self._quantized: dict[str, str | None] = {}  # each collection's quantization, as created
        self._open_folder: _OpenFolder | None = None
        self._abandon: weakref.finalize[Any, Any] | None = None

    # -- opening and closing -------------------------------------------------------------

    def open(self: _Driver) -> _Driver:
        """Take the store's lock (done on first use; call it to fail early when the store is busy)."""
        if self._open_folder is not None:
            return self
        _refuse_client_folder(self.path)
        try:
            (self.path / COLLECTIONS).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot open the store {self.path}: {error}") from error
        key = os.path.realpath(self.path)
        with _OPEN_FOLDERS_GUARD:
            shared = _OPEN_FOLDERS.get(key)
            if shared is None:
                shared = _OPEN_FOLDERS[key] = _OpenFolder(key, _take_lock(self.path))
            shared.users += 1
        self._open_folder = shared
        self._abandon = weakref.finalize(self, _abandoned, shared)
        return self

    def close(self) -> None:
        """Release this store; the last store of the folder in this process optimizes the collections
        written to (see ``index_after``), flushes and releases the folder."""
        shared, self._open_folder = self._open_folder, None
        if shared is None:
            return
        if self._abandon is not None:
            self._abandon.detach()
            self._abandon = None
        if not shared.leave():
            return
        try:
            if self.index_after is not None:
                for collection in sorted(shared.written & set(shared.shards)):
                    self._optimize_shard(collection, shared.shards[collection])
        finally:
            shared.release()

    @property
    def _shards(self) -> dict[str, Any]:
        return self.open()._open_folder.shards  # type: ignore[union-attr]

    @property
    def _written(self) -> set[str]:
        return self.open()._open_folder.written  # type: ignore[union-attr]

    def __enter__(self: _Driver) -> _Driver:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _values_cache(self) -> dict[tuple[str, str], list[Any]]:
        return self.open()._open_folder.values  # type: ignore[union-attr]

    @property
    def _models(self) -> ModuleType:
        import qdrant_edge

        return qdrant_edge

    # -- collections -----------------------------------------------------------------------

    def collections(self) -> list[str]:
        self.open()
        root = self.path / COLLECTIONS
        return sorted(entry.name for entry in root.iterdir() if (entry / SETTINGS_FILE).is_file())

    def collection_exists(self, collection: str) -> bool:
        self.open()
        return self._settings_file(collection).is_file()

    def _read_fingerprint(self, collection: str) -> Fingerprint | None:
        if not self.collection_exists(collection):
            folder = self._folder(collection)
            if folder.exists():  # a shard without its file: refuse to call it absent if it holds points
                self._check_unfinished(collection, folder)
            return None
        settings_file = self._settings_file(collection)
        try:
            stored = json.loads(settings_file.read_text(encoding="utf-8")).get(METADATA_KEY)
            return Fingerprint.from_dict(stored) if stored else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise StoreError(
                f"collection {collection!r} in {self.path}: {settings_file} is damaged ({error}); its points "
                "are untouched: restore the file from a backup, or drop the collection and ingest again"
            ) from error

    def _write_fingerprint(self, collection: str, fingerprint: Fingerprint) -> None:
        self._shard(collection)
        self._write_settings(collection, fingerprint)

    def _finish_creation(self, collection: str, fingerprint: Fingerprint) -> bool:
        return False  # a collection exists once its file is written: there is no creation to finish

    def restore_settings(self, collection: str, fingerprint: Fingerprint) -> int:
        """Write a lost or damaged ``collection.json`` again, for a collection whose points were all
        built with ``fingerprint`` (each payload carries its digest); returns the points checked.

        Raises :class:`StoreError` when the file is readable, there is no shard or no point, or the
        points were built by another pipeline (other options or model): nothing is written then.
        """
        settings_file = self._settings_file(collection)
        try:
            current = self._read_fingerprint(collection)
        except StoreError:  # a damaged file, or a shard with points and no file: what this is for
            current = None
        if current is not None:
            raise StoreError(f"collection {collection!r} in {self.path} has a readable {settings_file.name}")
        from qdrant_edge import EdgeShard

        shard_folder = self._folder(collection) / SHARD
        if not shard_folder.is_dir():
            raise StoreError(f"there is no collection {collection!r} in {self.path} to restore")
        try:
            self._shards[collection] = EdgeShard.load(str(shard_folder))
        except Exception as error:
            raise StoreError(f"cannot open collection {collection!r} in {self.path}: {error}") from error
        try:
            digests = Counter(
                record.payload.get("fingerprint") for record in self._scroll(collection, ["fingerprint"])
            )
        except StoreError:
            self._shards.pop(collection).close()
            raise
        if set(digests) != {fingerprint.digest}:
            self._shards.pop(collection).close()
            found = ", ".join(f"{digest} ({count:,} points)" for digest, count in digests.most_common(3))
            raise StoreError(
                f"collection {collection!r} in {self.path} was not built with these options: its points "
                f"carry {found or 'no points'}, these options give {fingerprint.digest}. Pass the model "
                "and options it was built with"
            )
        self._write_settings(collection, fingerprint)
        return digests.total()

    def _drop(self, collection: str) -> None:
        self.open()
        shard = self._shards.pop(collection, None)
        if shard is not None:
            shard.close()
        self._written.discard(collection)
        self._quantized.pop(collection, None)
        folder = self._folder(collection)
        if folder.exists():
            self._settings_file(collection).unlink(missing_ok=True)  # gone at once, even if rmtree fails
            shutil.rmtree(folder)

    def optimize(self, collection: str) -> bool:
        """Index, merge and vacuum segments as the engine plans; ``True`` if it changed any.

        Building the HNSW index of a large collection takes minutes (a million points: an hour).
        Skipped, with a warning, when the disk lacks the room: the points stay whole and searchable.
        """
        changed = self._optimize_shard(collection, self._shard(collection))
        self._written.discard(collection)
        return changed

    def _optimize_shard(self, collection: str, shard: Any) -> bool:
        try:  # rewriting segments can take as much room as the collection holds
            self._check_room(_folder_bytes(self._folder(collection)), f"optimize {collection!r}")
        except StoreError as error:
            logger.warning("%s; the search index is left as it is", error)
            return False
        logger.info("optimizing %s", collection)
        return bool(shard.optimize())

    def indexed_points(self, collection: str) -> tuple[int, int]:
        """How many points the collection holds, and how many of their dense vectors are in HNSW."""
        from qdrant_edge import CountRequest, Filter, HasVectorCondition

        shard = self._shard(collection)
        info = shard.info()
        with_sparse = Filter(must=[HasVectorCondition(SPARSE)])
        sparse = shard.count(
            CountRequest(exact=True, filter=with_sparse)
        )  # the engine counts them as indexed
        return int(info.points_count), int(info.indexed_vectors_count) - int(sparse)

    # -- the driver's reads and writes -----------------------------------------------------

    def _write(self, collection: str, points: Sequence[Point]) -> None:
        for start in range(0, len(points), self.batch_size):
            self._upsert(collection, points[start : start + self.batch_size])

    def _has_id(self, ids: Sequence[str]) -> Any:
        from qdrant_edge import HasIdCondition

        return HasIdCondition(point_ids=set(ids))

    def _facet(self, collection: str, key: str, *, exact: bool) -> list[Any]:
        from qdrant_edge import FacetRequest

        shard = self._shard(collection)
        with self._reading(collection):
            facets = shard.facet(FacetRequest(key=key, limit=2**31 - 1, exact=exact))
        return [hit.value for hit in facets.hits if hit.count > 0]  # deleted values linger with count 0

    def _query(self, collection: str, plan: SearchPlan) -> list[Any]:
        from qdrant_edge import Prefetch, Query, QueryRequest, SearchParams

        queries = _queries(plan)
        params = self._search_params(collection, SearchParams, exact=plan.exact)
        returned: dict[str, Any] = {
            "with_payload": True,
            "with_vector": [DENSE] if plan.with_vectors else False,
            "score_threshold": plan.score_threshold,
        }
        if plan.multivector is not None:  # MaxSim over all, or over the others' candidates
            maxsim = Query.Nearest(plan.multivector, using=plan.multivector_name)
            request = QueryRequest(
                limit=plan.limit,
                prefetches=[
                    Prefetch(limit=plan.prefetch, query=q, filter=plan.filter, params=params) for q in queries
                ]
                or None,
                query=maxsim,
                filter=plan.filter,
                params=params,
                **returned,
            )
        elif plan.fusion is None:
            request = QueryRequest(
                limit=plan.limit, query=queries[0], filter=plan.filter, params=params, **returned
            )
        else:
            request = QueryRequest(
                limit=plan.limit,
                prefetches=[
                    Prefetch(limit=plan.prefetch, query=q, filter=plan.filter, params=params) for q in queries
                ],
                query=_fusion(plan.fusion, len(plan.dense_names), plan.sparse is not None),
                **returned,
            )
        shard = self._shard(collection)
        with self._reading(collection):
            return list(shard.query(request))

    def _query_groups(self, collection: str, plan: SearchPlan, group_by: str) -> list[Any] | None:
        return None  # Qdrant Edge has no grouped query: the store ranks documents from chunk rankings

    def _count(self, collection: str, query_filter: Any) -> int:
        from qdrant_edge import CountRequest

        shard = self._shard(collection)
        with self._reading(collection):
            return int(shard.count(CountRequest(exact=True, filter=query_filter)))

    # -- internals -------------------------------------------------------------------------

    def _folder(self, collection: str) -> Path:
        return self.path / COLLECTIONS / check_collection_name(collection)

    def _settings_file(self, collection: str) -> Path:
        return self._folder(collection) / SETTINGS_FILE

    def _shard(self, collection: str) -> Any:
        shard = self._shards.get(collection)
        if shard is not None:
            return shard
        with self._open_folder.loading:  # type: ignore[union-attr] # opened by _shards
            return self._shards.get(collection) or self._load_shard(collection)

    def quantization_of(self, collection: str) -> str | None:
        """The quantization ``collection`` was created with (``None``: none), read from its shard's
        configuration.

        Example::

            store.quantization_of("docs")   # "scalar"
        """
        if collection not in self._quantized:
            config_file = self._folder(collection) / SHARD / "edge_config.json"
            try:
                vectors = json.loads(config_file.read_text(encoding="utf-8"))["vectors"][DENSE]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise StoreError(
                    f"cannot read how collection {collection!r} stores its vectors: {error}"
                ) from error
            found = next(iter(vectors.get("quantization_config") or {}), None)
            if self.quantization is not None and found != self.quantization:
                logger.warning(
                    "collection %s was created with quantization %s: it keeps it (the store's %s applies to "
                    "new collections; copy the collection into a new one to change it)",
                    collection,
                    found or "none",
                    self.quantization,
                )
            self._quantized[collection] = found
        return self._quantized[collection]

    def _search_params(self, collection: str, search_params: Any, *, exact: bool) -> Any:
        """Exact search on the original vectors, or, on a quantized collection, quantized candidates
        rescored on the originals."""
        from qdrant_edge import QuantizationSearchParams

        quantized = self.quantization_of(collection) is not None
        if exact:
            return search_params(
                exact=True, quantization=QuantizationSearchParams(ignore=True) if quantized else None
            )
        if not quantized:
            return None
        rescored = QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
        return search_params(quantization=rescored)

    def _load_shard(self, collection: str) -> Any:
        if not self.collection_exists(collection):
            raise StoreError(f"collection {collection!r} does not exist in {self.path}")
        from qdrant_edge import EdgeShard

        self._check_room(0, f"open collection {collection!r}", reserve=OPEN_RESERVE_BYTES)
        try:
            shard = EdgeShard.load(str(self._folder(collection) / SHARD))
        except Exception as error:
            raise StoreError(f"cannot open collection {collection!r} in {self.path}: {error}") from error
        self._shards[collection] = shard
        return shard

    def _create(self, collection: str, fingerprint: Fingerprint) -> None:
        from qdrant_edge import EdgeShard, PayloadSchemaType, UpdateOperation

        folder = self._folder(collection)
        if folder.exists():  # left by a creation that did not finish, or a collection that lost its file
            self._check_unfinished(collection, folder)
            shutil.rmtree(folder)
        self._check_room(MIB, f"create collection {collection!r}")
        config = _edge_config(
            fingerprint.dimension,
            self.index_after,
            self.quantization,
            idf=fingerprint.sparse_idf,
            named=fingerprint.vectors,
        )
        shard = EdgeShard.create(str(folder / SHARD), config)
        for field in INDEXED_FIELDS:
            shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
        self._shards[collection] = shard
        self._quantized[collection] = self.quantization
        self._write_settings(collection, fingerprint)  # last: the collection exists once this is written
        logger.info("created collection %s for %s", collection, fingerprint.model)

    def _check_unfinished(self, collection: str, folder: Path) -> None:
        """Refuse to replace a collection folder whose shard holds points: only its file is missing."""
        from qdrant_edge import CountRequest, EdgeShard

        try:
            shard = EdgeShard.load(str(folder / SHARD))
        except Exception:  # noqa: BLE001 - no loadable shard: an unfinished creation, safe to replace
            return
        try:
            points = shard.count(CountRequest(exact=True))
        finally:
            shard.close()
        if points:
            raise StoreError(
                f"collection {collection!r} in {self.path} holds {points} points but has no "
                f"{SETTINGS_FILE}: it was not recreated over them. Restore the file from a backup, or "
                f"remove {folder} to start the collection again"
            )

    def _write_settings(self, collection: str, fingerprint: Fingerprint) -> None:
        target = self._settings_file(collection)
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps({METADATA_KEY: fingerprint.to_dict()}, indent=2), encoding="utf-8")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)

    def _upsert(self, collection: str, points: Sequence[Point]) -> None:
        from qdrant_edge import UpdateOperation

        self._check_room(WRITE_OVERHEAD * _points_bytes(points), f"write to {collection!r}")
        self._update(collection, UpdateOperation.upsert_points([_edge_point(p) for p in points]))

    def _delete(self, collection: str, selector: Any) -> None:
        from qdrant_edge import UpdateOperation

        self._check_room(MIB, f"delete from {collection!r}")
        self._update(collection, UpdateOperation.delete_points_by_filter(selector))

    def _set_payload(
        self, collection: str, selector: Any, payload: Mapping[str, Any], key: str | None
    ) -> None:
        from qdrant_edge import UpdateOperation

        self._check_room(MIB, f"update payloads in {collection!r}")
        self._update(collection, UpdateOperation.set_payload_by_filter(selector, dict(payload), key))

    def _check_room(self, needed: int, doing: str, *, reserve: int | None = None) -> None:
        """Refuse to ``doing`` when the store's disk has less than ``needed`` plus the reserve free."""
        reserve = self.reserve_bytes if reserve is None else reserve
        try:
            free = free_disk_bytes(self.path)
        except OSError:
            return  # the write itself will say what is wrong with the folder
        if free < needed + reserve:
            raise StoreError(
                f"not enough free disk space to {doing} in {self.path}: {free / MIB:,.0f} MiB free, about "
                f"{(needed + reserve) / MIB:,.0f} MiB needed ({reserve / MIB:,.0f} MiB of it kept free). "
                "Nothing was written and the store is whole: free some space and run again"
            )

    def _check_readable(self, collection: str, size: int = VECTOR_SAMPLE) -> None:
        """Refuse a collection whose sampled points come back without a vector (their order is by
        id, so the sample is spread over the files)."""
        from qdrant_edge import ScrollRequest

        shard, sampled = self._shard(collection), self._open_folder.sampled  # type: ignore[union-attr]
        if collection in sampled:
            return
        with self._reading(collection):
            records, _ = shard.scroll(ScrollRequest(limit=size, with_payload=False, with_vector=[DENSE]))
        lost = sum(1 for record in records if not np.any(point_from_record(record).vector))
        if not lost:
            sampled.add(collection)
        else:
            raise StoreError(
                f"collection {collection!r} in {self.path} is damaged: {lost} of {len(records)} points "
                f"read back without their vector. `chunkwise verify --store {self.path} --collection "
                f"{collection}` lists the damage; restore the store from a backup, or remove "
                f"{self._folder(collection)} and ingest again"
            )

    @contextmanager
    def _reading(self, collection: str) -> Iterator[None]:
        """The engine's errors while reading, as a StoreError that says where and what to do."""
        try:
            yield
        except Exception as error:
            raise StoreError(
                f"reading collection {collection!r} in {self.path} failed: {error}. If its files were "
                f"damaged, `chunkwise verify --store {self.path} --collection {collection}` lists what"
            ) from error

    def _update(self, collection: str, operation: Any) -> None:
        try:
            self._shard(collection).update(operation)
        except StoreError:
            raise
        except Exception as error:
            raise StoreError(f"writing to {collection!r} in {self.path} failed: {error}") from error
        self._written.add(collection)

    def _scroll(
        self, collection: str, with_payload: Any, *, with_vectors: bool = False, query_filter: Any = None
    ) -> Iterator[Any]:
        from qdrant_edge import ScrollRequest

        shard, offset = self._shard(collection), None
        while True:
            request = ScrollRequest(
                offset=offset,
                limit=self.scroll_page,
                filter=query_filter,
                with_payload=with_payload,
                with_vector=with_vectors,
            )
            with self._reading(collection):
                records, offset = shard.scroll(request)
            yield from records
            if offset is None:
                return


class QdrantEdgeStore(EdgeDriver, QdrantStore):
    """Chunk vectors in a folder, served by Qdrant's own engine running in this process.

    Each collection is a Qdrant Edge shard (HNSW index, payload indexes on ``document_id`` and
    ``source``, a ``sparse`` vector with IDF next to the ``dense`` one) under
    ``PATH/collections/NAME/``, beside a ``collection.json`` that holds its fingerprint. One
    process opens a store at a time (a lock file guards it): a second gets
    :class:`~pipeline.errors.StoreInUseError`, which names the process holding it; several writers
    need a Qdrant server. Within one process, every store opened on the same folder shares one open
    store (a notebook re-running a cell, two retrievers side by side); the last to close releases it.

    Writes go in batches of ``batch_size`` points and are in the write-ahead log when the call
    returns (a killed process loses none of them); reads go in pages of ``scroll_page``. Before
    each write the free space of the store's disk is checked against what the write needs plus
    ``reserve_bytes`` (and before opening a collection against a smaller reserve): on a disk too
    full the store raises :class:`~pipeline.errors.StoreError` and writes nothing, so what it
    holds stays whole, where writing on would crash the engine mid-write.
    Closing a store that wrote runs the engine's optimizers: segments of ``index_after`` points
    or more get an HNSW index (below that, exact search is as fast), deleted points are
    vacuumed. ``index_after=None`` leaves that to :meth:`optimize` and the engine's defaults.
    ``quantization`` (``"scalar"``: int8, 4x less memory for vectors; ``"binary"``: 32x) gives the
    collections this store creates a quantized copy of their vectors, kept in memory, that searches
    scan first; the best candidates (``oversampling`` times ``k``, 2 by default) are then rescored
    on the original vectors. A collection keeps the quantization it was created with; the
    oversampling is the searching store's (binary collections of small vectors want more: see
    ``benchmarks/RESULTS.md``, "Quantized collections").

    Example::

        with QdrantEdgeStore(".chunkwise/qdrant") as store:
            store.ensure_collection("docs", fingerprint)
            store.replace_document("docs", document_id, points)
            hits = store.search("docs", query_vector, k=5, filters={"source": "/docs/faq.md"})
    """


def _edge_config(
    dimension: int,
    index_after: int | None,
    quantization: Quantization | None = None,
    *,
    idf: bool = True,
    named: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """A dense and a sparse vector, plus the ``named`` vectors of a fingerprint; segments of
    ``index_after`` points or more get an HNSW index; the dense vectors quantized as ``quantization``
    says (kept in memory), the originals on disk; the sparse vectors scored with IDF when ``idf``
    (BM25 terms; learned weights are not). A named multivector is compared by MaxSim."""
    from qdrant_edge import (
        BinaryQuantizationConfig,
        Distance,
        EdgeConfig,
        EdgeOptimizersConfig,
        EdgeSparseVectorParams,
        EdgeVectorParams,
        Modifier,
        MultiVectorComparator,
        MultiVectorConfig,
        ScalarQuantizationConfig,
        ScalarType,
    )

    quantized: Any = None
    if quantization == "scalar":
        quantized = ScalarQuantizationConfig(type=ScalarType.Int8, quantile=0.99, always_ram=True)
    elif quantization == "binary":
        quantized = BinaryQuantizationConfig(always_ram=True)

    optimizers = None
    if index_after is not None:  # the engine counts its threshold in kilobytes of vectors
        optimizers = EdgeOptimizersConfig(indexing_threshold=max(1, index_after * dimension * 4 // 1024))

    def params(size: int, multivector: bool = False) -> Any:
        return EdgeVectorParams(
            size=size,
            distance=Distance.Cosine,
            quantization_config=quantized,
            on_disk=True if quantized is not None else None,  # RAM holds the quantized copy
            multivector_config=MultiVectorConfig(MultiVectorComparator.MaxSim) if multivector else None,
        )

    layout = vector_layout(dimension, named or {})
    return EdgeConfig(
        vectors={name: params(size, multivector) for name, (size, multivector) in layout.items()},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf if idf else None)},
        optimizers=optimizers,
    )


def _queries(plan: SearchPlan) -> list[Any]:
    """The plan's dense queries (one per vector it uses), then its sparse one."""
    from qdrant_edge import Query
    from qdrant_edge import SparseVector as EdgeSparse

    dense = plan.dense or []
    queries = [Query.Nearest(dense, using=name) for name in plan.dense_names]
    if plan.sparse is not None:
        queries.append(
            Query.Nearest(EdgeSparse(list(plan.sparse.indices), list(plan.sparse.values)), using=SPARSE)
        )
    return queries


def _edge_point(point: Point) -> Any:
    from qdrant_edge import Point as EdgePoint
    from qdrant_edge import SparseVector as EdgeSparse

    vectors: dict[str, Any] = vector_lists(point)
    if point.sparse is not None and point.sparse.indices:
        vectors[SPARSE] = EdgeSparse(list(point.sparse.indices), list(point.sparse.values))
    return EdgePoint(point.id, vectors, point.payload)


def _points_bytes(points: Sequence[Point]) -> int:
    """About what ``points`` take in memory as written: vectors, term weights and payload."""
    total = 0
    for point in points:
        sparse = len(point.sparse.indices) if point.sparse is not None else 0
        dense = sum(np.asarray(vector).size for vector in (point.vector, *point.named.values()))
        total += 4 * dense + 8 * sparse + len(json.dumps(point.payload))
    return total


def _folder_bytes(folder: Path) -> int:
    """The disk space the files under ``folder`` take (the engine's files are preallocated: their
    sizes say far more)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += 512 * os.stat(os.path.join(root, name), follow_symlinks=False).st_blocks
            except OSError:
                continue
    return total


def _take_lock(path: Path) -> Any:
    """The store's lock file, locked, with this process's id in it (named to a second process)."""
    try:
        lock = open(path / LOCK_FILE, "a+")  # noqa: SIM115 - held until the folder is released
    except OSError as error:
        raise StoreError(f"cannot open the store {path}: {error}") from error
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = _holder(lock.read().strip())
        lock.close()
        raise StoreInUseError(
            f"the store {path} is in use by another process{holder} (an embedded store has one "
            "process at a time): wait for it to finish, or use a Qdrant server URL"
        ) from None
    try:
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
    except OSError:
        pass  # a store on a full or read-only disk still opens; the holder is just not named
    return lock


def _release_lock(lock: Any) -> None:
    try:
        lock.truncate(0)
    except OSError:
        pass
    finally:
        lock.close()


def _holder(pid: str) -> str:
    """`` (process 123: chunkwise ingest docs)`` for the id in a lock file, ``""`` if unknown."""
    if not pid.isdigit():
        return ""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f" (process {pid})"
    words = command.split()
    if len(words) > 1 and Path(words[0]).name.startswith("python"):
        words = words[1:]  # "python -m chunkwise ..." or "python script.py": the part that says what
    shown = " ".join([Path(words[0]).name, *words[1:]])[:120] if words else ""
    return f" (process {pid}: {shown})" if shown else f" (process {pid})"


def _refuse_client_folder(path: Path) -> None:
    """A folder written by qdrant-client's local mode is not an Edge store: say how to open or move it."""
    if (path / "meta.json").is_file() and (path / "collection").is_dir():
        raise ConfigurationError(
            f"{path} holds a qdrant-client local store, not an embedded Qdrant Edge store: open it as "
            f"'local:{path}', or move it with `chunkwise copy local:{path} NEW_FOLDER`"
        )


def _fusion(fusion: Fusion, dense_queries: int, sparse: bool) -> Any:
    """Qdrant Edge's fusion query for ``fusion`` (the dense rankings first, the sparse one last)."""
    from qdrant_edge import Fusion as EdgeFusion

    if fusion.method == "dbsf":
        return EdgeFusion.Dbsf()
    return EdgeFusion.Rrf(k=RRF_K, weights=fusion_weights(fusion, dense_queries, sparse))
