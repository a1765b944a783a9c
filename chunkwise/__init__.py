"""chunkwise: documents in, a Qdrant collection a RAG application can trust out.

One call per job, with the ``chunkwise`` command's defaults: :func:`ingest`, :func:`open_retriever`
(a langchain-core retriever), :func:`query`, :func:`evaluate`, :func:`info`, :func:`verify`,
:func:`repair`, :func:`copy` and :func:`serve`. The parts they are built from live in
``chunkwise.pipeline`` (plain Python), ``chunkwise.connectors`` (parsers, encoders, stores,
retriever) and ``chunkwise.flows`` (Prefect, CLI).

Example::

    import chunkwise

    report = chunkwise.ingest("docs/", collection="docs")
    retriever = chunkwise.open_retriever(collection="docs", k=4)
    print(retriever.invoke("How do I pin a package?")[0].page_content)

Names are loaded on first use, so ``import chunkwise`` stays cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chunkwise.connectors.retriever import ChunkwiseRetriever
    from chunkwise.flows.api import (
        CollectionInfo,
        EvaluationResult,
        copy,
        evaluate,
        info,
        ingest,
        open_retriever,
        query,
        repair,
        serve,
        verify,
    )
    from chunkwise.flows.evaluate import EvalRow
    from chunkwise.flows.settings import IngestOptions, Settings
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
    from chunkwise.pipeline.evaluation.comparison import Comparison
    from chunkwise.pipeline.report import DocumentFailure, RunReport
    from chunkwise.pipeline.types import Fusion
    from chunkwise.pipeline.verify import Verification

try:
    __version__ = version("chunkwise")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

_WHERE = {
    "chunkwise.flows.api": (
        "CollectionInfo",
        "EvaluationResult",
        "copy",
        "evaluate",
        "info",
        "ingest",
        "open_retriever",
        "query",
        "repair",
        "serve",
        "verify",
    ),
    "chunkwise.flows.settings": ("IngestOptions", "Settings"),
    "chunkwise.flows.evaluate": ("EvalRow",),
    "chunkwise.connectors.retriever": ("ChunkwiseRetriever",),
    "chunkwise.pipeline.errors": (
        "ChunkingError",
        "ChunkwiseError",
        "ConfigurationError",
        "DocumentError",
        "EncoderError",
        "EncodingError",
        "FingerprintMismatchError",
        "ParseError",
        "PruneRefusedError",
        "SourceError",
        "StoreError",
        "StoreInUseError",
        "StoreUnavailableError",
    ),
    "chunkwise.pipeline.evaluation.comparison": ("Comparison",),
    "chunkwise.pipeline.report": ("DocumentFailure", "RunReport"),
    "chunkwise.pipeline.types": ("Fusion",),
    "chunkwise.pipeline.verify": ("Verification",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'chunkwise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


__all__ = [
    "ChunkingError",
    "ChunkwiseError",
    "ChunkwiseRetriever",
    "CollectionInfo",
    "Comparison",
    "ConfigurationError",
    "DocumentError",
    "DocumentFailure",
    "EncoderError",
    "EncodingError",
    "EvalRow",
    "EvaluationResult",
    "FingerprintMismatchError",
    "Fusion",
    "IngestOptions",
    "ParseError",
    "PruneRefusedError",
    "RunReport",
    "Settings",
    "SourceError",
    "StoreError",
    "StoreInUseError",
    "StoreUnavailableError",
    "Verification",
    "__version__",
    "copy",
    "evaluate",
    "info",
    "ingest",
    "open_retriever",
    "query",
    "repair",
    "serve",
    "verify",
]
