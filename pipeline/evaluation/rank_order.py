"""Passage metrics in rank order, defined exactly as the reference scorer of our evaluation sets.

A query's ranking is the list, best first, of which answer each retrieved chunk matches
(``None`` when it matches none; see :class:`~pipeline.evaluation.relevance.AnswerMatcher`):

- ``ndcg@k``: binary gains in the order retrieved (tied scores keep the store's order); the ideal
  ranking has ``R = min(k, max(relevant chunks in the top k, number of answers))`` relevant
  chunks at the top. The relevant chunks a collection holds depend on the chunker and are not
  known from a ranking, so the retrieved ones stand in for them, with the answers as a floor.
- ``recall@k``: 1 when a relevant chunk is in the top ``k`` (hit rate), else 0.
- ``mrr@k``: 1 / the rank of the first relevant chunk in the top ``k`` (0 if none).
- ``answer_ndcg@k``: chunking-neutral; each answer counts once, at the first chunk matching it,
  and the ideal has every answer at the top.

Example::

    rank_order_metrics([None, 0, 0, 1], answers=2, k=10)
    # {"ndcg@10": ..., "recall@10": 1.0, "mrr@10": 0.5, "answer_ndcg@10": ...}
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _dcg(gains: Sequence[int]) -> float:
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))


def rank_order_metrics(matches: Sequence[int | None], answers: int, k: int) -> dict[str, float]:
    """nDCG, hit rate, MRR and answer nDCG at ``k`` of one query's ranking (see the module doc)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = list(matches[:k])
    relevant = [int(match is not None) for match in top]
    ideal = min(k, max(sum(relevant), answers))
    first = next((rank for rank, gain in enumerate(relevant) if gain), None)
    seen: set[int] = set()
    new_answers = []
    for match in top:
        new_answers.append(int(match is not None and match not in seen))
        if match is not None:
            seen.add(match)
    return {
        f"ndcg@{k}": _dcg(relevant) / _dcg([1] * ideal) if ideal else 0.0,
        f"recall@{k}": 1.0 if first is not None else 0.0,
        f"mrr@{k}": 1.0 / (first + 1) if first is not None else 0.0,
        f"answer_ndcg@{k}": _dcg(new_answers) / _dcg([1] * min(k, answers)) if answers else 0.0,
    }
