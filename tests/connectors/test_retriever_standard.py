"""langchain-tests' standard retriever integration suite, run on a real chunkwise collection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests
from retriever_corpus import COLLECTION, ingest, write_corpus

from chunkwise.connectors.retriever import ChunkwiseRetriever
from chunkwise.connectors.stores import Store, open_store


@pytest.fixture(scope="module")
def collection_store(tmp_path_factory: pytest.TempPathFactory, encoder) -> Iterator[Store]:
    corpus = write_corpus(tmp_path_factory.mktemp("standard-corpus"))
    with open_store(str(tmp_path_factory.mktemp("standard") / "qdrant")) as store:
        ingest(corpus, store, encoder)
        yield store


class TestChunkwiseRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _collection(self, collection_store: Store, encoder) -> None:
        self._params = {"store": collection_store, "collection": COLLECTION, "encoder": encoder}

    @property
    def retriever_constructor(self) -> type[ChunkwiseRetriever]:
        return ChunkwiseRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self._params

    @property
    def retriever_query_example(self) -> str:
        return "Which package owns a file on the disk?"
