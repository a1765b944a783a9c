"""Default chunking, embedding and fusion options per embedding model, each from a measurement.

How chunks should be embedded depends on the model: late chunking helps long-context models
trained on long inputs and can hurt models trained on short ones. So the defaults come from this
table, one row per measured model with the measurement that justifies it; a model not in the
table gets :data:`ROBUST`, the configuration that held up best across every development set.

Example::

    defaults_for("sentence-transformers/all-MiniLM-L6-v2").options()
    # {"chunking": "fixed", "chunk_size": 200, "chunk_overlap": 20, "headers": True, "late_mix": None}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from chunkwise.connectors.offline import DEFAULT_MODEL
from chunkwise.pipeline.types import Fusion


@dataclass(frozen=True, slots=True)
class ModelDefaults:
    """The defaults of one model, and ``evidence``: where and how they were measured.

    ``fusion`` is how hybrid search (the retriever's default mode) joins the dense and the BM25
    rankings.
    """

    chunking: Literal["fixed", "late"]
    chunk_size: int
    chunk_overlap: int
    headers: bool
    late_mix: float | None
    fusion: Fusion
    evidence: str

    def options(self) -> dict[str, Any]:
        """The ingest options this row sets."""
        return {
            "chunking": self.chunking,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "headers": self.headers,
            "late_mix": self.late_mix,
        }


EVIDENCE = (
    "benchmarks/RESULTS.md, 'Retrieval quality across six sets' (benchmarks/quality.py): best macro "
    "passage nDCG@10 (0.704, +8.2 [+5.8, +10.6] over fixed 128-token dense) over the curl, debian, "
    "fetchmail, perl, vim and zsh FAQ sets of 84 configurations per chunking (fixed, late, late/alone "
    "mixes and side-by-side vectors, headers, dense, BM25, RRF, weighted RRF, DBSF) at token chunks of "
    "128, 200 and 256, 200-token section-bounded chunks and 200-token sentence chunks; late chunking "
    "was not ahead of fixed chunking under headers on the sets taken together (-1.0 [-2.4, +0.4])"
)

ROBUST = ModelDefaults(
    chunking="fixed",
    chunk_size=200,
    chunk_overlap=20,
    headers=True,
    late_mix=None,
    fusion=Fusion("dbsf"),
    evidence=f"measured with all-MiniLM-L6-v2 only, the configuration that held best there: {EVIDENCE}",
)

MEASURED: dict[str, ModelDefaults] = {
    DEFAULT_MODEL: replace(ROBUST, evidence=EVIDENCE),
}


def defaults_for(model: str) -> ModelDefaults:
    """The measured defaults of ``model`` (by hub name or its last part), else :data:`ROBUST`."""
    if model in MEASURED:
        return MEASURED[model]
    by_short_name = {name.rsplit("/", 1)[-1]: row for name, row in MEASURED.items()}
    return by_short_name.get(model, ROBUST)
