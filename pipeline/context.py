"""Contextual headers: the document's title and a chunk's section, to embed beside the chunk.

A chunk cut from the middle of a page often does not say what the page is about. Prepending
the document title and the section the chunk falls under to the text that is *embedded* (never
to the text that is stored: spans stay exact) gives its vector that context. The header is cut
to a token budget so that header and chunk together still fit the model's input.

Example::

    header = context_header(document, chunk)             # "Installing packages — Pinning versions"
    text_to_embed = join_header(header, chunk.text)      # "Installing packages — Pinning versions\\n\\n..."
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from chunkwise.pipeline.types import Chunk, Document

HEADER_TOKENS = 32  # the most model tokens a header may take
SEPARATOR = " — "


def document_title(document: Document) -> str:
    """The document's title: its ``title`` metadata, else its first title element, else its file name."""
    given = str(document.metadata.get("title") or "").strip()
    if given:
        return given
    for element in document.elements:
        if element.kind == "Title":
            return document.text[element.start : element.end].strip()
    name = str(document.metadata.get("filename") or PurePosixPath(document.source).name)
    return name.rsplit(".", 1)[0] if "." in name else name


def context_header(document: Document, chunk: Chunk) -> str:
    """The document title and the chunk's section title (when it has another), joined."""
    title = document_title(document)
    section = str(chunk.metadata.get("section") or "").strip()
    parts = [part for part in (title, section) if part]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts.pop()
    return SEPARATOR.join(parts)


def join_header(header: str, text: str) -> str:
    """The text to embed for a chunk under ``header``."""
    return f"{header}\n\n{text}" if header else text


def fit_header(header: str, fits: Callable[[str], bool]) -> str:
    """``header`` cut between words, from its end, until ``fits`` accepts it (``""`` if nothing does).

    Example::

        fit_header(header, lambda h: tokenizer.count(h) <= 32)
    """
    words = header.split()
    while words and not fits(" ".join(words)):
        words.pop()
    return " ".join(words)
