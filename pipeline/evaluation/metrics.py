"""Tie-aware ranking metrics at a cutoff ``k``.

A ranking is a sequence of ``(score, gain)`` pairs in any order: the metrics sort it by score,
descending. ``gain`` 0 means not relevant, any gain > 0 relevant (binary relevance uses 1.0);
nDCG uses the gains as they are (pass ``2**grade - 1`` for exponential gains).

Items with equal scores have no order, so every metric is the expected value over all orderings
of each tied group (McSherry & Najork, 2008, "Computing Information Retrieval Performance Measures
Efficiently in the Presence of Tied Scores"): the result never depends on an arbitrary tie-break.
Without ties they are the usual metrics.

Example::

    ranking = [(0.91, 1.0), (0.87, 0.0), (0.87, 1.0), (0.40, 0.0)]
    ndcg_at_k(ranking, ideal_gains=[1.0, 1.0, 1.0], k=10)
    hit_rate_at_k(ranking, k=1)  # 1.0
    reciprocal_rank_at_k(ranking, k=10)  # 1.0
    recall_at_k(ranking, total_relevant=3, k=2)  # (1 + 0.5) / 3
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Group:
    """Tied items at ranks ``start + 1 .. start + size``, ``relevant`` of them with gain > 0."""

    start: int
    size: int
    relevant: int
    total_gain: float

    def inside(self, k: int) -> int:
        """How many of the group's positions are within the top ``k``."""
        return max(0, min(self.size, k - self.start))


def _groups(ranking: Iterable[tuple[float, float]], k: int) -> list[_Group]:
    """The ranking's tied groups, best first, up to the last one reaching into the top ``k``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pairs = [(float(score), float(gain)) for score, gain in ranking]
    for score, gain in pairs:
        if math.isnan(score):
            raise ValueError("a ranking score is NaN")
        if not gain >= 0:
            raise ValueError(f"gains must be >= 0, got {gain}")
    pairs.sort(key=lambda pair: pair[0], reverse=True)
    groups: list[_Group] = []
    i = 0
    while i < len(pairs) and i < k:
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        gains = [gain for _, gain in pairs[i:j]]
        groups.append(_Group(i, j - i, sum(gain > 0 for gain in gains), math.fsum(gains)))
        i = j
    return groups


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def _dcg_at_k(ranking: Iterable[tuple[float, float]], k: int) -> float:
    """Expected DCG of the top ``k``: inside a tied group every position gets the group's mean gain."""
    total = 0.0
    for group in _groups(ranking, k):
        mean_gain = group.total_gain / group.size
        positions = range(group.start + 1, group.start + group.inside(k) + 1)
        total += mean_gain * math.fsum(_discount(rank) for rank in positions)
    return total


def ndcg_at_k(ranking: Iterable[tuple[float, float]], ideal_gains: Iterable[float], k: int) -> float:
    """Expected nDCG@k; 0.0 when the ideal DCG is 0 (the query has no relevant item).

    ``ideal_gains`` are the gains of all relevant items that exist for the query, retrieved or not.
    """
    dcg = _dcg_at_k(ranking, k)
    ideal = sorted((float(gain) for gain in ideal_gains), reverse=True)[:k]
    idcg = math.fsum(gain * _discount(rank) for rank, gain in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def hit_rate_at_k(ranking: Iterable[tuple[float, float]], k: int) -> float:
    """Probability that at least one relevant item is in the top ``k``.

    For a tied group of ``g`` items, ``r`` relevant, with ``c`` positions inside the cutoff, the
    probability is ``1 - C(g - r, c) / C(g, c)``.
    """
    for group in _groups(ranking, k):
        if group.relevant:
            inside = group.inside(k)
            return 1.0 - math.comb(group.size - group.relevant, inside) / math.comb(group.size, inside)
    return 0.0


def reciprocal_rank_at_k(ranking: Iterable[tuple[float, float]], k: int) -> float:
    """Expected ``1 / rank`` of the first relevant item when it is in the top ``k``, else 0.

    In the first tied group with relevant items (``g`` items, ``r`` relevant, from rank ``a``), the
    first relevant item is at rank ``a + j`` with probability ``C(g - 1 - j, r - 1) / C(g, r)``.
    """
    for group in _groups(ranking, k):
        if group.relevant:
            g, r = group.size, group.relevant
            orderings = math.comb(g, r)
            return math.fsum(
                math.comb(g - 1 - j, r - 1) / orderings / (group.start + 1 + j)
                for j in range(min(g - r + 1, group.inside(k)))
            )
    return 0.0


def recall_at_k(ranking: Iterable[tuple[float, float]], total_relevant: int, k: int) -> float:
    """Expected share of the query's ``total_relevant`` relevant items in the top ``k`` (0 if none exist)."""
    if total_relevant < 0:
        raise ValueError(f"total_relevant must be >= 0, got {total_relevant}")
    found = math.fsum(group.relevant * group.inside(k) / group.size for group in _groups(ranking, k))
    return found / total_relevant if total_relevant else 0.0
