"""chunkwise's core: data types, protocols, chunking, ids and ``index_documents``.

Plain Python (numpy only): no model, store, parser or orchestrator is imported here.
"""

from pipeline.chunking.sentence_chunker import SentenceChunker
from pipeline.chunking.sentences import sentence_spans
from pipeline.chunking.token_chunker import TokenChunker, TokenLimit
from pipeline.context import context_header
from pipeline.copying import copy_collection
from pipeline.embedding import ChunkEmbedder, IndependentEmbedder, MixedEmbedder
from pipeline.errors import (
    ChunkingError,
    ChunkwiseError,
    ConfigurationError,
    DocumentError,
    EncoderError,
    EncodingError,
    FingerprintMismatchError,
    ParseError,
    SourceError,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from pipeline.fingerprint import Fingerprint
from pipeline.indexing import Progress, index_documents, pipeline_fingerprint
from pipeline.late_chunking import SpanPooler, Window, plan_windows
from pipeline.manifest import DocumentVersion, StoredDocument
from pipeline.points import Point, chunk_payload
from pipeline.protocols import (
    Chunker,
    Encoder,
    Parser,
    ScopedSource,
    Source,
    SparseEncoder,
    Tokenizer,
    VectorStore,
)
from pipeline.report import DocumentFailure, RunReport
from pipeline.source import SourceItem
from pipeline.types import (
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
    "StoreUnavailableError",
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
