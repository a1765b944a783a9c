"""Tie-aware ranking metrics: hand-computed cases, then properties against brute force."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise.pipeline.evaluation.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k, reciprocal_rank_at_k

# Discounts 1 / log2(rank + 1): rank 1 -> 1, rank 2 -> 0.63093, rank 3 -> 0.5, rank 4 -> 0.43068.
D1, D2, D3, D4 = 1.0, 1 / math.log2(3), 0.5, 1 / math.log2(5)


def ranked(gains: list[float]) -> list[tuple[float, float]]:
    """Distinct descending scores: ``gains[0]`` at rank 1, ``gains[1]`` at rank 2, ..."""
    return [(1.0 - i / 100, gain) for i, gain in enumerate(gains)]


def test_relevant_at_rank_one():
    ranking = ranked([1, 0, 0])
    assert ndcg_at_k(ranking, [1.0], 10) == 1.0
    assert reciprocal_rank_at_k(ranking, 10) == 1.0
    assert hit_rate_at_k(ranking, 1) == 1.0
    assert recall_at_k(ranking, 1, 1) == 1.0


def test_relevant_at_rank_three():
    # One relevant item at rank 3: DCG = 1/log2(4) = 0.5, IDCG = 1 -> nDCG 0.5; RR = 1/3.
    ranking = ranked([0, 0, 1, 0])
    assert ndcg_at_k(ranking, [1.0], 10) == pytest.approx(0.5)
    assert reciprocal_rank_at_k(ranking, 10) == pytest.approx(1 / 3)
    assert hit_rate_at_k(ranking, 10) == 1.0
    # Cut off before rank 3: nothing found.
    assert ndcg_at_k(ranking, [1.0], 2) == 0.0
    assert reciprocal_rank_at_k(ranking, 2) == 0.0
    assert hit_rate_at_k(ranking, 2) == 0.0
    assert recall_at_k(ranking, 1, 2) == 0.0


def test_two_of_three_relevant_items_at_ranks_two_and_four():
    ranking = ranked([0, 1, 0, 1, 0])
    # k=10: DCG = D2 + D4 = 0.63093 + 0.43068 = 1.06161;
    # IDCG (3 relevant items exist) = D1 + D2 + D3 = 1 + 0.63093 + 0.5 = 2.13093; nDCG = 0.49819.
    assert ndcg_at_k(ranking, [1.0, 1.0, 1.0], 10) == pytest.approx((D2 + D4) / (D1 + D2 + D3))
    assert ndcg_at_k(ranking, [1.0, 1.0, 1.0], 10) == pytest.approx(0.49819, abs=1e-5)
    assert reciprocal_rank_at_k(ranking, 10) == 0.5
    assert hit_rate_at_k(ranking, 10) == 1.0
    assert recall_at_k(ranking, 3, 10) == pytest.approx(2 / 3)
    # k=3: DCG = D2 = 0.63093, IDCG = 2.13093 -> 0.29609; one of three found.
    assert ndcg_at_k(ranking, [1.0, 1.0, 1.0], 3) == pytest.approx(0.29609, abs=1e-5)
    assert recall_at_k(ranking, 3, 3) == pytest.approx(1 / 3)


def test_no_relevant_item_retrieved():
    ranking = ranked([0, 0, 0])
    assert ndcg_at_k(ranking, [1.0, 1.0], 10) == 0.0
    assert hit_rate_at_k(ranking, 10) == 0.0
    assert reciprocal_rank_at_k(ranking, 10) == 0.0
    assert recall_at_k(ranking, 2, 10) == 0.0


def test_query_without_relevant_items():
    ranking = ranked([0, 0])
    assert ndcg_at_k(ranking, [], 10) == 0.0  # IDCG 0
    assert ndcg_at_k(ranking, [0.0, 0.0], 10) == 0.0
    assert recall_at_k(ranking, 0, 10) == 0.0


def test_empty_ranking():
    assert ndcg_at_k([], [1.0], 10) == 0.0
    assert hit_rate_at_k([], 10) == 0.0
    assert reciprocal_rank_at_k([], 10) == 0.0
    assert recall_at_k([], 1, 10) == 0.0


def test_two_items_tied_at_the_top_one_relevant():
    ranking = [(0.5, 0.0), (0.9, 0.0), (0.9, 1.0)]
    # The relevant item is at rank 1 or 2 with probability 1/2 each.
    # DCG = 0.5 * D1 + 0.5 * D2 = 0.5 + 0.31546 = 0.81546, IDCG = 1.
    assert ndcg_at_k(ranking, [1.0], 10) == pytest.approx(0.5 * D1 + 0.5 * D2)
    # RR = 0.5 * 1 + 0.5 * 1/2 = 0.75.
    assert reciprocal_rank_at_k(ranking, 10) == pytest.approx(0.75)
    # Top 1: found with probability 1/2 (hit rate = 1 - C(1,1)/C(2,1) = 1/2); RR@1 = 0.5 * 1.
    assert hit_rate_at_k(ranking, 1) == pytest.approx(0.5)
    assert reciprocal_rank_at_k(ranking, 1) == pytest.approx(0.5)
    assert recall_at_k(ranking, 1, 1) == pytest.approx(0.5)
    assert ndcg_at_k(ranking, [1.0], 1) == pytest.approx(0.5)


def test_tied_group_with_two_relevant_items():
    # Three tied items, two relevant: the first relevant is at rank 1 with P = C(2,1)/C(3,2) = 2/3,
    # at rank 2 with P = C(1,1)/C(3,2) = 1/3 -> RR = 2/3 + 1/3 * 1/2 = 5/6.
    ranking = [(0.7, 1.0), (0.7, 0.0), (0.7, 1.0)]
    assert reciprocal_rank_at_k(ranking, 10) == pytest.approx(5 / 6)
    # Every position gets the mean gain 2/3: DCG@10 = 2/3 * (D1 + D2 + D3), IDCG = D1 + D2.
    assert ndcg_at_k(ranking, [1.0, 1.0], 10) == pytest.approx(2 / 3 * (D1 + D2 + D3) / (D1 + D2))
    # Top 1: 1 - C(1,1)/C(3,1) = 2/3.
    assert hit_rate_at_k(ranking, 1) == pytest.approx(2 / 3)


def test_tie_straddling_the_cutoff():
    # Rank 1 is not relevant; ranks 2-4 are tied, one of them relevant; k=2 keeps one of the three.
    ranking = [(0.9, 0.0), (0.5, 0.0), (0.5, 1.0), (0.5, 0.0), (0.1, 1.0)]
    # Hit rate = 1 - C(2,1)/C(3,1) = 1/3; RR = 1/3 * 1/2 = 1/6; expected recall = (1/3) / 2 relevant.
    assert hit_rate_at_k(ranking, 2) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k(ranking, 2) == pytest.approx(1 / 6)
    assert recall_at_k(ranking, 2, 2) == pytest.approx(1 / 6)
    # DCG@2 = (1/3) * D2 (mean gain of the group at position 2), IDCG@2 = D1 + D2.
    assert ndcg_at_k(ranking, [1.0, 1.0], 2) == pytest.approx(D2 / 3 / (D1 + D2))
    # Four tied items, two relevant, two positions inside: 1 - C(2,2)/C(4,2) = 1 - 1/6 = 5/6.
    ranking = [(0.9, 0.0), (0.8, 0.0), (0.5, 1.0), (0.5, 0.0), (0.5, 1.0), (0.5, 0.0)]
    assert hit_rate_at_k(ranking, 4) == pytest.approx(5 / 6)
    # The first relevant is at rank 3 (P = C(3,1)/C(4,2) = 1/2) or rank 4 (P = C(2,1)/6 = 1/3):
    # RR@4 = 1/2 * 1/3 + 1/3 * 1/4 = 1/4.
    assert reciprocal_rank_at_k(ranking, 4) == pytest.approx(1 / 4)


def test_graded_gains():
    ranking = ranked([1.0, 3.0, 0.0])
    # DCG = 1 * D1 + 3 * D2 = 1 + 1.89279 = 2.89279; IDCG = 3 * D1 + 1 * D2 = 3.63093 -> 0.79671.
    assert ndcg_at_k(ranking, [1.0, 3.0], 10) == pytest.approx((D1 + 3 * D2) / (3 * D1 + D2))
    assert ndcg_at_k(ranking, [1.0, 3.0], 10) == pytest.approx(0.79671, abs=1e-5)
    # Any gain > 0 is relevant for the other metrics.
    assert reciprocal_rank_at_k(ranking, 10) == 1.0
    assert recall_at_k(ranking, 2, 10) == 1.0


def test_generators_and_integer_pairs_are_accepted():
    assert ndcg_at_k(((s, g) for s, g in [(2, 0), (3, 1)]), iter([1]), 10) == 1.0


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(k):
    ranking = ranked([1])
    with pytest.raises(ValueError, match="k must be >= 1"):
        ndcg_at_k(ranking, [1.0], k)
    with pytest.raises(ValueError, match="k must be >= 1"):
        hit_rate_at_k(ranking, k)
    with pytest.raises(ValueError, match="k must be >= 1"):
        reciprocal_rank_at_k(ranking, k)
    with pytest.raises(ValueError, match="k must be >= 1"):
        recall_at_k(ranking, 1, k)


def test_invalid_scores_gains_and_totals():
    with pytest.raises(ValueError, match="NaN"):
        hit_rate_at_k([(math.nan, 1.0)], 10)
    with pytest.raises(ValueError, match="gains"):
        hit_rate_at_k([(0.5, -1.0)], 10)
    with pytest.raises(ValueError, match="total_relevant"):
        recall_at_k(ranked([1]), -1, 10)


# --- Properties: brute force on small rankings. ---------------------------------------------------


def simple_metrics(gains: list[float], ideal_gains: list[float], total: int, k: int) -> tuple[float, ...]:
    """The textbook metrics of gains in rank order (no ties)."""
    top = gains[:k]
    dcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(top, start=1))
    ideal = sorted(ideal_gains, reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    first = next((rank for rank, gain in enumerate(top, start=1) if gain > 0), None)
    found = sum(gain > 0 for gain in top)
    return (
        dcg / idcg if idcg else 0.0,
        1.0 if first else 0.0,
        1 / first if first else 0.0,
        found / total if total else 0.0,
    )


def tie_aware_metrics(ranking: list[tuple[float, float]], ideal_gains, total, k) -> tuple[float, ...]:
    return (
        ndcg_at_k(ranking, ideal_gains, k),
        hit_rate_at_k(ranking, k),
        reciprocal_rank_at_k(ranking, k),
        recall_at_k(ranking, total, k),
    )


def brute_force(ranking: list[tuple[float, float]], ideal_gains, total, k) -> tuple[float, ...]:
    """The mean of the textbook metrics over all orderings of the tied groups.

    Stable-sorting every permutation of the items by score yields each ordering of the ties equally
    often, so the mean over all permutations is the mean over all tie orderings.
    """
    runs = [
        simple_metrics([gain for _, gain in sorted(perm, key=lambda p: -p[0])], ideal_gains, total, k)
        for perm in itertools.permutations(ranking)
    ]
    return tuple(sum(values) / len(runs) for values in zip(*runs, strict=True))


def with_ideal(ranking: list[tuple[float, float]], unretrieved: list[float]) -> tuple[list[float], int]:
    """Ideal gains and relevant count: the ranking's relevant items plus some not retrieved."""
    ideal = [gain for _, gain in ranking if gain > 0] + unretrieved
    return ideal, len(ideal)


