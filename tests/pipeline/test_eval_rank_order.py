"""Passage metrics in rank order, checked by hand against the reference scorer's definitions."""

from __future__ import annotations

import math

import pytest

from chunkwise.pipeline.evaluation.rank_order import rank_order_metrics


def d(rank: int) -> float:
    return 1 / math.log2(rank + 1)


def test_the_ideal_counts_the_retrieved_relevant_chunks_when_they_outnumber_the_answers() -> None:
    metrics = rank_order_metrics([None, 0, 0], answers=1, k=10)

    assert metrics["ndcg@10"] == pytest.approx((d(2) + d(3)) / (d(1) + d(2)))
    assert metrics["answer_ndcg@10"] == pytest.approx(d(2))
    assert metrics["mrr@10"] == 0.5
    assert metrics["recall@10"] == 1.0


def test_the_answers_are_the_floor_of_the_ideal() -> None:
    metrics = rank_order_metrics([0, None], answers=3, k=10)

    assert metrics["ndcg@10"] == pytest.approx(d(1) / (d(1) + d(2) + d(3)))
    assert metrics["answer_ndcg@10"] == pytest.approx(d(1) / (d(1) + d(2) + d(3)))


def test_the_cutoff_caps_the_ideal_and_the_ranking() -> None:
    metrics = rank_order_metrics([None, 0, 1, 2], answers=5, k=2)

    assert metrics["ndcg@2"] == pytest.approx(d(2) / (d(1) + d(2)))
    assert metrics["answer_ndcg@2"] == pytest.approx(d(2) / (d(1) + d(2)))


def test_nothing_relevant_and_no_answers_score_zero() -> None:
    assert rank_order_metrics([None, None], answers=1, k=10)["ndcg@10"] == 0.0
    assert rank_order_metrics([], answers=0, k=10) == {
        "ndcg@10": 0.0,
        "recall@10": 0.0,
        "mrr@10": 0.0,
        "answer_ndcg@10": 0.0,
    }


def test_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="k"):
        rank_order_metrics([0], answers=1, k=0)
