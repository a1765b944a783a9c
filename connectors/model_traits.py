"""What a sentence-transformers model does around its transformer: pooling, prompts, truncation.

Models differ in how a text's token vectors become one vector (mean, CLS, last token, ...), in the
instructions (prompts) put before queries and documents, and in whether their vectors may be cut
short (Matryoshka models). These helpers read the first two from a loaded ``SentenceTransformer``
as sentence-transformers itself applies them, and do the third; a collection's fingerprint records
the options in :data:`EMBEDDING_KEYS` so that its queries are embedded as its documents were.

Example::

    pooling_kind(model)                       # "mean", "cls", "lasttoken", "mean, then Dense", ...
    model_prompts(model)                      # ("query: ", "passage: ") for an E5-style model
    truncate_vectors(vectors, 256)            # the first 256 components of each, renormalised
    encoder_options({"dimensions": 256})      # {"dimensions": 256}: rebuild a collection's encoder
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chunkwise.connectors.onnx_backend import pooling_modes

EMBEDDING_KEYS = ("dimensions", "query_prompt", "document_prompt")
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # as SentenceTransformer.encode_document


def pooling_kind(model: Any) -> str:
    """How ``model`` turns token vectors into one vector: its ``Pooling`` modes joined by ``+``
    (``mean``, ``cls``, ``lasttoken``, ``max``, ``weightedmean``, ``mean_sqrt_len_tokens``), with any
    module after it but ``Normalize`` named (``"mean, then Dense"``), or the class name of whatever
    stands in the pooling's place (a latent attention layer, say)."""
    modules = list(model)
    if len(modules) < 2:
        return "none"
    pooling = modules[1]
    if type(pooling).__name__ != "Pooling":
        return type(pooling).__name__
    kind = "+".join(pooling_modes(pooling)) or "none"
    after = [type(module).__name__ for module in modules[2:] if type(module).__name__ != "Normalize"]
    return f"{kind}, then {' -> '.join(after)}" if after else kind


def includes_prompt(model: Any) -> bool:
    """Whether ``model``'s pooling counts its prompt's tokens (``include_prompt``; True by default)."""
    modules = list(model)
    return len(modules) < 2 or bool(getattr(modules[1], "include_prompt", True))


def model_prompts(model: Any) -> tuple[str, str]:
    """The prompts ``model`` puts before a query and a document, as ``encode_query`` and
    ``encode_document`` choose them: its ``query`` prompt, its first of ``document``, ``passage``
    and ``corpus``, else the prompt of its ``default_prompt_name``; ``""`` for none."""
    prompts: dict[str, str] = dict(getattr(model, "prompts", None) or {})
    default = prompts.get(getattr(model, "default_prompt_name", None) or "", "")
    query = prompts.get("query", default)
    names = [name for name in DOCUMENT_PROMPT_NAMES if name in prompts]
    document = prompts[names[0]] if names else default
    return query or "", document or ""


def truncate_vectors(vectors: np.ndarray, dimensions: int, normalize: bool = True) -> np.ndarray:
    """The first ``dimensions`` components of each vector (the last axis), renormalised unless
    ``normalize`` is False: what a Matryoshka model's vectors are made to be cut to."""
    cut = np.asarray(vectors, dtype=np.float32)[..., :dimensions]
    if not normalize:
        return np.ascontiguousarray(cut)
    return cut / np.maximum(np.linalg.norm(cut, axis=-1, keepdims=True), 1e-12)


def encoder_options(chunking: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder options a collection's fingerprint (its ``chunking`` part) records: Matryoshka
    ``dimensions`` and the ``query_prompt``/``document_prompt`` its vectors were made with, and
    the ``onnx-int8`` backend when its vectors came from int8 weights (queries must too)."""
    options = {key: chunking[key] for key in EMBEDDING_KEYS if key in chunking}
    if chunking.get("model_quantization") == "int8":
        options["backend"] = "onnx-int8"
    return options
