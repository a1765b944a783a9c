"""The passage relevance rule of our evaluation sets.

A retrieved chunk is relevant to a query when its document is one of the query's relevant
documents and the chunk's words contain a run of ``min(10, n)`` consecutive words of one of that
document's answers (``n`` = the answer's word count). Words are ``re.findall(r"\\w+", text.lower())``,
so case and punctuation never matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MATCH_WORDS = 10
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lowercased words of ``text``: ``words("Berlin, the capital!") == ["berlin", "the", "capital"]``."""
    return _WORD.findall(text.lower())


def _ngrams(sequence: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(sequence[i : i + n]) for i in range(len(sequence) - n + 1))


class AnswerMatcher:
    """Decides which retrieved chunks are relevant to one query, and which answer they hold.

    ``answers`` maps each relevant document id to its answer texts. Answers are numbered in that
    order (documents first, then their answers); for each answer of ``n`` words, its word runs of
    length ``min(match_words, n)`` are precomputed, so :meth:`match` is a set lookup per run of the
    chunk. Answers without words never match.

    Example::

        matcher = AnswerMatcher({"doc-7": ["Berlin is the capital of Germany."]})
        matcher.is_relevant("doc-7", "Since 1990, BERLIN is the capital of Germany again.")  # True
        matcher.is_relevant("doc-8", "Since 1990, Berlin is the capital of Germany again.")  # False
        matcher.match("doc-7", "Since 1990, Berlin is the capital of Germany again.")  # 0
    """

    __slots__ = ("_runs", "answers", "match_words")

    def __init__(self, answers: Mapping[str, Iterable[str]], match_words: int = MATCH_WORDS) -> None:
        if match_words < 1:
            raise ValueError(f"match_words must be >= 1, got {match_words}")
        self.match_words = match_words
        self._runs: dict[str, list[tuple[int, int, frozenset[tuple[str, ...]]]]] = {}
        number = 0
        for doc_id, texts in answers.items():
            runs = self._runs.setdefault(doc_id, [])
            for text in texts:
                answer = words(text)
                if answer:
                    n = min(match_words, len(answer))
                    runs.append((number, n, frozenset(_ngrams(answer, n))))
                number += 1
        self.answers = number

    @property
    def documents(self) -> frozenset[str]:
        """The ids of the query's relevant documents."""
        return frozenset(self._runs)

    def match(self, doc_id: str, chunk_text: str) -> int | None:
        """The number of the first answer a chunk of ``doc_id`` holds, or ``None``."""
        runs = self._runs.get(doc_id)
        if not runs:
            return None
        chunk = words(chunk_text)
        chunk_runs: dict[int, set[tuple[str, ...]]] = {}
        for number, n, grams in runs:
            if n <= len(chunk):
                if n not in chunk_runs:
                    chunk_runs[n] = set(_ngrams(chunk, n))
                if not grams.isdisjoint(chunk_runs[n]):
                    return number
        return None

    def is_relevant(self, doc_id: str, chunk_text: str) -> bool:
        """Whether a chunk of document ``doc_id`` with text ``chunk_text`` is relevant to the query."""
        return self.match(doc_id, chunk_text) is not None
