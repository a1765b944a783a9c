"""Settings read from the environment, and the validated options of an ingest run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chunkwise.connectors.devices import check_device
from chunkwise.connectors.late_encoder import DEFAULT_LATE_OVERLAP
from chunkwise.connectors.model_defaults import defaults_for
from chunkwise.connectors.offline import DEFAULT_MODEL
from chunkwise.connectors.source_rules import DEFAULT_INCLUDE, DEFAULT_MAX_BYTES
from chunkwise.connectors.sources import DEFAULT_MAX_CRAWL_SECONDS, DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAGES
from chunkwise.connectors.unstructured_parser import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_MAX_UNPACKED_BYTES,
)

DEFAULT_STORE = ".chunkwise/qdrant"
DEFAULT_COLLECTION = "chunkwise"
DEFAULT_BATCH_DOCUMENTS = 32  # documents per task of the ingest flow
_DEFAULT_MODEL_ROW = defaults_for(DEFAULT_MODEL)  # the fields' own defaults; any other model's fill in


class Settings(BaseSettings):
    """``CHUNKWISE_STORE``, ``CHUNKWISE_COLLECTION`` and ``QDRANT_API_KEY`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="CHUNKWISE_", extra="ignore")

    store: str = DEFAULT_STORE
    collection: str = DEFAULT_COLLECTION
    qdrant_api_key: SecretStr | None = Field(default=None, validation_alias="QDRANT_API_KEY")


class IngestOptions(BaseModel):
    """Everything that decides how documents are chunked and embedded.

    ``chunking``, ``chunk_size``, ``chunk_overlap``, ``headers`` and ``late_mix`` not given take
    the model's measured defaults (:func:`connectors.model_defaults.defaults_for`). ``include``
    to ``max_bytes``, ``ref`` and the crawl's bounds (``max_pages``, ``max_depth``,
    ``max_crawl_seconds``, ``allow_private_network``) decide what the sources list. ``backend``
    runs the model with PyTorch or ONNX Runtime (see :class:`connectors.SentenceTransformerEncoder`);
    ``device`` (auto, cpu, cuda, cuda:N, mps) and ``precision`` (auto, fp32, fp16) where it runs
    (see :mod:`connectors.devices`; neither is recorded in the collection).
    ``dimensions`` cuts every vector to its first N components, renormalised (Matryoshka models);
    ``query_prompt`` and ``document_prompt`` replace the prompts the model's configuration gives.
    ``sparse_model`` replaces BM25 term weights by a learned sparse model's (SPLADE; see
    :class:`connectors.learned_sparse_encoder.LearnedSparseEncoder`). ``multivector_model`` stores
    each chunk's token vectors from a ColBERT-style model beside its vector (late chunked when
    ``chunking`` is late), at most ``multivector_max_tokens`` per chunk after pooling each
    ``multivector_pool_factor`` adjacent ones (see :mod:`connectors.multivector_encoder`).
    ``alone_vector`` (late chunking) also stores each chunk's vector alone, as the named vector
    ``alone``: dense and hybrid searches then fuse its ranking with the late vectors' (and BM25's).

    Example::

        IngestOptions(chunk_size=128, chunk_overlap=16, tokenizer="model")
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunking: Literal["fixed", "late"] = _DEFAULT_MODEL_ROW.chunking
    chunker: Literal["token", "sentence"] = "token"
    chunk_size: int = Field(default=_DEFAULT_MODEL_ROW.chunk_size, ge=8)
    chunk_overlap: int = Field(default=_DEFAULT_MODEL_ROW.chunk_overlap, ge=0)
    max_sentences: int | None = Field(default=None, ge=1)
    sentence_overlap: int = Field(default=0, ge=0)
    tokenizer: str = "tiktoken"
    boundaries: Literal["words", "elements", "sections"] = "elements"
    model: str = DEFAULT_MODEL
    trust_remote_code: bool = False
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"
    device: str = "auto"  # auto: CUDA, else MPS, else the CPU
    precision: Literal["auto", "fp32", "fp16"] = "auto"  # auto: fp16 on CUDA, fp32 elsewhere
    dimensions: int | None = Field(default=None, ge=1)  # Matryoshka: vectors cut to their first N
    query_prompt: str | None = None  # None: the model's own prompts; "": none
    document_prompt: str | None = None
    late_window: int | None = Field(default=None, ge=3)
    late_overlap: int = Field(default=DEFAULT_LATE_OVERLAP, ge=0)
    late_mix: float | None = Field(default=_DEFAULT_MODEL_ROW.late_mix, ge=0, le=1)
    headers: bool = _DEFAULT_MODEL_ROW.headers
    alone_vector: bool = False  # late: also store each chunk's vector alone, searched beside the late one
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    max_unpacked_bytes: int = Field(default=DEFAULT_MAX_UNPACKED_BYTES, gt=0)
    max_text_chars: int = Field(default=DEFAULT_MAX_TEXT_CHARS, gt=0)
    max_seconds_per_document: float | None = Field(default=DEFAULT_MAX_SECONDS, ge=0)  # 0: no limit
    pdf_strategy: Literal["fast", "auto", "hi_res", "ocr_only"] = "fast"
    ref: str | None = None
    allow_private_network: bool = False
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)
    max_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=0)
    max_crawl_seconds: float = Field(default=DEFAULT_MAX_CRAWL_SECONDS, gt=0)
    sparse: bool = True
    sparse_model: str | None = None  # None: BM25; else a learned sparse (SPLADE) model's name or folder
    quantization: Literal["scalar", "binary"] | None = None
    multivector_model: str | None = None  # a ColBERT-style model's name or folder: token vectors, MaxSim
    multivector_pool_factor: int = Field(default=1, ge=1)  # mean of each run of F adjacent token vectors
    multivector_max_tokens: int | None = Field(default=None, ge=1)  # at most N token vectors per chunk
    batch_chunks: int = Field(default=512, ge=1)
    skip_unchanged: bool = True
    prune: bool = False
    prune_force: bool = False
    reindex: bool = False

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, values: Any) -> Any:
        """Fill the options the model's defaults decide and the caller left out."""
        if not isinstance(values, dict):
            return values
        defaults = defaults_for(str(values.get("model") or DEFAULT_MODEL)).options()
        if values.get("chunking", defaults["chunking"]) != "late":
            defaults["late_mix"] = None  # a mix of late and alone vectors needs late chunking
        return {**defaults, **values}

    @field_validator("device")
    @classmethod
    def _device_name(cls, device: str) -> str:
        """One of auto, cpu, cuda, cuda:N, mps; whether this machine has it is checked by the encoder."""
        return check_device(device)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestOptions:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be < chunk_size ({self.chunk_size})")
        if self.sparse_model is not None and not self.sparse:
            raise ValueError("sparse_model weighs the sparse vectors: it needs sparse on")
        if self.multivector_model is None and (
            self.multivector_pool_factor != 1 or self.multivector_max_tokens is not None
        ):
            raise ValueError("multivector_pool_factor and multivector_max_tokens need a multivector_model")
        if self.late_mix is not None and self.chunking != "late":
            raise ValueError("late_mix mixes late and chunk-alone vectors: it needs chunking 'late'")
        if self.alone_vector and self.chunking != "late":
            raise ValueError(
                "alone_vector stores chunk-alone vectors beside late ones: it needs chunking 'late'"
            )
        if not (self.tokenizer in ("tiktoken", "model") or self.tokenizer.startswith("tiktoken:")):
            raise ValueError(
                f"tokenizer ({self.tokenizer!r}) must be 'tiktoken', 'tiktoken:<encoding>' or 'model'"
            )
        return self
