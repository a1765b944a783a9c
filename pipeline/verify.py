"""``verify_collection``: read every point of a collection and report what is damaged.

A store's files can be damaged behind its back (a disk error, a file truncated by a full disk or a
copy cut short) while the engine still opens it: reads then fail, or return vectors that are all
zeros. Verification reads every point with its vector and payload and checks:

- the points can be read at all, and as many as the collection counts;
- every vector has the collection's dimension, finite values and a length above zero, and so has
  each of its named vectors (a multivector: each of its rows);
- every payload has the keys chunkwise writes, and its text is as long as its span;
- every version of a document has each of its chunks exactly once;
- a sample of points, searched exactly by their own vectors, find themselves.

Example::

    with open_store(".chunkwise/qdrant") as store:
        result = verify_collection(store, "docs")
    print("sound" if result.sound else "\\n".join(result.problems))
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chunkwise.pipeline.errors import ChunkwiseError, StoreError
from chunkwise.pipeline.fingerprint import MULTIVECTOR
from chunkwise.pipeline.protocols import VectorStore

PAYLOAD_KEYS = ("text", "document_id", "source", "chunk_index", "chunk_count", "start", "end", "fingerprint")
EXAMPLES = 3  # points named per kind of problem
SCORE_TOLERANCE = 1e-4  # cosine scores within this of a point's own are ties


@dataclass
class Verification:
    """What :func:`verify_collection` found: counts, and one line per kind of damage."""

    collection: str
    points: int = 0
    counted: int = 0
    documents: int = 0
    searched: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "sound": self.sound,
            "points read": self.points,
            "points counted": self.counted,
            "documents": self.documents,
            "self-searches": self.searched,
            "problems": list(self.problems),
        }


class _Findings:
    """Problems grouped by kind: how many points each, and the first few named."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(example)

    def lines(self) -> list[str]:
        return [
            f"{count:,} {kind} (e.g. {'; '.join(self.examples[kind])})" for kind, count in self.counts.items()
        ]


INCOMPLETE = (
    "document versions without all their chunks (an ingest cut short: running it again completes them)"
)


def verify_collection(store: VectorStore, collection: str, *, searches: int = 200) -> Verification:
    """Read every point of ``collection`` and check it; ``searches`` points (spread over the
    collection) are searched by their own vectors. Raises :class:`ChunkwiseError` when the
    collection does not exist or its settings cannot be read."""
    fingerprint = store.fingerprint(collection)
    if fingerprint is None:
        raise ChunkwiseError(
            f"collection {collection!r} does not exist in {getattr(store, 'location', 'the store')}"
        )
    result, findings = Verification(collection), _Findings()
    try:
        result.counted = store.count(collection)
    except StoreError as error:
        result.problems.append(f"the points cannot be counted: {error}")
    versions: dict[tuple[Any, ...], tuple[int, list[int]]] = {}
    samples: list[tuple[str, np.ndarray]] = []
    every = max(1, result.counted // max(1, searches))
    try:
        for point in store.points(collection, with_vectors=True):
            result.points += 1
            name = f"{point.id} of {point.payload.get('source', '?')}"
            sound_vector = _check_vector(point.vector, fingerprint.dimension, findings, name)
            for vector_name, spec in fingerprint.vectors.items():
                multivector = spec["kind"] == MULTIVECTOR
                vector = point.named.get(vector_name)
                _check_vector(vector, int(spec["size"]), findings, name, vector_name, multivector=multivector)
            if sound_vector and result.points % every == 0:
                samples.append((point.id, point.vector))
            if _check_payload(point.payload, findings, name):
                payload = point.payload
                version = (payload["document_id"], payload.get("content_hash"), payload["fingerprint"])
                versions.setdefault(version, (payload["chunk_count"], []))[1].append(payload["chunk_index"])
    except StoreError as error:
        result.problems.append(f"reading the points stopped after {result.points:,}: {error}")
    if result.points != result.counted and not result.problems:
        result.problems.append(f"{result.counted:,} points counted but {result.points:,} read")
    result.documents = len({version[0] for version in versions})
    for (document_id, *_), (count, indexes) in versions.items():
        if sorted(indexes) != list(range(count)):
            missing = sorted(set(range(count)) - set(indexes))[:5]
            findings.add(INCOMPLETE, f"{document_id}: {len(indexes)} of {count}, missing {missing}")
    result.searched = _self_searches(store, collection, samples[:searches], findings)
    result.problems += findings.lines()
    return result


def _check_vector(
    vector: Any,
    dimension: int,
    findings: _Findings,
    name: str,
    vector_name: str = "",
    *,
    multivector: bool = False,
) -> bool:
    """Whether ``vector`` (the dense one, or the named ``vector_name``) is whole: ``dimension``
    values (a multivector: per row), finite, not all zeros (a multivector: no row all zeros)."""
    what = f"{vector_name!r} vector" if vector_name else "vector"
    values = np.asarray(vector, dtype=np.float32) if vector is not None else np.zeros(0, np.float32)
    if multivector:
        shaped = values.ndim == 2 and values.shape[1] == dimension
    else:
        shaped = values.shape == (dimension,)
    if values.size == 0:
        findings.add(f"points without their {what} (the vector file was damaged)", name)
    elif not shaped:
        per = " per token" if multivector else ""
        findings.add(f"points whose {what} does not have {dimension} values{per}", f"{name}: {values.shape}")
    elif not np.isfinite(values).all():
        findings.add(f"points whose {what} holds NaN or infinite values", name)
    elif not np.all(np.any(np.atleast_2d(values), axis=-1)):
        findings.add(f"points whose {what} is all zeros (the vector file was damaged)", name)
    else:
        return True
    return False


def _check_payload(payload: dict[str, Any], findings: _Findings, name: str) -> bool:
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        findings.add("points whose payload lacks keys chunkwise writes", f"{name}: {', '.join(missing)}")
        return False
    text, start, end = payload["text"], payload["start"], payload["end"]
    if not (
        isinstance(text, str) and isinstance(start, int) and isinstance(end, int) and len(text) == end - start
    ):
        findings.add("points whose text does not match their span", name)
    return True


def _self_searches(
    store: VectorStore, collection: str, samples: list[tuple[str, np.ndarray]], findings: _Findings
) -> int:
    """Search each sample by its own vector, comparing with every vector: it must come back among
    the first ten, or tie with the tenth (identical chunks in several documents)."""
    for searched, (point_id, vector) in enumerate(samples, start=1):
        try:
            hits = store.search(collection, vector, 10, exact=True)
        except StoreError as error:
            findings.add("points that cannot be searched for", f"{point_id}: {error}")
            return searched
        tied = len(hits) == 10 and hits[-1].score >= 1.0 - SCORE_TOLERANCE  # cosine: a vector's own is 1
        if point_id not in {hit.id for hit in hits} and not tied:
            findings.add("points a search by their own vector does not find (the files disagree)", point_id)
    return len(samples)
