"""Parse documents with ``unstructured``: elements with their kind, page and section title."""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chunkwise.connectors.offline import quiet_telemetry, use_shipped_spacy_model
from chunkwise.pipeline.errors import ConfigurationError, ParseError
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Document, Element

logger = logging.getLogger(__name__)

PDF_STRATEGIES = ("fast", "auto", "hi_res", "ocr_only")
SEPARATOR = "\n\n"
_TEXT_FORMATS = frozenset({".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm", ".xhtml"})
# Running heads, footers and page numbers repeat on every page and only add noise to chunks.
DEFAULT_SKIPPED_KINDS = frozenset({"Header", "Footer", "PageBreak", "PageNumber"})

_PARTITIONERS = {
    ".md": "unstructured.partition.md:partition_md",
    ".markdown": "unstructured.partition.md:partition_md",
    ".txt": "unstructured.partition.text:partition_text",
    ".text": "unstructured.partition.text:partition_text",
    ".rst": "unstructured.partition.text:partition_text",
    ".html": "unstructured.partition.html:partition_html",
    ".htm": "unstructured.partition.html:partition_html",
    ".xhtml": "unstructured.partition.html:partition_html",
    ".pdf": "chunkwise.connectors.pdf_text:partition_pdf_text",  # the text layer ("fast")
    ".docx": "unstructured.partition.docx:partition_docx",
}


# Strategies other than "fast" run layout or OCR models: unstructured's own PDF partitioner, which
# needs unstructured-inference (the pdf-layout extra) and, for hi_res, a model from the Hugging Face hub.
_LAYOUT_PDF = "unstructured.partition.pdf:partition_pdf"
_AUTO = "unstructured.partition.auto:partition"  # other extensions: unstructured detects the format


class UnstructuredParser:
    """Turns .md, .txt, .html, .pdf, .docx (and what ``unstructured`` auto-detects) into a Document.

    The document text is the elements' texts joined by blank lines; each
    :class:`~pipeline.types.Element` records its exact span in that text, its kind
    (``Title``, ``NarrativeText``, ``ListItem``, ...), page number and section title.
    PDFs use the ``fast`` strategy (the text layer, read by :mod:`chunkwise.connectors.pdf_text`)
    unless ``pdf_strategy`` says otherwise.

    Example::

        parser = UnstructuredParser()
        document = parser.parse(SourceItem(uri="/docs/a.md", name="a.md"), Path("/docs/a.md").read_bytes())
        title = document.elements[0]
        assert document.text[title.start:title.end] == "Installation"
    """

    def __init__(
        self,
        pdf_strategy: str = "fast",
        skipped_kinds: Iterable[str] = DEFAULT_SKIPPED_KINDS,
        languages: Iterable[str] = ("eng",),
    ) -> None:
        if pdf_strategy not in PDF_STRATEGIES:
            raise ConfigurationError(f"pdf_strategy ({pdf_strategy!r}) must be one of {PDF_STRATEGIES}")
        self.pdf_strategy = pdf_strategy
        self.skipped_kinds = frozenset(skipped_kinds)
        self.languages = tuple(languages)

    @property
    def settings(self) -> str:
        skipped = ",".join(sorted(self.skipped_kinds))
        pdf = "text-layer" if self.pdf_strategy == "fast" else self.pdf_strategy
        return f"unstructured;pdf={pdf};languages={','.join(self.languages)};skip={skipped}"

    def parse(self, item: SourceItem, data: bytes) -> Document:
        if not data:
            raise ParseError("the file is empty")
        raw_elements = self._partition(item, data)
        text, elements = assemble(raw_elements, self.skipped_kinds)
        if not text.strip():
            raise ParseError(_why_no_text(item, data))
        return Document(
            id="",
            source=item.uri,
            text=text,
            content_hash="",
            elements=tuple(elements),
            metadata={"filename": item.name, "format": item.extension.lstrip(".") or "unknown"},
        )

    def _partition(self, item: SourceItem, data: bytes) -> list[Any]:
        quiet_telemetry()
        use_shipped_spacy_model()
        layout = item.extension == ".pdf" and self.pdf_strategy != "fast"
        partition = _partitioner(_LAYOUT_PDF if layout else _PARTITIONERS.get(item.extension, _AUTO))
        options: dict[str, Any] = {"file": io.BytesIO(data), "metadata_filename": item.name}
        if item.extension in _TEXT_FORMATS and _is_utf8(data):
            # Valid UTF-8 is read as such: unstructured would otherwise guess an encoding, and a
            # guess can be wrong on plain ASCII (``~{`` made one file decode as Chinese "hz").
            options["encoding"] = "utf-8-sig"
        if item.extension == ".pdf":
            options.update(strategy=self.pdf_strategy, languages=list(self.languages))
        try:
            return list(partition(**options))
        except Exception as error:
            raise ParseError(f"{item.extension or 'file'} could not be parsed: {_reason(error)}") from error


def assemble(raw_elements: Iterable[Any], skipped_kinds: frozenset[str]) -> tuple[str, list[Element]]:
    """Join elements' texts with blank lines, recording each element's exact span and section."""
    parts: list[str] = []
    elements: list[Element] = []
    offset = 0
    section: str | None = None
    for raw in raw_elements:
        kind = getattr(raw, "category", type(raw).__name__)
        content = (getattr(raw, "text", "") or "").strip()
        if not content or kind in skipped_kinds:
            continue
        if kind == "Title":
            section = content
        if parts:
            offset += len(SEPARATOR)
        page = getattr(getattr(raw, "metadata", None), "page_number", None)
        elements.append(
            Element(kind=kind, start=offset, end=offset + len(content), page=page, section=section)
        )
        parts.append(content)
        offset += len(content)
    return SEPARATOR.join(parts), elements


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _partitioner(target: str) -> Callable[..., Any]:
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        hint = " (pip install 'chunkwise[pdf-layout]')" if target == _LAYOUT_PDF else ""
        raise ParseError(f"this needs a package that is not installed{hint}: {error}") from error
    return getattr(module, function_name)


def _why_no_text(item: SourceItem, data: bytes) -> str:
    if item.extension != ".pdf":
        return "no text could be extracted"
    if b"%%EOF" not in data[-4096:]:
        return "no text could be extracted: the PDF is truncated or damaged (it has no end-of-file marker)"
    return "no text could be extracted: the PDF has no text layer (scanned pages need OCR)"


# pdfminer's errors for a PDF whose text is encrypted with a password it was not given
_ENCRYPTED_PDF_ERRORS = frozenset({"PDFPasswordIncorrect", "PDFEncryptionError", "PDFEncryptionWarning"})


def _reason(error: BaseException) -> str:
    if "Unable to determine file encoding" in str(error):
        return "the text is in no encoding that could be detected (binary data?)"
    if type(error).__name__ in _ENCRYPTED_PDF_ERRORS:
        return "encrypted PDF: its text needs a password to read"
    message = str(error).strip().splitlines()
    first = message[0][:300] if message else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
