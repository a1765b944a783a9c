"""Documents from S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...) through s3fs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES, check_size, wanted
from chunkwise.pipeline.errors import ConfigurationError, SourceError
from chunkwise.pipeline.source import SourceItem

logger = logging.getLogger(__name__)

SCHEME = "s3://"
_CONFIG = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 4, "mode": "standard"}}


class S3Source:
    """Lists the objects under ``s3://bucket/prefix`` locations and reads them, in a stable order.

    Credentials and region come from the usual AWS chain (environment, shared files, instance
    role); ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` point it at an S3-compatible server
    (``endpoint_url`` overrides both). A location ending in ``/`` (or naming no object) is a
    prefix: every object under it whose key, relative to the prefix, matches ``include`` and no
    ``exclude`` glob is listed. Each item's ``version`` is the object's ETag, so an object stored
    from the same ETag is not downloaded again, and its metadata (``bucket``, ``key``, ``etag``,
    ``last_modified``) is stored with its chunks. ``root_of`` covers what a listing reached, so a
    prune deletes only objects gone from a prefix that was listed.

    Example::

        source = S3Source(["s3://team-docs/manuals/"], include=["*.pdf"])
        for item in source.items():
            data = source.read(item)
    """

    def __init__(
        self,
        locations: Iterable[str],
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        endpoint_url: str | None = None,
        filesystem: Any = None,
    ) -> None:
        self.locations = [_parse_location(location) for location in locations]
        if not self.locations:
            raise ConfigurationError("locations is empty: give at least one s3://bucket/prefix")
        if max_bytes <= 0:
            raise ConfigurationError(f"max_bytes ({max_bytes}) must be > 0")
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.max_bytes = max_bytes
        self.endpoint_url = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        self._filesystem = filesystem
        self._roots: list[str] = []  # what the last listing covered: prefixes and single objects

    @property
    def filesystem(self) -> Any:
        """The s3fs file system, made on first use."""
        if self._filesystem is None:
            try:
                import s3fs
            except ImportError as error:
                raise ConfigurationError("reading s3:// needs s3fs: pip install 'chunkwise[s3]'") from error
            self._filesystem = s3fs.S3FileSystem(
                endpoint_url=self.endpoint_url, config_kwargs=_CONFIG, skip_instance_cache=True
            )
        return self._filesystem

    def items(self) -> Iterator[SourceItem]:
        self._roots = []
        seen: set[str] = set()
        for bucket, prefix in self.locations:
            objects, root = self._list(bucket, prefix)
            self._roots.append(root)
            for key, info in objects:
                uri = f"{SCHEME}{bucket}/{key}"
                if uri in seen:
                    continue
                seen.add(uri)
                yield _item(bucket, key, info)

    def read(self, item: SourceItem) -> bytes:
        """The object's bytes, at most ``max_bytes`` of them. Works on a source that never listed."""
        bucket, key = _parse_location(item.uri)
        if item.size is not None:
            check_size(item.size, self.max_bytes)
        try:
            with self.filesystem.open(f"{bucket}/{key}", "rb", block_size=8 * 1024 * 1024) as stream:
                data = stream.read(self.max_bytes + 1)
        except FileNotFoundError as error:
            raise SourceError("the object vanished before it could be read") from error
        except PermissionError as error:
            raise SourceError(f"access to the object was denied: {_reason(error)}") from error
        except Exception as error:
            raise SourceError(f"the object could not be read: {_reason(error)}") from error
        check_size(len(data), self.max_bytes, at_least=True)
        return bytes(data)

    def root_of(self, uri: str) -> str | None:
        """The listed location ``uri`` falls under (the longest), or ``None`` when none was listed."""
        covering = [
            root for root in self._roots if uri == root or (root.endswith("/") and uri.startswith(root))
        ]
        return max(covering, key=len) if covering else None

    def covers(self, uri: str) -> bool:
        return self.root_of(uri) is not None

    def _list(self, bucket: str, prefix: str) -> tuple[list[tuple[str, dict[str, Any]]], str]:
        """The wanted objects under ``prefix`` by key, and the root the listing covers."""
        path = f"{bucket}/{prefix}"
        try:
            found = self.filesystem.find(path, detail=True, withdirs=False)
        except FileNotFoundError as error:
            raise ConfigurationError(f"{SCHEME}{path}: no such bucket") from error
        except PermissionError as error:
            raise ConfigurationError(f"{SCHEME}{path}: access denied ({_reason(error)})") from error
        except Exception as error:
            raise ConfigurationError(f"{SCHEME}{path} could not be listed: {_reason(error)}") from error
        exact = f"{bucket}/{prefix}"
        if prefix and not prefix.endswith("/") and set(found) == {exact}:  # one object, named
            return [(prefix, found[exact])], f"{SCHEME}{exact}"
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        objects = []
        for name, info in sorted(found.items()):
            key = name.split("/", 1)[1] if "/" in name else ""
            if not key.startswith(folder) or key.endswith("/"):
                continue  # "docs" also finds "docs-old/...": only what lies under "docs/"
            if wanted(key[len(folder) :], self.include, self.exclude):
                objects.append((key, info))
        return objects, f"{SCHEME}{bucket}/{folder}"


def _item(bucket: str, key: str, info: dict[str, Any]) -> SourceItem:
    etag = str(info.get("ETag") or info.get("etag") or "")
    modified = info.get("LastModified")
    metadata = {"bucket": bucket, "key": key, "etag": etag.strip('"')}
    if modified is not None:
        metadata["last_modified"] = modified.isoformat() if hasattr(modified, "isoformat") else str(modified)
    size = info.get("size", info.get("Size"))
    return SourceItem(
        uri=f"{SCHEME}{bucket}/{key}",
        name=key.rsplit("/", 1)[-1],
        size=int(size) if size is not None else None,
        version=f"etag:{etag}" if etag else None,
        metadata=metadata,
    )


def _parse_location(location: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix)."""
    if not location.lower().startswith(SCHEME):
        raise ConfigurationError(f"{location!r} is not an s3:// location")
    bucket, _, prefix = location[len(SCHEME) :].partition("/")
    if not bucket:
        raise ConfigurationError(f"{location!r} names no bucket: write s3://bucket/prefix")
    return bucket, prefix


def _reason(error: BaseException) -> str:
    """A one-line reason, without the chained traceback."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