gains = st.sampled_from([0.0, 0.0, 1.0, 2.0, 0.5])
tied_rankings = st.lists(st.tuples(st.integers(0, 3).map(float), gains), max_size=6)
distinct_rankings = st.lists(gains, max_size=12).flatmap(
    lambda gs: st.permutations(list(range(len(gs)))).map(
        lambda scores: [(float(s), g) for s, g in zip(scores, gs, strict=True)]
    )
)
cutoffs = st.integers(1, 8)
unretrieved = st.lists(st.sampled_from([1.0, 2.0]), max_size=3)


@given(distinct_rankings, unretrieved, cutoffs)
def test_without_ties_equals_the_textbook_metrics(ranking, extra, k):
    ideal, total = with_ideal(ranking, extra)
    in_order = [gain for _, gain in sorted(ranking, reverse=True)]
    expected = simple_metrics(in_order, ideal, total, k)
    assert tie_aware_metrics(ranking, ideal, total, k) == pytest.approx(expected)


@given(tied_rankings, unretrieved, cutoffs)
def test_with_ties_equals_the_mean_over_all_tie_orderings(ranking, extra, k):
    ideal, total = with_ideal(ranking, extra)
    expected = brute_force(ranking, ideal, total, k)
    assert tie_aware_metrics(ranking, ideal, total, k) == pytest.approx(expected)


@given(tied_rankings | distinct_rankings, unretrieved, cutoffs, st.randoms(use_true_random=False))
def test_input_order_never_matters_and_results_are_in_unit_interval(ranking, extra, k, rng: random.Random):
    ideal, total = with_ideal(ranking, extra)
    results = tie_aware_metrics(ranking, ideal, total, k)
    shuffled = list(ranking)
    rng.shuffle(shuffled)
    assert tie_aware_metrics(shuffled, ideal, total, k) == pytest.approx(results)
    assert all(-1e-12 <= value <= 1 + 1e-12 for value in results)
