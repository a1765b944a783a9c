"""Late chunking (Günther et al., 2024): pool contextual token vectors over each chunk's span.

The model runs over the whole document, in windows when the document is longer than the model's
input. With ``m`` document tokens (no special tokens), window ``k`` encodes
``[CLS] t[s_k:e_k] [SEP]`` where ``e_k = min(s_k + W - 2, m)``, ``s_0 = 0`` and
``s_{k+1} = e_k - overlap``. Window 0 contributes all its token vectors, window ``k > 0``
those of ``t[s_k + overlap : e_k]``, so each document token gets exactly one contextual vector.
A chunk is the mean of the vectors of the tokens whose start offset lies in its span; the first
window's ``[CLS]`` joins the first chunk and the last window's ``[SEP]`` the last chunk.

This module is the arithmetic only (numpy); running a model is the encoder's job.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chunkwise.pipeline.errors import ConfigurationError, EncodingError


@dataclass(frozen=True, slots=True)
class Window:
    """Tokens ``[start, end)`` of a document encoded together; ``keep_from`` is the first one kept."""

    start: int
    end: int
    keep_from: int


def plan_windows(num_tokens: int, window: int, overlap: int, special_tokens: int = 2) -> list[Window]:
    """The windows covering ``num_tokens`` document tokens, ``window`` tokens each with specials."""
    capacity = window - special_tokens
    if capacity < 1:
        raise ConfigurationError(f"window ({window}) must be > the {special_tokens} special tokens")
    if not 0 <= overlap < capacity:
        raise ConfigurationError(
            f"late overlap ({overlap}) must be >= 0 and < window - {special_tokens} ({capacity})"
        )
    windows = [Window(0, min(capacity, num_tokens), 0)]
    while windows[-1].end < num_tokens:
        start = windows[-1].end - overlap
        windows.append(Window(start, min(start + capacity, num_tokens), start + overlap))
    return windows


class SpanPooler:
    """Accumulates token vectors into chunk means, window by window, in bounded memory.

    Example::

        pooler = SpanPooler(token_starts=[0, 6, 12], spans=[(0, 11), (12, 17)], dimension=384)
        pooler.add_tokens(0, vectors)      # vectors of tokens 0, 1, 2
        chunk_vectors = pooler.result()    # (2, 384), L2-normalised
    """

    def __init__(self, token_starts: Sequence[int], spans: Sequence[tuple[int, int]], dimension: int) -> None:
        self.ranges = [token_range(token_starts, start, end) for start, end in spans]
        self._order = sorted(range(len(self.ranges)), key=lambda chunk: self.ranges[chunk][0])
        self._firsts = [self.ranges[chunk][0] for chunk in self._order]
        self.sums = np.zeros((len(spans), dimension), dtype=np.float64)
        self.counts = np.zeros(len(spans), dtype=np.int64)

    def add_tokens(self, first_token: int, vectors: np.ndarray) -> None:
        """Add the vectors of tokens ``first_token, first_token + 1, ...`` to the chunks holding them."""
        last_token = first_token + len(vectors)
        for chunk in self._order[: bisect.bisect_left(self._firsts, last_token)]:
            start, end = self.ranges[chunk]
            low, high = max(start, first_token), min(end, last_token)
            if low < high:
                self.sums[chunk] += vectors[low - first_token : high - first_token].sum(axis=0)
                self.counts[chunk] += high - low

    def add_to_chunk(self, chunk: int, vector: np.ndarray) -> None:
        """Add one extra vector (a ``[CLS]``, ``[SEP]`` or prompt token) to a chunk's pool."""
        if len(self.ranges):
            self.sums[chunk] += vector
            self.counts[chunk] += 1

    def result(self, normalize: bool = True) -> np.ndarray:
        empty = np.flatnonzero(self.counts == 0)
        if len(empty):
            raise EncodingError(f"chunk {int(empty[0])} covers no token, so it has no vector")
        means = self.sums / self.counts[:, None]
        if normalize:
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return means.astype(np.float32)


def token_range(token_starts: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """The tokens starting in ``[start, end)``; when none does (the chunk lies inside one long
    token, such as a run of characters the model reads as a single unknown word), that token."""
    first, last = bisect.bisect_left(token_starts, start), bisect.bisect_left(token_starts, end)
    if first == last and first > 0:
        return first - 1, first
    return first, last
