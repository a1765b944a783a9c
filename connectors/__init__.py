"""Adapters that implement ``pipeline``'s protocols with real libraries.

Heavy libraries (unstructured, torch, sentence-transformers, qdrant-client, Qdrant Edge, tiktoken) are
imported inside the adapters, on first use, so importing this package stays cheap. The retriever and
the answer chain, built on langchain-core, load it when first named (``connectors.open_retriever``).
"""

from typing import Any

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.filesystem_source import DEFAULT_INCLUDE, FileSystemSource
from chunkwise.connectors.jsonl_corpus_source import JsonlCorpusSource
from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.offline import DEFAULT_MODEL, resolve_model, seed_tiktoken_cache
from chunkwise.connectors.qdrant_edge_store import QdrantEdgeStore
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.connectors.stores import open_store
from chunkwise.connectors.tokenizers import HuggingFaceTokenizer, TiktokenTokenizer
from chunkwise.connectors.unstructured_parser import UnstructuredParser

_LANGCHAIN_NAMES = {
    "ChunkwiseRetriever": "chunkwise.connectors.retriever",
    "open_retriever": "chunkwise.connectors.retriever",
    "rag_chain": "chunkwise.connectors.rag",
}


def __getattr__(name: str) -> Any:
    if name in _LANGCHAIN_NAMES:
        import importlib

        return getattr(importlib.import_module(_LANGCHAIN_NAMES[name]), name)
    raise AttributeError(f"module 'chunkwise.connectors' has no attribute {name!r}")


__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_MODEL",
    "Bm25Encoder",
    "ChunkwiseRetriever",
    "FileSystemSource",
    "HuggingFaceTokenizer",
    "JsonlCorpusSource",
    "LateChunkingEncoder",
    "QdrantEdgeStore",
    "QdrantServerStore",
    "SentenceTransformerEncoder",
    "TiktokenTokenizer",
    "UnstructuredParser",
    "open_retriever",
    "open_store",
    "rag_chain",
    "resolve_model",
    "seed_tiktoken_cache",
]
