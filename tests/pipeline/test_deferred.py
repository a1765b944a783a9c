"""Batches prepared apart (prepare_items) and written later (write_prepared), on a real Qdrant Edge store."""

from __future__ import annotations

from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.chunking.token_chunker import TokenChunker
from chunkwise.pipeline.deferred import DocumentRefresh, prepare_items, write_prepared
from chunkwise.pipeline.ids import document_id
from chunkwise.pipeline.indexing import index_documents, pipeline_fingerprint
from chunkwise.pipeline.source import SourceItem

TEXT = b"The ferry leaves at nine and returns at five. Tickets are sold on board.\n"


class VersionedSource:
    """One text document whose version and metadata the test sets; its bytes never change."""

    def __init__(self) -> None:
        self.item = SourceItem(uri="mem://notes.txt", name="notes.txt", version="v1", metadata={"rev": "1"})
        self.reads = 0

    def items(self) -> list[SourceItem]:
        return [self.item]

    def read(self, item: SourceItem) -> bytes:
        self.reads += 1
        return TEXT


def test_a_prepared_batch_refreshes_a_document_renamed_by_its_source(tmp_path, tiktoken_tokenizer, encoder):
    source, parser = VersionedSource(), UnstructuredParser()
    chunker = TokenChunker(tiktoken_tokenizer, chunk_size=64, chunk_overlap=8)
    with QdrantEdgeStore(tmp_path / "store") as store:
        assert index_documents(source, parser, chunker, encoder, store, "docs").indexed == 1
        source.item = SourceItem(uri="mem://notes.txt", name="notes.txt", version="v2", metadata={"rev": "2"})
        prepared = prepare_items(
            source,
            source.items(),
            parser,
            chunker,
            encoder,
            stored=store.stored_documents("docs"),
            fingerprint=pipeline_fingerprint(encoder, chunker),
        )
        key = document_id("mem://notes.txt")
        assert (prepared.report.indexed, prepared.report.unchanged) == (0, 1)  # the same bytes
        assert prepared.documents == [DocumentRefresh(key, "v2", {"rev": "2"})]

        write_prepared(store, "docs", prepared.documents)

        [point] = store.points("docs", with_vectors=False)
        assert (point.payload["source_version"], point.payload["metadata"]["rev"]) == ("v2", "2")
        reads = source.reads
        again = index_documents(source, parser, chunker, encoder, store, "docs")
        assert (again.unchanged, source.reads) == (1, reads)  # v2 is stored: not read again
