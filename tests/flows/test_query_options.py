"""``chunkwise query``'s ``--filter`` and ``--expand`` values, and source globs."""

from __future__ import annotations

import pytest

from chunkwise.connectors.filters import is_glob, matching_values
from chunkwise.flows.query_options import parse_expansion, parse_filters
from chunkwise.pipeline.errors import ConfigurationError


def test_filters_from_key_value_pairs() -> None:
    filters = parse_filters(
        ["source=*/faq/*", "metadata.lang=en", "metadata.lang=de", "chunk_index=0", "metadata.draft=false"]
    )
    assert filters == {
        "source": "*/faq/*",
        "metadata.lang": ["en", "de"],
        "chunk_index": 0,
        "metadata.draft": False,
    }


def test_a_quoted_value_stays_text_and_values_may_hold_equals_signs() -> None:
    assert parse_filters(['metadata.year="2024"', "metadata.query=a=b"]) == {
        "metadata.year": "2024",
        "metadata.query": "a=b",
    }


@pytest.mark.parametrize("pair", ["source", "=x", " =x"])
def test_a_filter_without_key_or_value_separator_is_refused(pair) -> None:
    with pytest.raises(ConfigurationError, match="write KEY=VALUE"):
        parse_filters([pair])


def test_expansion_values() -> None:
    assert parse_expansion("0") == 0 and parse_expansion("3") == 3 and parse_expansion("section") == "section"
    for bad in ("-1", "two", "Section", ""):
        with pytest.raises(ConfigurationError, match="--expand"):
            parse_expansion(bad)


def test_globs_match_sources_and_exact_values_match_themselves() -> None:
    sources = ["/d/faq/a.html", "/d/faq/b.md", "/d/guide/[draft].md", "/d/notes.txt"]
    assert is_glob("*.md") and is_glob("a?.md") and not is_glob("/d/notes.txt")
    assert matching_values(["*/faq/*"], sources) == ["/d/faq/a.html", "/d/faq/b.md"]
    assert matching_values(["*.md", "/d/notes.txt"], sources) == [
        "/d/faq/b.md",
        "/d/guide/[draft].md",
        "/d/notes.txt",
    ]
    assert matching_values(["/d/guide/[draft].md"], sources) == ["/d/guide/[draft].md"]  # literal brackets
    assert matching_values(["*.pdf"], sources) == []
