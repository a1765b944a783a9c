"""Adapters that implement ``pipeline``'s protocols with real libraries.

Heavy libraries (unstructured, torch, sentence-transformers, qdrant-client, Qdrant Edge, tiktoken) are
imported inside the adapters, on first use, so importing this package stays cheap.
"""

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

__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_MODEL",
    "Bm25Encoder",
    "FileSystemSource",
    "HuggingFaceTokenizer",
    "JsonlCorpusSource",
    "LateChunkingEncoder",
    "QdrantEdgeStore",
    "QdrantServerStore",
    "SentenceTransformerEncoder",
    "TiktokenTokenizer",
    "UnstructuredParser",
    "open_store",
    "resolve_model",
    "seed_tiktoken_cache",
]
