"""Compare configurations across evaluation sets: macro averages and intervals against a baseline.

Each configuration is scored on every set; its macro average is the mean of its per-set means
(every set weighs the same, whatever its number of queries), and its difference from the
baseline comes with a paired bootstrap interval over the queries of all sets
(:func:`~pipeline.evaluation.bootstrap.paired_bootstrap`).

Example::

    scores = [SetScores("late hybrid", "faq", {"ndcg@10": 0.61}, per_query=(...)), ...]
    for row in compare(scores, baseline="fixed dense"):
        print(row.config, row.macro["ndcg@10"], row.interval)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chunkwise.pipeline.evaluation.bootstrap import Interval, paired_bootstrap


@dataclass(frozen=True, slots=True)
class SetScores:
    """One configuration's mean metrics on one set, and its main metric per query (in query order)."""

    config: str
    dataset: str
    metrics: Mapping[str, float]
    per_query: Sequence[float]


@dataclass(frozen=True, slots=True)
class Comparison:
    """A configuration over every set: macro metrics, and its difference from the baseline."""

    config: str
    datasets: tuple[str, ...]
    macro: dict[str, float]
    interval: Interval | None  # None for the baseline itself, or when the baseline was not run


def compare(scores: Sequence[SetScores], baseline: str | None) -> list[Comparison]:
    """One :class:`Comparison` per configuration scored on every set, in first-seen order."""
    by_config: dict[str, dict[str, SetScores]] = {}
    for score in scores:
        by_config.setdefault(score.config, {})[score.dataset] = score
    datasets = tuple(dict.fromkeys(score.dataset for score in scores))
    base = by_config.get(baseline) if baseline is not None else None
    comparisons = []
    for config, per_set in by_config.items():
        if set(per_set) != set(datasets):
            continue
        interval = None
        if base is not None and config != baseline and set(base) == set(datasets):
            interval = paired_bootstrap(
                {name: (per_set[name].per_query, base[name].per_query) for name in datasets}
            )
        comparisons.append(
            Comparison(config, datasets, _macro([per_set[d].metrics for d in datasets]), interval)
        )
    return comparisons


def _macro(per_set: Sequence[Mapping[str, float]]) -> dict[str, float]:
    names = set.intersection(*(set(metrics) for metrics in per_set)) if per_set else set()
    return {name: sum(m[name] for m in per_set) / len(per_set) for name in sorted(names)}
