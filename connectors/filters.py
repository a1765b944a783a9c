"""Retrieval filters: payload values to match, with shell-style globs on ``source``.

Qdrant matches keywords exactly, so a glob is resolved against the collection's distinct
sources (read from the ``source`` index) into the list of sources it matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

GLOB_KEYS = ("source",)
GLOB_CHARACTERS = frozenset("*?[")


def is_glob(value: Any) -> bool:
    """Whether ``value`` is a string with shell wildcards (``*``, ``?``, ``[...]``)."""
    return isinstance(value, str) and any(char in GLOB_CHARACTERS for char in value)


def matching_values(patterns: list[Any], values: list[Any]) -> list[Any]:
    """The ``values`` equal to one of ``patterns`` or matched by one of its globs, in ``values``' order."""
    exact = {pattern for pattern in patterns if isinstance(pattern, str)}
    globs = [re.compile(fnmatch.translate(pattern)).match for pattern in patterns if is_glob(pattern)]
    return [value for value in values if value in exact or any(match(str(value)) for match in globs)]


def resolve_filters(store: Any, collection: str, filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``filters`` as a store matches them: each ``source`` glob replaced by the sources it matches.

    ``None`` when a glob matches no source (nothing can be found); ``{}`` for no filter.

    Example::

        resolve_filters(store, "docs", {"source": "*/faq/*.html", "metadata.lang": "en"})
        # {"source": [".../faq/a.html", ".../faq/b.html"], "metadata.lang": "en"}
    """
    resolved = dict(filters or {})
    for key in GLOB_KEYS:
        value = resolved.get(key)
        patterns = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        if not any(is_glob(pattern) for pattern in patterns):
            continue
        # values read off the index, uncounted: a deleted source may linger, and matches no point
        matched = matching_values(patterns, store.field_values(collection, key, exact=False))
        if not matched:
            return None
        resolved[key] = matched
    return resolved
