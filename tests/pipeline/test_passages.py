"""Passages: joining overlapping chunks, section runs, merging passages; and MMR ordering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise.pipeline.mmr import mmr_order
from chunkwise.pipeline.passages import (
    Passage,
    StoredChunk,
    check_expansion,
    join_chunks,
    merge_overlapping,
    neighbour_indices,
    read_section,
    section_run,
)
from chunkwise.pipeline.types import SearchHit

TEXT = "Alpha beta gamma delta.\n\nEpsilon zeta eta theta iota.\n\nKappa lambda mu."


def chunk(index: int, start: int, end: int, section: str | None = "S", document: str = "d") -> StoredChunk:
    payload = {
        "text": TEXT[start:end],
        "start": start,
        "end": end,
        "chunk_index": index,
        "section": section,
        "document_id": document,
        "content_hash": "h",
    }
    return StoredChunk(id=f"{document}-{index}", payload=payload)


def passage(*chunks: StoredChunk, score: float = 1.0) -> Passage:
    best = chunks[0]
    return Passage(hit=SearchHit(id=best.id, score=score, payload=dict(best.payload)), chunks=chunks)


def test_overlapping_chunks_are_joined_with_their_overlap_once() -> None:
    chunks = [chunk(0, 0, 16), chunk(1, 11, 23)]  # "Alpha beta gamma" + "gamma delta."
    assert join_chunks(chunks) == "Alpha beta gamma delta."


def test_chunks_apart_are_joined_by_the_white_space_they_were_cut_from() -> None:
    chunks = [chunk(0, 0, 23), chunk(1, 25, 53), chunk(2, 55, 71)]
    assert join_chunks(chunks) == TEXT
    words = [chunk(0, 0, 5), chunk(1, 6, 10)]
    assert join_chunks(words) == "Alpha beta"


def test_a_chunk_inside_its_predecessor_adds_nothing() -> None:
    assert join_chunks([chunk(0, 0, 23), chunk(1, 6, 16)]) == TEXT[:23]


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), min_size=1, max_size=6))
def test_joined_chunks_that_cover_a_span_without_gaps_are_that_span(spans) -> None:
    """Whatever the overlaps, chunks covering [start, end) without gaps join into TEXT[start:end]."""
    spans = sorted((start, min(start + length, len(TEXT))) for start, length in spans)
    covered = [spans[0]]
    for start, end in spans[1:]:
        if start <= covered[-1][1]:  # keep only chunks that touch or overlap the run so far
            covered.append((start, end))
    chunks = [chunk(i, start, end) for i, (start, end) in enumerate(covered)]
    start, end = covered[0][0], max(end for _, end in covered)
    assert join_chunks(chunks) == TEXT[start:end]


def test_neighbours_stop_at_the_first_chunk() -> None:
    assert neighbour_indices(1, 2) == [0, 1, 2, 3]
    assert neighbour_indices(5, 0) == [5]


def test_a_section_run_stops_where_the_section_changes_or_a_chunk_is_missing() -> None:
    chunks = [
        chunk(0, 0, 5, "Intro"),
        chunk(1, 6, 10, "Usage"),
        chunk(2, 11, 16, "Usage"),
        chunk(3, 17, 23, "Usage"),
        chunk(4, 25, 32, "Notes"),
        chunk(6, 40, 45, "Usage"),  # the same title again later: another section
    ]
    assert [c.index for c in section_run(chunks, 2)] == [1, 2, 3]
    assert [c.index for c in section_run(chunks, 6)] == [6]
    assert [c.index for c in section_run(chunks, 0)] == [0]


@given(
    st.lists(st.sampled_from(["A", "B", None]), min_size=1, max_size=300),
    st.data(),
)
def test_a_section_read_by_windows_is_the_section_read_from_the_whole_document(sections, data) -> None:
    """Windows around the hit widen until they hold its section's run: the same run as reading the
    whole document, and never the whole of a long document for a short section."""
    document = [chunk(i, i, i + 1, section) for i, section in enumerate(sections)]
    index = data.draw(st.integers(0, len(document) - 1))
    asked: list[int] = []

    def read(indices: list[int] | None) -> list[StoredChunk]:
        indices = list(range(len(document))) if indices is None else indices
        asked.append(len(indices))
        return [document[i] for i in indices if i < len(document)]

    chunks = read_section(read, index, data.draw(st.sampled_from([None, len(document)])))

    expected = section_run(document, index)
    assert section_run(chunks, index) == expected
    assert max(asked) <= max(2 * 8 + 1, 2 * 4 * (len(expected) + 8) + 1)  # bounded by the section
    assert len(asked) == 1 or len(document) > 2 * 8 + 1  # a short document is read once, whole


def test_a_section_read_of_a_chunk_gone_gives_chunks_without_it() -> None:
    chunks = read_section(lambda indices: [chunk(i, i, i + 1) for i in indices or [] if i != 5], 5)
    assert chunks and all(c.index != 5 for c in chunks)


def test_passages_sharing_a_chunk_merge_and_keep_the_better_rank() -> None:
    first = passage(chunk(2, 11, 16), chunk(3, 17, 23), score=0.9)
    apart = passage(chunk(0, 0, 5, document="other"), score=0.8)
    overlapping = passage(chunk(1, 6, 10), chunk(2, 11, 16), score=0.7)

    merged = merge_overlapping([first, apart, overlapping])

    assert [p.hit.score for p in merged] == [0.9, 0.8]
    assert [c.index for c in merged[0].chunks] == [1, 2, 3]
    assert merged[0].start == 6 and merged[0].end == 23


def test_a_merge_that_bridges_two_passages_merges_all_three() -> None:
    left, right = passage(chunk(0, 0, 5)), passage(chunk(2, 11, 16))
    bridge = passage(chunk(1, 6, 10), chunk(2, 11, 16))
    joined = passage(chunk(0, 0, 5), chunk(1, 6, 10))

    assert len(merge_overlapping([left, right, bridge, joined])) == 1


def test_passages_of_other_versions_of_a_document_never_merge() -> None:
    old = passage(chunk(0, 0, 5))
    newer = chunk(0, 0, 5)
    new = Passage(
        hit=SearchHit(id="new", score=0.5, payload={**newer.payload, "content_hash": "h2"}), chunks=(newer,)
    )
    assert len(merge_overlapping([old, new])) == 2


@pytest.mark.parametrize("bad", [-1, "paragraph", 1.5, True])
def test_an_expansion_is_a_count_or_section(bad) -> None:
    assert check_expansion(2) == 2 and check_expansion("section") == "section"
    with pytest.raises(ValueError, match="expand must be"):
        check_expansion(bad)


def test_mmr_without_diversity_is_the_similarity_ranking() -> None:
    rng = np.random.default_rng(3)
    query, candidates = rng.standard_normal(8), rng.standard_normal((10, 8))
    similarity = candidates @ query / np.linalg.norm(candidates, axis=1)
    assert mmr_order(query, candidates, 5, diversity=0.0) == list(np.argsort(-similarity)[:5])


def test_mmr_passes_over_a_duplicate_for_something_new() -> None:
    query = np.array([1.0, 0.0, 0.0])
    candidates = np.array([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.7, 0.0, 0.7]])
    assert mmr_order(query, candidates, 2, diversity=0.0) == [0, 1]
    assert mmr_order(query, candidates, 2, diversity=0.5) == [0, 2]


def test_mmr_returns_at_most_the_candidates_it_has() -> None:
    assert mmr_order(np.ones(3), np.ones((2, 3)), 5) == [0, 1]
    assert mmr_order(np.ones(3), np.empty((0, 3)), 5) == []
    with pytest.raises(ValueError, match="diversity"):
        mmr_order(np.ones(3), np.ones((2, 3)), 1, diversity=1.5)
