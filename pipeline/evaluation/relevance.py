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
    """Decides which retrieved chunks are relevant to one query, from the query's qrels.

    ``answers`` maps each relevant document id to its answer texts. For every answer of ``n`` words,
    the word runs of length ``min(match_words, n)`` are precomputed, grouped by that length, so
    :meth:`is_relevant` is a set lookup per run of the chunk. Answers without words never match.

    Example::

        matcher = AnswerMatcher({"doc-7": ["Berlin is the capital of Germany."]})
        matcher.is_relevant("doc-7", "Since 1990, BERLIN is the capital of Germany again.")  # True
        matcher.is_relevant("doc-8", "Since 1990, Berlin is the capital of Germany again.")  # False
    """

    __slots__ = ("_runs", "match_words")

    def __init__(self, answers: Mapping[str, Iterable[str]], match_words: int = MATCH_WORDS) -> None:
        if match_words < 1:
            raise ValueError(f"match_words must be >= 1, got {match_words}")
        self.match_words = match_words
        runs: dict[str, dict[int, set[tuple[str, ...]]]] = {}
        for doc_id, texts in answers.items():
            by_length = runs.setdefault(doc_id, {})
            for text in texts:
                answer = words(text)
                if answer:
                    n = min(match_words, len(answer))
                    by_length.setdefault(n, set()).update(_ngrams(answer, n))
        self._runs: dict[str, dict[int, frozenset[tuple[str, ...]]]] = {
            doc_id: {n: frozenset(grams) for n, grams in sorted(by_length.items())}
            for doc_id, by_length in runs.items()
        }

    @property
    def documents(self) -> frozenset[str]:
        """The ids of the query's relevant documents."""
        return frozenset(self._runs)

    def is_relevant(self, doc_id: str, chunk_text: str) -> bool:
        """Whether a chunk of document ``doc_id`` with text ``chunk_text`` is relevant to the query."""
        by_length = self._runs.get(doc_id)
        if not by_length:
            return False
        chunk = words(chunk_text)
        return any(
            not grams.isdisjoint(_ngrams(chunk, n)) for n, grams in by_length.items() if n <= len(chunk)
        )
