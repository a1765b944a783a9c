"""Late chunking with any transformers / sentence-transformers model: token vectors pooled per chunk."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from connectors.offline import DEFAULT_MODEL
from connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from connectors.tokenizers import HuggingFaceTokenizer
from pipeline.errors import ConfigurationError, EncoderError
from pipeline.late_chunking import SpanPooler, Window, plan_windows
from pipeline.types import Chunk, Document, EncoderSpec

logger = logging.getLogger(__name__)

DEFAULT_LATE_OVERLAP = 32

Spans = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class _DocumentTokens:
    ids: list[int]
    starts: list[int]
    windows: list[Window]


class LateChunkingEncoder:
    """Embeds chunks in the context of their whole document (late chunking), window by window.

    ``window`` is the model input per pass, special tokens included (default: the input length
    the model is configured for in sentence-transformers, 256 for MiniLM; at most the model's
    position limit); consecutive windows share ``overlap`` tokens of context (default 32: it gives
    each window's first tokens the left context they lack; on the Debian FAQ evaluation set, +3.8
    to +7.2 points of passage nDCG@10 over no overlap at W=256). Windows of
    all documents in a call are sorted by length and run in padded batches of ``batch_size``,
    so memory is bounded by ``batch_size × window`` whatever the document length. Queries are
    embedded as usual, by the same model.

    Example::

        late = LateChunkingEncoder(window=256, overlap=32)
        vectors = late.encode_chunks(document_text, [(0, 120), (121, 480)])   # (2, 384)
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        window: int | None = None,
        overlap: int = DEFAULT_LATE_OVERLAP,
        batch_size: int = 16,
        device: str | None = None,
        normalize: bool = True,
        trust_remote_code: bool = False,
    ) -> None:
        if window is not None and window < 3:
            raise ConfigurationError(f"window ({window}) must be >= 3")
        if overlap < 0:
            raise ConfigurationError(f"late overlap ({overlap}) must be >= 0")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size ({batch_size}) must be >= 1")
        self.base = SentenceTransformerEncoder(
            model, device=device, normalize=normalize, trust_remote_code=trust_remote_code
        )
        self.requested_window = window
        self.overlap = overlap
        self.batch_size = batch_size
        self._prompt: list[int] | None = None
        self._wrapping: tuple[list[int], list[int]] | None = None

    @classmethod
    def from_encoder(
        cls,
        encoder: SentenceTransformerEncoder,
        *,
        window: int | None = None,
        overlap: int = DEFAULT_LATE_OVERLAP,
        batch_size: int = 16,
    ) -> LateChunkingEncoder:
        """A late-chunking encoder sharing ``encoder``'s model (loaded once for both)."""
        late = cls(encoder.model_name, window=window, overlap=overlap, batch_size=batch_size)
        late.base = encoder
        return late

    @property
    def normalize(self) -> bool:
        """Whether chunk vectors are L2-normalised (as the base encoder's are)."""
        return self.base.normalize

    @property
    def spec(self) -> EncoderSpec:
        return self.base.spec

    @property
    def tokenizer(self) -> HuggingFaceTokenizer:
        return self.base.tokenizer

    @property
    def window(self) -> int:
        """Tokens per model pass, special tokens included."""
        limit = self._max_positions()
        if self.requested_window is None:
            configured = self.base.max_seq_length
            return min(configured, limit) if configured else limit
        if self.requested_window > limit:
            raise ConfigurationError(
                f"window ({self.requested_window}) exceeds the model's maximum input ({limit})"
            )
        return self.requested_window

    @property
    def config(self) -> dict[str, Any]:
        return {"strategy": "late", "late_window": self.window, "late_overlap": self.overlap}

    def encode_query(self, text: str) -> np.ndarray:
        return self.base.encode_query(text)

    def embed(self, batch: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[np.ndarray]:
        """Vectors of each document's chunks, pooled from the document's contextual token vectors."""
        return self.encode_chunks_many([(d.text, [(c.start, c.end) for c in chunks]) for d, chunks in batch])

    def encode_chunks(self, text: str, spans: Spans) -> np.ndarray:
        return self.encode_chunks_many([(text, spans)])[0]

    def encode_chunks_many(self, documents: Sequence[tuple[str, Spans]]) -> list[np.ndarray]:
        """Late-chunked vectors for several documents, their windows batched together."""
        self._transformer()  # fail early, and clearly, for models without token embeddings
        tokens = [self._tokenize(text) for text, _ in documents]
        dimension = self.spec.dimension
        poolers = [
            SpanPooler(t.starts, spans, dimension) for t, (_, spans) in zip(tokens, documents, strict=True)
        ]
        jobs = [(doc, k) for doc, t in enumerate(tokens) for k in range(len(t.windows))]
        jobs.sort(key=lambda job: _length(tokens[job[0]].windows[job[1]]))
        for first in range(0, len(jobs), self.batch_size):
            batch = jobs[first : first + self.batch_size]
            hidden = self._forward(
                [self._window_ids(tokens[doc], tokens[doc].windows[k]) for doc, k in batch]
            )
            for (doc, k), states in zip(batch, hidden, strict=True):
                self._pool_window(poolers[doc], tokens[doc], k, states, len(documents[doc][1]))
        return [pooler.result(self.normalize) for pooler in poolers]

    def _pool_window(
        self, pooler: SpanPooler, tokens: _DocumentTokens, k: int, states: np.ndarray, chunks: int
    ) -> None:
        window = tokens.windows[k]
        prefix = self._prefix_length()
        first_kept = prefix + (window.keep_from - window.start)
        last = prefix + (window.end - window.start)
        pooler.add_tokens(window.keep_from, states[first_kept:last])
        if k == 0:
            for position in range(prefix):
                pooler.add_to_chunk(0, states[position])
        if k == len(tokens.windows) - 1:
            for position in range(last, len(states)):
                pooler.add_to_chunk(chunks - 1, states[position])

    def _tokenize(self, text: str) -> _DocumentTokens:
        ids, starts = self.tokenizer.ids_and_starts(text)
        reserved = sum(map(len, self._special_wrapping())) + len(self._prompt_ids())
        windows = plan_windows(len(ids), self.window, self.overlap, reserved)
        return _DocumentTokens(ids=ids, starts=starts, windows=windows)

    def _window_ids(self, tokens: _DocumentTokens, window: Window) -> list[int]:
        prefix, suffix = self._special_wrapping()
        return prefix + self._prompt_ids() + tokens.ids[window.start : window.end] + suffix

    def _special_wrapping(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after a text (BERT: [CLS], [SEP])."""
        if self._wrapping is None:
            tokenizer = self.tokenizer.tokenizer
            bare = tokenizer("late", add_special_tokens=False)["input_ids"]
            wrapped = tokenizer("late", add_special_tokens=True)["input_ids"]
            at = next(i for i in range(len(wrapped)) if wrapped[i : i + len(bare)] == bare)
            self._wrapping = (wrapped[:at], wrapped[at + len(bare) :])
        return self._wrapping

    def _prompt_ids(self) -> list[int]:
        """Token ids of the model's document prompt (e.g. ``search_document: ``), if it has one."""
        if self._prompt is None:
            prompts = getattr(self.base.model, "prompts", None) or {}
            text = prompts.get("document") or ""
            self._prompt = self.tokenizer.encode(text) if text else []
        return self._prompt

    def _forward(self, inputs: list[list[int]]) -> list[np.ndarray]:
        """Last hidden states of each input (padded to the batch's longest), without the padding."""
        import torch

        transformer = self._transformer()
        pad_id = self.tokenizer.tokenizer.pad_token_id or 0
        longest = max(len(ids) for ids in inputs)
        input_ids = torch.full((len(inputs), longest), pad_id, dtype=torch.long)
        attention = torch.zeros((len(inputs), longest), dtype=torch.long)
        for row, ids in enumerate(inputs):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
        device = next(transformer.parameters()).device
        with torch.inference_mode():
            output = transformer(input_ids=input_ids.to(device), attention_mask=attention.to(device))
        states = output[0].float().cpu().numpy()
        return [states[row, : len(ids)] for row, ids in enumerate(inputs)]

    def _transformer(self) -> Any:
        model = self.base.token_model
        if model is None:
            raise EncoderError(
                f"{self.base.model_name} gives no token embeddings (its first module is "
                f"{type(self.base.model[0]).__name__}); late chunking needs a transformer model"
            )
        return model

    def _max_positions(self) -> int:
        positions = self.base.max_positions
        if positions is None:
            self._transformer()  # a model without token embeddings: say so
            raise EncoderError(f"{self.base.model_name} does not say its maximum input length: pass window=")
        return positions

    def _prefix_length(self) -> int:
        """How many tokens come before the document's in a window ([CLS] and the prompt's)."""
        return len(self._special_wrapping()[0]) + len(self._prompt_ids())


def _length(window: Window) -> int:
    return window.end - window.start
