"""Adapters that implement ``pipeline``'s protocols with real libraries.

Heavy libraries (unstructured, torch, sentence-transformers, qdrant-client, Qdrant Edge, tiktoken) are
imported inside the adapters, on first use, so importing this package stays cheap. The retriever and
the answer chain, built on langchain-core, load it when first named (``connectors.open_retriever``).
"""

from typing import Any

from connectors.bm25_encoder import Bm25Encoder
from connectors.filesystem_source import DEFAULT_INCLUDE, FileSystemSource
from connectors.jsonl_corpus_source import JsonlCorpusSource
from connectors.late_encoder import LateChunkingEncoder
from connectors.offline import DEFAULT_MODEL, resolve_model, seed_tiktoken_cache
from connectors.qdrant_edge_store import QdrantEdgeStore
from connectors.qdrant_server_store import QdrantServerStore
from connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from connectors.stores import open_store
from connectors.tokenizers import HuggingFaceTokenizer, TiktokenTokenizer
from connectors.unstructured_parser import UnstructuredParser

_LANGCHAIN_NAMES = {
    "ChunkwiseRetriever": "connectors.retriever",
    "open_retriever": "connectors.retriever",
    "rag_chain": "connectors.rag",
}


def __getattr__(name: str) -> Any:
    if name in _LANGCHAIN_NAMES:
        import importlib

        return getattr(importlib.import_module(_LANGCHAIN_NAMES[name]), name)
    raise AttributeError(f"module 'connectors' has no attribute {name!r}")


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
