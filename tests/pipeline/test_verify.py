"""``verify_collection`` and ``chunkwise verify`` on real Qdrant Edge stores whose files were damaged
the way disks and cut-short copies damage them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.pipeline.errors import ChunkwiseError, StoreError
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.ids import chunk_id, content_hash, document_id
from chunkwise.pipeline.points import Point, chunk_payload
from chunkwise.pipeline.types import Chunk, Document
from chunkwise.pipeline.verify import verify_collection

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
FINGERPRINT = Fingerprint(model="test-model", dimension=16, chunking={"chunk_size": 64})
DOCUMENTS, CHUNKS = 30, 10


def document_points(number: int, rng: np.random.Generator, shared: np.ndarray | None = None) -> list[Point]:
    text = "".join(f"doc{number:02d} chunk{index:02d} " for index in range(CHUNKS))
    width = len(text) // CHUNKS
    source = f"/docs/{number:02d}.md"
    document = Document(
        id=document_id(source), source=source, text=text, content_hash=content_hash(text.encode())
    )
    vectors = rng.standard_normal((CHUNKS, 16)).astype(np.float32)
    points = []
    for index in range(CHUNKS):
        start, end = index * width, (index + 1) * width
        chunk = Chunk(
            id=chunk_id(document.id, document.content_hash, start, end),
            document_id=document.id,
            index=index,
            text=text[start:end],
            start=start,
            end=end,
            token_count=3,
        )
        payload = chunk_payload(document, chunk, FINGERPRINT, CHUNKS)
        points.append(
            Point(id=chunk.id, vector=vectors[index] / np.linalg.norm(vectors[index]), payload=payload)
        )
    return points


@pytest.fixture
def store_folder(tmp_path: Path) -> Path:
    """A closed store of 300 points in an indexed segment (written in several batches)."""
    rng = np.random.default_rng(7)
    with QdrantEdgeStore(tmp_path / "store", index_after=100) as store:
        store.ensure_collection("docs", FINGERPRINT)
        for number in range(DOCUMENTS):
            points = document_points(number, rng)
            store.replace_document("docs", points[0].payload["document_id"], points, known_new=True)
    return tmp_path / "store"


def segment_file(store_folder: Path, name: str) -> Path:
    """The file ``name`` of the segment that holds the points (the indexed one: it has a vector matrix)."""
    [segment] = [
        matrix.parents[1]
        for matrix in store_folder.glob("collections/docs/shard/segments/*/vector_storage-dense/matrix.dat")
        if matrix.stat().st_size > 0
    ]
    return segment / name


def verify(store_folder: Path):
    with QdrantEdgeStore(store_folder) as store:
        return verify_collection(store, "docs", searches=50)


def test_an_intact_collection_is_sound(store_folder):
    result = verify(store_folder)
    assert result.sound, result.problems
    assert (result.points, result.counted, result.documents) == (300, 300, DOCUMENTS)
    assert result.searched == 50


def damaged_vectors(problems: list[str]) -> int:
    """How many points the problems say lost their vectors."""
    return sum(int(p.split()[0].replace(",", "")) for p in problems if "the vector file was damaged" in p)


@pytest.mark.parametrize("kept", [0.25, 0.5])
def test_a_truncated_vector_file_shows_as_points_without_their_vectors(store_folder, kept):
    matrix = segment_file(store_folder, "vector_storage-dense/matrix.dat")
    with open(matrix, "r+b") as file:
        file.truncate(int(matrix.stat().st_size * kept))

    result = verify(store_folder)

    assert not result.sound
    assert damaged_vectors(result.problems) >= 300 * (1 - kept) - 1


def test_a_truncated_payload_file_stops_the_reading_with_a_store_error(store_folder):
    storage = segment_file(store_folder, "payload_storage/page_0.dat")
    with open(storage, "r+b") as file:
        file.truncate(1000)

    result = verify(store_folder)

    assert not result.sound
    assert any(
        p.startswith("reading the points stopped after") and "chunkwise verify" in p for p in result.problems
    )


def test_a_document_missing_a_chunk_is_named(store_folder):
    with QdrantEdgeStore(store_folder) as store:
        point = next(p for p in store.points("docs") if p.payload["source"] == "/docs/03.md")
        from qdrant_edge import Filter as EdgeFilter
        from qdrant_edge import HasIdCondition

        store._delete("docs", EdgeFilter(must=[HasIdCondition(point_ids={point.id})]))

    result = verify(store_folder)

    [problem] = result.problems
    assert problem.startswith("1 document versions without all their chunks")
    assert f"{point.payload['document_id']}: 9 of 10, missing [{point.payload['chunk_index']}]" in problem


def test_a_missing_collection_is_an_error(store_folder):
    with (
        QdrantEdgeStore(store_folder) as store,
        pytest.raises(ChunkwiseError, match="'other' does not exist"),
    ):
        verify_collection(store, "other")


def test_the_command_exits_0_on_a_sound_store_and_1_with_each_damage_on_a_damaged_one(store_folder):
    command = [CHUNKWISE, "verify", "--store", str(store_folder), "--collection", "docs"]
    sound = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    assert sound.returncode == 0, sound.stderr
    assert json.loads(sound.stdout)["sound"] is True

    matrix = segment_file(store_folder, "vector_storage-dense/matrix.dat")
    with open(matrix, "r+b") as file:
        file.truncate(matrix.stat().st_size // 2)
    damaged = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert damaged.returncode == 1 and "Traceback" not in damaged.stderr
    assert "damaged:" in damaged.stdout and "the vector file was damaged" in damaged.stdout


def test_reading_the_manifest_of_a_collection_that_lost_vectors_is_refused(store_folder):
    """What an ingest reads first: a damaged collection is never taken for an unchanged one."""
    with QdrantEdgeStore(store_folder) as store:
        assert len(store.stored_documents("docs")) == DOCUMENTS
    matrix = segment_file(store_folder, "vector_storage-dense/matrix.dat")
    with open(matrix, "r+b") as file:
        file.truncate(matrix.stat().st_size // 2)

    with QdrantEdgeStore(store_folder) as store:
        with pytest.raises(StoreError, match=r"'docs' in .* is damaged: \d+ of 256 points read back without"):
            store.stored_documents("docs")
        assert len(store.stored_documents("docs", document_ids=["x"])) == 0  # a batch's own lookup reads on


def test_the_same_chunk_in_many_documents_is_no_damage(tmp_path):
    rng = np.random.default_rng(3)
    shared = rng.standard_normal(16).astype(np.float32)
    shared /= np.linalg.norm(shared)
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", FINGERPRINT)
        for number in range(DOCUMENTS):
            points = document_points(number, rng, shared)
            store.replace_document("docs", points[0].payload["document_id"], points, known_new=True)
        result = verify_collection(store, "docs", searches=300)
    assert result.sound, result.problems
    assert result.searched == 300


def test_named_vectors_are_checked_too(tmp_path):
    fingerprint = Fingerprint(
        model="test-model",
        dimension=16,
        chunking={"chunk_size": 64},
        vectors={"alone": {"kind": "dense", "size": 16}, "tokens": {"kind": "multivector", "size": 4}},
    )
    rng = np.random.default_rng(3)
    points = document_points(0, rng)
    tokens = rng.standard_normal((3, 4)).astype(np.float32)
    whole = [Point(p.id, p.vector, p.payload, named={"alone": p.vector, "tokens": tokens}) for p in points]
    broken = [
        Point(whole[0].id, whole[0].vector, whole[0].payload, named={"tokens": tokens}),  # no 'alone'
        Point(whole[1].id, whole[1].vector, whole[1].payload, named={"alone": whole[1].vector}),  # no tokens
        Point(
            whole[2].id,
            whole[2].vector,
            whole[2].payload,
            named={"alone": whole[2].vector * 0, "tokens": tokens},
        ),
    ]
    with QdrantEdgeStore(tmp_path / "store") as store:
        store.ensure_collection("docs", fingerprint)
        store.write_points("docs", whole)
        assert verify_collection(store, "docs", searches=5).sound

        store.write_points("docs", broken)
        result = verify_collection(store, "docs", searches=5)

    problems = "\n".join(result.problems)
    assert not result.sound and len(result.problems) == 3, problems
    assert "1 points without their 'alone' vector" in problems
    assert "1 points without their 'tokens' vector" in problems
    assert "1 points whose 'alone' vector is all zeros" in problems
