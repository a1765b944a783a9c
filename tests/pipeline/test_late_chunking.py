"""Window planning and span pooling of late chunking (plain numpy, no model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise.pipeline.errors import ConfigurationError, EncodingError
from chunkwise.pipeline.late_chunking import SpanPooler, Window, plan_windows


def test_windows_follow_the_definition():
    # m = 10 tokens, W = 6 (4 tokens + [CLS] [SEP]), overlap 2: e_k = min(s_k + 4, m), s_{k+1} = e_k - 2
    assert plan_windows(10, 6, 2) == [Window(0, 4, 0), Window(2, 6, 4), Window(4, 8, 6), Window(6, 10, 8)]
    assert plan_windows(4, 6, 2) == [Window(0, 4, 0)]
    assert plan_windows(0, 512, 0) == [Window(0, 0, 0)]


@given(tokens=st.integers(0, 3000), window=st.integers(3, 600), overlap=st.integers(0, 300))
def test_every_token_is_kept_exactly_once(tokens, window, overlap):
    if overlap >= window - 2:
        with pytest.raises(ConfigurationError, match=rf"late overlap \({overlap}\)"):
            plan_windows(tokens, window, overlap)
        return
    windows = plan_windows(tokens, window, overlap)
    kept = [t for w in windows for t in range(w.keep_from, w.end)]
    assert kept == list(range(tokens))
    assert all(w.end - w.start <= window - 2 for w in windows)
    assert all(b.start == a.end - overlap for a, b in itertools.pairwise(windows))


def test_a_window_must_hold_a_token():
    with pytest.raises(ConfigurationError, match=r"window \(2\)"):
        plan_windows(10, 2, 0)


def test_pooling_averages_tokens_whose_start_lies_in_the_span():
    starts = [0, 4, 9, 15]  # four tokens
    vectors = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    pooler = SpanPooler(starts, [(0, 9), (4, 20)], dimension=2)
    pooler.add_tokens(0, vectors[:2])
    pooler.add_tokens(2, vectors[2:])
    means = pooler.result(normalize=False)
    np.testing.assert_allclose(means, [[2.0, 0.0], [1.0, 2.0]])
    normalised = SpanPooler(starts, [(0, 9)], dimension=2)
    normalised.add_tokens(0, vectors)
    np.testing.assert_allclose(normalised.result(), [[1.0, 0.0]])


def test_extra_vectors_join_their_chunk():
    pooler = SpanPooler([0, 5], [(0, 4), (5, 9)], dimension=1)
    pooler.add_tokens(0, np.array([[2.0], [4.0]]))
    pooler.add_to_chunk(0, np.array([0.0]))
    pooler.add_to_chunk(1, np.array([8.0]))
    np.testing.assert_allclose(pooler.result(normalize=False), [[1.0], [6.0]])


def test_a_span_inside_one_long_token_pools_that_token():
    # "aaaa...": the model reads 3,000 repeated letters as one unknown word spanning three chunks
    pooler = SpanPooler([0, 3000], [(0, 1000), (1000, 2000), (2000, 3004)], dimension=1)
    pooler.add_tokens(0, np.array([[2.0], [4.0]]))
    np.testing.assert_allclose(pooler.result(normalize=False), [[2.0], [2.0], [4.0]])


def test_a_span_before_every_token_is_an_error():
    pooler = SpanPooler([5, 9], [(0, 4), (5, 9)], dimension=1)
    pooler.add_tokens(0, np.array([[1.0], [1.0]]))
    with pytest.raises(EncodingError, match="chunk 0 covers no token"):
        pooler.result()
