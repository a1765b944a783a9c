"""chunkwise's core: data types, protocols, chunking, ids and ``index_documents``.

Plain Python (numpy only): no model, store, parser or orchestrator is imported here.
"""

from chunkwise.pipeline.chunking.sentence_chunker import SentenceChunker
from chunkwise.pipeline.chunking.sentences import sentence_spans
from chunkwise.pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from chunkwise.pipeline.context import context_header
from chunkwise.pipeline.copying import copy_collection
from chunkwise.pipeline.embedding import ChunkEmbedder, IndependentEmbedder, MixedEmbedder
from chunkwise.pipeline.errors import (
    ChunkingError,
    ChunkwiseError,
    ConfigurationError,
    DocumentError,
    EncoderError,
    EncodingError,
    FingerprintMismatchError,
    ParseError,
    PruneRefusedError,
    SourceError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from chunkwise.pipeline.fingerprint import Fingerprint
from chunkwise.pipeline.indexing import Progress, index_documents, pipeline_fingerprint
from chunkwise.pipeline.late_chunking import SpanPooler, Window, plan_windows
from chunkwise.pipeline.manifest import DocumentVersion, StoredDocument
from chunkwise.pipeline.points import Point, chunk_payload
from chunkwise.pipeline.protocols import (
    Chunker,
    Encoder,
    Parser,
    ScopedSource,
    Source,
    SparseEncoder,
    StoreReader,
    StoreSearcher,
    StoreWriter,
    Tokenizer,
    VectorStore,
)
from chunkwise.pipeline.report import DocumentFailure, RunReport
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import (
    Chunk,
    Document,
    Element,
    EmbeddedChunk,
    EncoderSpec,
    Fusion,
    SearchHit,
    SparseVector,
)

__all__ = [
    "Chunk",
    "ChunkEmbedder",
    "Chunker",
    "ChunkingError",
    "ChunkwiseError",
    "ConfigurationError",
    "Document",
    "DocumentError",
    "DocumentFailure",
    "DocumentVersion",
    "Element",
    "EmbeddedChunk",
    "Encoder",
    "EncoderError",
    "EncoderSpec",
    "EncodingError",
    "Fingerprint",
    "FingerprintMismatchError",
    "Fusion",
    "IndependentEmbedder",
    "MixedEmbedder",
    "ParseError",
    "Parser",
    "Point",
    "Progress",
    "PruneRefusedError",
    "RunReport",
    "ScopedSource",
    "SearchHit",
    "SentenceChunker",
    "Source",
    "SourceError",
    "SourceItem",
    "SpanPooler",
    "SparseEncoder",
    "SparseVector",
    "StoreError",
    "StoreInUseError",
    "StoreReader",
    "StoreSearcher",
    "StoreUnavailableError",
    "StoreWriter",
    "StoredDocument",
    "TokenChunker",
    "TokenLimit",
    "Tokenizer",
    "VectorStore",
    "Window",
    "chunk_payload",
    "context_header",
    "copy_collection",
    "index_documents",
    "pipeline_fingerprint",
    "plan_windows",
    "sentence_spans",
]
