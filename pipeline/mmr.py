"""Maximal marginal relevance: pick results that are relevant to the query and unlike each other."""

from __future__ import annotations

import numpy as np


def mmr_order(query: np.ndarray, candidates: np.ndarray, k: int, diversity: float = 0.5) -> list[int]:
    """Indices of up to ``k`` rows of ``candidates``, chosen one at a time by maximal marginal relevance.

    Each pick maximises ``(1 - diversity) * sim(query, c) - diversity * max sim(c, picked)``
    (cosine similarities): ``diversity=0`` is the plain ranking by similarity, ``1`` only avoids
    repeats. The first pick is always the candidate most similar to the query.

    Example::

        order = mmr_order(query_vector, np.stack(hit_vectors), k=4, diversity=0.3)
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity ({diversity}) must be between 0 and 1")
    if len(candidates) == 0 or k < 1:
        return []
    vectors = _unit(np.asarray(candidates, dtype=np.float32))
    relevance = vectors @ _unit(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
    similarity = vectors @ vectors.T
    picked = [int(np.argmax(relevance))]
    redundancy = similarity[picked[0]].copy()
    while len(picked) < min(k, len(vectors)):
        scores = (1.0 - diversity) * relevance - diversity * redundancy
        scores[picked] = -np.inf
        choice = int(np.argmax(scores))
        picked.append(choice)
        redundancy = np.maximum(redundancy, similarity[choice])
    return picked


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
