"""Paired bootstrap intervals over several sets, and the macro comparison built on them."""

from __future__ import annotations

import numpy as np
import pytest

from chunkwise.pipeline.evaluation.bootstrap import paired_bootstrap
from chunkwise.pipeline.evaluation.comparison import SetScores, compare


def test_a_constant_gain_has_a_zero_width_interval_at_that_gain() -> None:
    base = [0.2, 0.5, 0.7, 0.1]
    interval = paired_bootstrap({"a": ([b + 0.1 for b in base], base)})

    assert (interval.mean, interval.low, interval.high) == pytest.approx((0.1, 0.1, 0.1))
    assert interval.excludes_zero


def test_noise_around_no_difference_gives_an_interval_around_zero() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(200)
    new = base + rng.normal(0, 0.2, 200)
    new -= (new - base).mean()  # no difference on average

    interval = paired_bootstrap({"a": (new, base)})

    assert interval.low < 0 < interval.high
    assert not interval.excludes_zero


def test_sets_weigh_the_same_whatever_their_size() -> None:
    small = ([1.0] * 10, [0.0] * 10)  # +1 on 10 queries
    large = ([0.0] * 1000, [0.0] * 1000)  # 0 on 1000 queries

    interval = paired_bootstrap({"small": small, "large": large})

    assert interval.mean == pytest.approx(0.5)


def test_the_same_inputs_give_the_same_interval() -> None:
    rng = np.random.default_rng(2)
    pairs = {"a": (rng.random(50), rng.random(50)), "b": (rng.random(30), rng.random(30))}

    assert paired_bootstrap(pairs) == paired_bootstrap(pairs)


def test_scores_of_other_queries_are_refused() -> None:
    with pytest.raises(ValueError, match="same queries"):
        paired_bootstrap({"a": ([0.1, 0.2], [0.1])})
    with pytest.raises(ValueError, match="no sets"):
        paired_bootstrap({})


def test_compare_gives_macro_averages_and_intervals_against_the_baseline() -> None:
    scores = [
        SetScores("base", "a", {"ndcg": 0.4}, [0.4, 0.4]),
        SetScores("new", "a", {"ndcg": 0.6}, [0.6, 0.6]),
        SetScores("base", "b", {"ndcg": 0.2}, [0.2, 0.2, 0.2]),
        SetScores("new", "b", {"ndcg": 0.3}, [0.3, 0.3, 0.3]),
        SetScores("only-a", "a", {"ndcg": 0.9}, [0.9, 0.9]),  # not on every set: left out
    ]

    rows = {row.config: row for row in compare(scores, baseline="base")}

    assert set(rows) == {"base", "new"}
    assert rows["new"].macro == {"ndcg": pytest.approx(0.45)}
    assert rows["new"].interval is not None
    assert rows["new"].interval.mean == pytest.approx(0.15)
    assert rows["base"].interval is None
    assert rows["new"].datasets == ("a", "b")
