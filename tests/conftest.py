"""Shared fixtures: the real tokenizers, the bundled MiniLM encoder, the sample corpus."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from chunkwise.flows.environment import quiet_libraries

# Deterministic by default (the same examples every run); HYPOTHESIS_PROFILE=explore searches anew.
settings.register_profile("default", max_examples=60, derandomize=True)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Workers of pytest-xdist share the cores: each, and every process it starts, gets its share of
# threads (torch reads this when first imported, which no import above does).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
# The suite proves that nothing needs the network: the model, encodings and spaCy data are local.
os.environ["HF_HUB_OFFLINE"] = "1"
# Model descriptions are remembered in a folder of the suite's own, never the user's cache.
os.environ["CHUNKWISE_CACHE_DIR"] = tempfile.mkdtemp(prefix="chunkwise-tests-cache-")
quiet_libraries()

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "examples" / "data"


@pytest.fixture(scope="session")
def tiktoken_tokenizer():
    from chunkwise.connectors.tokenizers import TiktokenTokenizer

    return TiktokenTokenizer("cl100k_base")


@pytest.fixture(scope="session")
def encoder():
    from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def model_tokenizer(encoder):
    return encoder.tokenizer


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA


class CollectionState:
    """Every point of a collection: its payload, vector and term weights, by id, to compare two builds."""

    def __init__(self, store, collection: str) -> None:
        self.points = {point.id: point for point in store.points(collection)}

    def assert_same_as(self, clean: CollectionState) -> None:
        """Same ids, payloads and term weights; vectors equal up to float noise (batches differ)."""
        assert self.points.keys() == clean.points.keys()
        for point_id, point in self.points.items():
            expected = clean.points[point_id]
            assert point.payload == expected.payload, point_id
            assert point.sparse == expected.sparse, point_id
            np.testing.assert_allclose(point.vector, expected.vector, atol=2e-5, err_msg=point_id)


@pytest.fixture(scope="session")
def collection_state():
    """``collection_state(store, collection)`` reads every point of a collection."""
    return CollectionState


def _store_lock_is_free(folder: Path) -> bool:
    """Whether nothing holds the embedded store's lock, this process included (flock locks are per
    open file, so a new open sees a lock this process holds through another)."""
    with open(folder / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


@pytest.fixture(scope="session")
def store_lock_is_free():
    """``store_lock_is_free(folder)``: no process, this one included, holds the store at ``folder``."""
    return _store_lock_is_free
