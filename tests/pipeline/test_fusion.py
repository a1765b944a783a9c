"""Fusion: how hybrid search joins its rankings, written and read as text."""

from __future__ import annotations

import pytest

from chunkwise.pipeline.types import Fusion


@pytest.mark.parametrize(
    ("text", "fusion"),
    [
        ("rrf", Fusion()),
        ("RRF:0.5", Fusion("rrf", 0.5)),
        (" dbsf ", Fusion("dbsf")),
        ("rrf:2", Fusion("rrf", 2.0)),
    ],
)
def test_fusion_reads_its_text_and_writes_it_back(text: str, fusion: Fusion) -> None:
    assert Fusion.parse(text) == fusion
    assert Fusion.parse(str(fusion)) == fusion


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum", "unknown fusion 'sum'"),
        ("rrf:0", "must be > 0"),
        ("rrf:x", "fusion 'rrf:x'"),
        ("dbsf:2", "no weight"),
    ],
)
def test_bad_fusions_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fusion.parse(text)
