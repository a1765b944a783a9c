"""Parse documents with ``unstructured``: elements with their kind, page and section title."""

from __future__ import annotations

import importlib
import io
import logging
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

from chunkwise.connectors.offline import quiet_telemetry, use_shipped_spacy_model
from chunkwise.connectors.parse_worker import ParseWorker
from chunkwise.pipeline.errors import ConfigurationError, ParseError
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Document, Element

logger = logging.getLogger(__name__)

PDF_STRATEGIES = ("fast", "auto", "hi_res", "ocr_only")
SEPARATOR = "\n\n"
_TEXT_FORMATS = frozenset({".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm", ".xhtml"})
_MARKUP = frozenset({".html", ".htm", ".xhtml"})  # much of their size is tags, not text
# Zip-based formats are checked before parsing: their parts may unpack to far more than the file.
_ZIP_FORMATS = frozenset({".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".epub"})
DEFAULT_MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # what a zip-based document may unpack to
DEFAULT_MAX_TEXT_CHARS = 10_000_000  # text of one document: about 1,500 pages, or 5,000 chunks
DEFAULT_MAX_SECONDS = 300.0  # parsing one document (a 500-page PDF's text layer takes about 3 minutes)
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
    unless ``pdf_strategy`` says otherwise. Bounds keep one document from taking the run's memory
    and time: a zip-based file (docx, xlsx, pptx, odt, epub) whose parts unpack to more than
    ``max_unpacked_bytes`` is refused before parsing, and so is a text file longer than
    ``max_text_chars`` (and any document whose extracted text is). With ``max_seconds``, documents
    are parsed in a child process (:class:`~chunkwise.connectors.parse_worker.ParseWorker`) that is
    stopped when one takes longer, so that a pathological file fails alone instead of holding the
    run; a crash of a parsing library then fails its document only. ``max_seconds`` 0 or ``None``:
    no limit, documents are parsed in this process.

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
        max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        max_seconds: float | None = None,
    ) -> None:
        if pdf_strategy not in PDF_STRATEGIES:
            raise ConfigurationError(f"pdf_strategy ({pdf_strategy!r}) must be one of {PDF_STRATEGIES}")
        if max_unpacked_bytes <= 0 or max_text_chars <= 0 or (max_seconds is not None and max_seconds < 0):
            raise ConfigurationError("max_unpacked_bytes and max_text_chars must be > 0, max_seconds >= 0")
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_text_chars = max_text_chars
        self.pdf_strategy = pdf_strategy
        self.skipped_kinds = frozenset(skipped_kinds)
        self.languages = tuple(languages)
        self.max_seconds = max_seconds
        self._worker: ParseWorker | None = None

    @property
    def settings(self) -> str:
        skipped = ",".join(sorted(self.skipped_kinds))
        pdf = "text-layer" if self.pdf_strategy == "fast" else self.pdf_strategy
        return f"unstructured;pdf={pdf};languages={','.join(self.languages)};skip={skipped}"

    def parse(self, item: SourceItem, data: bytes) -> Document:
        if not data:
            raise ParseError("the file is empty")
        self._check_bounds(item, data)
        text, elements = self._in_worker(item, data) if self.max_seconds else self.partitioned(item, data)
        if len(text) > self.max_text_chars:
            raise ParseError(self._too_long(len(text)))
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

    def partitioned(self, item: SourceItem, data: bytes) -> tuple[str, list[Element]]:
        """The document's text and elements, parsed in this process."""
        return assemble(self._partition(item, data), self.skipped_kinds)

    def close(self) -> None:
        """Stop the parsing process, if one runs (the next document starts another)."""
        if self._worker is not None:
            self._worker.close()

    def _in_worker(self, item: SourceItem, data: bytes) -> tuple[str, list[Element]]:
        if self._worker is None:
            options = {
                "pdf_strategy": self.pdf_strategy,
                "skipped_kinds": self.skipped_kinds,
                "languages": self.languages,
                "max_unpacked_bytes": self.max_unpacked_bytes,
                "max_text_chars": self.max_text_chars,
            }
            self._worker = ParseWorker(options, float(self.max_seconds or 0))  # set: see parse()
        return self._worker.partition(item, data)

    def _check_bounds(self, item: SourceItem, data: bytes) -> None:
        """Refuse before parsing what would take far more memory or time than its size suggests."""
        plain_text = item.extension in _TEXT_FORMATS and item.extension not in _MARKUP
        if plain_text and len(data) > self.max_text_chars:  # its characters are at most its bytes
            raise ParseError(
                f"the text file has {len(data):,} bytes, more than max_text_chars "
                f"({self.max_text_chars:,} characters) allows"
            )
        if item.extension in _ZIP_FORMATS:
            unpacked = unpacked_size(data)
            if unpacked is not None and unpacked > self.max_unpacked_bytes:
                raise ParseError(
                    f"the file unpacks to {unpacked:,} bytes, more than {self.max_unpacked_bytes:,} "
                    "(max_unpacked_bytes): a decompression bomb, or a document too large to parse"
                )

    def _too_long(self, chars: int) -> str:
        return f"the text has {chars:,} characters, more than {self.max_text_chars:,} (max_text_chars)"

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
            if type(error).__module__.startswith(_PDF_LIBRARIES) and type(error).__name__ not in _ENCRYPTED:
                raise ParseError(_why_no_text(item, data, error)) from error
            raise ParseError(f"{item.extension or 'file'} could not be parsed: {_reason(error)}") from error


def unpacked_size(data: bytes) -> int | None:
    """The sum of the sizes a zip archive declares for its members (``None``: not a zip archive).

    Python's zipfile, which the docx and other readers use, never unpacks a member past its declared
    size, so the declared sum bounds what parsing can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # the parser reports a damaged file in its own words


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


def _why_no_text(item: SourceItem, data: bytes, error: BaseException | None = None) -> str:
    """Why a document gave no text; ``error``: what the PDF reader raised, if it did."""
    if item.extension != ".pdf":
        return "no text could be extracted"
    if b"%%EOF" not in data[-4096:]:
        return "no text could be extracted: the PDF is truncated or damaged (it has no end-of-file marker)"
    if error is not None:
        return f"no text could be extracted: the PDF is damaged ({_first_line(error)})"
    return "no text could be extracted: the PDF has no text layer (scanned pages need OCR)"


_PDF_LIBRARIES = ("pdfminer", "pikepdf", "pypdf")  # their errors are about the file's structure
# pdfminer's errors for a PDF whose text is encrypted with a password it was not given
_ENCRYPTED = frozenset({"PDFPasswordIncorrect", "PDFEncryptionError", "PDFEncryptionWarning"})


def _reason(error: BaseException) -> str:
    if "Unable to determine file encoding" in str(error):
        return "the text is in no encoding that could be detected (binary data?)"
    if type(error).__name__ in _ENCRYPTED:
        return "encrypted PDF: its text needs a password to read"
    return _first_line(error)


def _first_line(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    first = message[0][:300] if message else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
