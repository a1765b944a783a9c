"""The store conformance kit (``chunkwise.testing``) run against chunkwise's own stores.

Qdrant Edge (the embedded default) and qdrant-client's local mode, in memory and on disk (the
server's stand-in: no Qdrant server can run here).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chunkwise.connectors.stores import Store, open_store
from chunkwise.testing import PersistenceTests, StoreConformance


class TestQdrantEdge(StoreConformance, PersistenceTests):
    shares_folder_in_process = True

    @pytest.fixture
    def location(self, tmp_path: Path) -> str:
        return str(tmp_path / "edge")

    @pytest.fixture
    def store(self, location: str) -> Iterator[Store]:
        with open_store(location) as opened:
            yield opened


class TestQdrantClientLocal(StoreConformance, PersistenceTests):
    @pytest.fixture
    def location(self, tmp_path: Path) -> str:
        return f"local:{tmp_path / 'local'}"

    @pytest.fixture(params=["memory", "disk"])
    def store(self, request: pytest.FixtureRequest, location: str) -> Iterator[Store]:
        with open_store(":memory:" if request.param == "memory" else location) as opened:
            yield opened
