"""Adapters that implement ``pipeline``'s protocols with real libraries.

Heavy libraries (unstructured, torch, sentence-transformers, qdrant-client, tiktoken) are
imported inside the adapters, on first use, so importing this package stays cheap.
"""

from connectors.filesystem_source import DEFAULT_INCLUDE, FileSystemSource
from connectors.jsonl_corpus_source import JsonlCorpusSource
from connectors.late_encoder import LateChunkingEncoder
from connectors.offline import DEFAULT_MODEL, resolve_model, seed_tiktoken_cache
from connectors.qdrant_store import QdrantStore
from connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from connectors.tokenizers import HuggingFaceTokenizer, TiktokenTokenizer
from connectors.unstructured_parser import UnstructuredParser

__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_MODEL",
    "FileSystemSource",
    "HuggingFaceTokenizer",
    "JsonlCorpusSource",
    "LateChunkingEncoder",
    "QdrantStore",
    "SentenceTransformerEncoder",
    "TiktokenTokenizer",
    "UnstructuredParser",
    "resolve_model",
    "seed_tiktoken_cache",
]
