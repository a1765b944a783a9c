"""Parse ``chunkwise query``'s ``--filter`` and ``--expand`` values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.passages import SECTION, Expansion

INTEGER = re.compile(r"-?\d+")


def parse_filters(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as retriever filters; a key given several times matches any of its values.

    A value that reads as a whole number or ``true``/``false`` is matched as one; put it in double
    quotes to match it as text (``metadata.year="2024"``). ``source`` values may be globs.

    Example::

        parse_filters(["source=*/faq/*", "metadata.lang=en", "metadata.lang=de"])
        # {"source": "*/faq/*", "metadata.lang": ["en", "de"]}
    """
    filters: dict[str, Any] = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ConfigurationError(
                f"--filter {pair!r}: write KEY=VALUE, as source=*.md or metadata.lang=en"
            )
        value = _value(text)
        if key in filters:
            previous = filters[key]
            filters[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            filters[key] = value
    return filters


def _value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if INTEGER.fullmatch(text):
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_expansion(text: str) -> Expansion:
    """``--expand``: a number of neighbouring chunks on each side, or ``section``."""
    if text == SECTION:
        return SECTION
    if INTEGER.fullmatch(text) and int(text) >= 0:
        return int(text)
    raise ConfigurationError(
        f'--expand {text!r}: give a number of neighbouring chunks (0, 1, 2, ...) or "section"'
    )
