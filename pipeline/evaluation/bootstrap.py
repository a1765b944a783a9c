"""Paired bootstrap confidence intervals for differences between configurations, over several sets.

Two configurations scored on the same queries give one difference per query. Resampling the
queries of each set with replacement (each set keeps its size, so every set keeps its weight)
and averaging per set, then over sets (the macro average), gives the distribution of the macro
difference; its percentiles are the interval. Seeded: the same inputs give the same interval.

Example::

    interval = paired_bootstrap({"faq": (new_faq, base_faq), "manual": (new_man, base_man)})
    interval.mean, interval.low, interval.high   # macro difference and its 95% interval
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20261206


@dataclass(frozen=True, slots=True)
class Interval:
    """A macro-averaged difference with its ``level`` confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or wholly below zero."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return {"mean": round(self.mean, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


def paired_bootstrap(
    pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """The macro difference ``new - base`` over sets and its paired bootstrap interval.

    ``pairs`` maps each set's name to the per-query scores ``(new, base)`` of the same queries
    in the same order.
    """
    if not pairs:
        raise ValueError("no sets to compare")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    macro_samples = np.zeros(resamples)
    means = []
    for name in sorted(pairs):
        new, base = (np.asarray(scores, dtype=np.float64) for scores in pairs[name])
        if new.shape != base.shape or new.ndim != 1 or not len(new):
            raise ValueError(f"set {name!r}: the two configurations must score the same queries")
        differences = new - base
        means.append(differences.mean())
        picks = rng.integers(0, len(differences), size=(resamples, len(differences)))
        macro_samples += differences[picks].mean(axis=1)
    macro_samples /= len(pairs)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(macro_samples, [tail, 100 - tail])
    return Interval(float(np.mean(means)), float(low), float(high), level)
