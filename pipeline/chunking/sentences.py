"""Rule-based sentence splitting that keeps exact character offsets.

A sentence ends after ``.``, ``!``, ``?`` or ``…`` (possibly repeated, as in ``?!`` or ``...``)
and any closing quotes or brackets, when white space and a character that is not a lowercase
letter follow. It does not end after a known abbreviation (``Dr.``, ``etc.``), a single letter
or dotted letters (``J. Smith``, ``e.g.``, ``U.S.``), nor inside numbers (``3.85``, ``v1.2.3``).
CJK full stops (``。！？``) end a sentence without white space after them; a blank line always
ends one.
"""

from __future__ import annotations

import re

from chunkwise.pipeline.chunking.text_spans import trim

_BOUNDARY = re.compile(
    r"""
    (?P<blank>\n[^\S\n]*\n)                         # a blank line
    | [。！？]+[」』）〕】]*(?=\s*\S)                  # CJK full stops: no space needed
    | (?P<stop>[.!?…]+)[)\]}"'”’»]*(?=\s+(?P<next>\S))  # terminators, closers, space, next sentence
    """,
    re.VERBOSE,
)
_DOTTED_LETTERS = re.compile(r"[^\W\d_](?:\.[^\W\d_])*")  # "J", "e.g", "U.S", "a.m"
_OPENERS = "([{\"'“‘«"
ABBREVIATIONS = frozenset(
    {"etc", "vs", "Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Gen", "Gov", "Rev"}
    | {"Fig", "fig", "Figs", "Eq", "Eqs", "Vol", "vol", "pp", "cf", "Cf", "al", "approx", "ca", "Dept"}
    | {"Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"}
)
NUMBER_ABBREVIATIONS = frozenset({"No", "Nos", "Nr"})  # abbreviations only before a number: "No. 5"


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences of ``text[start:end]``, in order.

    Every span is trimmed (no leading or trailing white space) and every non-space character
    of the range lies in exactly one span.

    Example::

        text = "Dr. Smith arrived at 9.30 a.m. today. Was he late?! No."
        [text[a:b] for a, b in sentence_spans(text)]
        # -> ['Dr. Smith arrived at 9.30 a.m. today.', 'Was he late?!', 'No.']
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    piece_start = start
    for match in _BOUNDARY.finditer(text, start, end):
        if _ends_sentence(text, match, start):
            _append_trimmed(spans, text, piece_start, match.end())
            piece_start = match.end()
    _append_trimmed(spans, text, piece_start, end)
    return spans


def _ends_sentence(text: str, match: re.Match[str], floor: int) -> bool:
    """Whether a candidate boundary really ends a sentence (see the module docstring)."""
    if match.group("stop") is None:
        return True  # a blank line or a CJK full stop
    if match.group("next").islower():
        return False  # "... and so on", "Really?" she asked
    if match.group("stop") != ".":
        return True
    word_start = match.start("stop")
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : match.start("stop")].lstrip(_OPENERS)
    if word in NUMBER_ABBREVIATIONS:
        return not match.group("next").isdigit()
    return not (word in ABBREVIATIONS or _DOTTED_LETTERS.fullmatch(word))


def _append_trimmed(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    start, end = trim(text, start, end)
    if end > start:
        spans.append((start, end))
