"""UnstructuredParser on the real sample documents, one per format, and on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.errors import ConfigurationError, ParseError
from chunkwise.pipeline.source import SourceItem

SAMPLES = {
    ".md": "nodejs-path.md",
    ".txt": "git-bisect.txt",
    ".html": "debian-faq-pkgtools.html",
    ".pdf": "debian-new-maintainers-guide.pdf",
    ".docx": "python-sorting-howto.docx",
}


def parse_file(parser: UnstructuredParser, path: Path):
    return parser.parse(
        SourceItem(uri=str(path), name=path.name, size=path.stat().st_size), path.read_bytes()
    )


@pytest.fixture(scope="module")
def parsed(sample_data):
    parser = UnstructuredParser()
    return {extension: parse_file(parser, sample_data / name) for extension, name in SAMPLES.items()}


@pytest.mark.parametrize("extension", list(SAMPLES))
def test_each_format_gives_exact_element_spans(parsed, extension):
    document = parsed[extension]
    assert len(document.elements) >= 20
    assert document.metadata["format"] == extension.lstrip(".")
    previous_end = -1
    for element in document.elements:
        span = document.text[element.start : element.end]
        assert span and span == span.strip()
        assert element.start > previous_end
        previous_end = element.end
    kinds = {e.kind for e in document.elements}
    assert "Title" in kinds and ({"NarrativeText", "ListItem"} & kinds)


@pytest.mark.parametrize(
    ("extension", "title", "phrase"),
    [
        (".md", "Windows vs. POSIX", "The default operation of the node:path module varies"),
        (".txt", "SYNOPSIS", "git bisect"),
        (".html", "Chapter 8. The Debian package management tools", "dpkg --search foo"),
        (".pdf", "Debian New Maintainers’ Guide", "2.7 Setting up dh_make"),
        (".docx", "Sorting HOW TO", "Sorts are guaranteed to be stable"),
    ],
)
def test_titles_and_text_come_through(parsed, extension, title, phrase):
    document = parsed[extension]
    titles = [document.text[e.start : e.end] for e in document.elements if e.kind == "Title"]
    assert title in titles
    assert phrase in document.text


def test_markdown_markup_is_not_left_in_titles(parsed):
    titles = [parsed[".md"].text[e.start : e.end] for e in parsed[".md"].elements if e.kind == "Title"]
    assert titles[0] == "Path" and not any(t.startswith("#") for t in titles)


def test_elements_know_their_section(parsed):
    document = parsed[".md"]
    element = next(
        e for e in document.elements if "varies based on the operating" in document.text[e.start : e.end]
    )
    assert element.section == "Windows vs. POSIX"


def test_pdf_elements_carry_page_numbers_and_drop_running_heads(parsed):
    document = parsed[".pdf"]
    pages = [e.page for e in document.elements]
    assert all(isinstance(p, int) for p in pages)
    assert pages == sorted(pages) and max(pages) == 18  # the last page of the sample PDF
    assert "Header" not in {e.kind for e in document.elements}


def test_settings_change_with_options():
    assert UnstructuredParser().settings != UnstructuredParser(pdf_strategy="auto").settings
    with pytest.raises(ConfigurationError, match="pdf_strategy"):
        UnstructuredParser(pdf_strategy="magic")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.md", b""),
        ("garbage.pdf", bytes(range(256)) * 40),
        ("garbage.docx", b"PK\x03\x04 this is not a zip archive at all" * 10),
        ("truncated.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"),
        ("blank.txt", b"   \n\n \t "),
    ],
)
def test_bad_input_raises_parse_error(name, data):
    with pytest.raises(ParseError):
        UnstructuredParser().parse(SourceItem(uri=f"/x/{name}", name=name), data)


def test_text_in_another_encoding_is_decoded():
    text = "Größe und Maße: naïve café, déjà vu. " * 20
    document = UnstructuredParser().parse(
        SourceItem(uri="/x/latin.txt", name="latin.txt"), text.encode("latin-1")
    )
    assert "Größe" in document.text and "café" in document.text


@pytest.mark.parametrize("name", ["syslog.txt", "syslog.rst", "syslog.md", "syslog.html"])
def test_valid_utf8_is_read_as_utf8_never_as_a_guessed_encoding(name, monkeypatch):
    # unstructured guesses encodings with chardet, which called Python's syslog.rst (pure ASCII,
    # tilde underlines) "hz" and halved its "~~" runs. A valid UTF-8 file must not be guessed at.
    import unstructured.file_utils.encoding as encoding

    def wrong_guess(file=None, **_):
        data = file.read()
        return "hz", data.decode("hz", errors="replace")

    monkeypatch.setattr(encoding, "detect_file_encoding", wrong_guess)
    text = "Simple example\n~~~~~~~~~~~~~~\n\nSee ~/.config and café for the details, Grüße.\n"
    document = UnstructuredParser().parse(SourceItem(uri=f"/x/{name}", name=name), ("\ufeff" + text).encode())
    assert "~/.config and café" in document.text and "Grüße" in document.text
    assert not document.text.startswith("\ufeff")


def _pdf_copy(sample_data: Path, **encryption: str) -> bytes:
    import io

    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(sample_data / SAMPLES[".pdf"]) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(**encryption))
    return out.getvalue()


def test_an_encrypted_pdf_is_reported_as_encrypted(sample_data):
    locked = _pdf_copy(sample_data, owner="owner", user="secret")
    with pytest.raises(ParseError, match="encrypted PDF"):
        UnstructuredParser().parse(SourceItem(uri="/x/locked.pdf", name="locked.pdf"), locked)


def test_a_pdf_encrypted_without_a_user_password_is_read(sample_data, parsed):
    opened = _pdf_copy(sample_data, owner="owner", user="")
    document = UnstructuredParser().parse(SourceItem(uri="/x/open.pdf", name="open.pdf"), opened)
    assert document.text == parsed[".pdf"].text


def test_pdf_words_keep_their_spaces_and_wrapped_list_items_stay_whole(parsed):
    text = parsed[".pdf"].text
    # unstructured's own word margin glues this sentence into one word ("Newerversionsofthis...")
    assert "Newer versions of this document should always be available online" in text
    assert max(len(word) for word in text.split() if word.isalpha()) < 30
    items = [text[e.start : e.end] for e in parsed[".pdf"].elements if e.kind == "ListItem"]
    assert any(item.endswith("(after checking their contents).") for item in items)


def test_layout_strategies_name_the_extra_they_need_when_it_is_missing(sample_data, monkeypatch):
    import sys

    # Whether or not the pdf-layout extra is installed here, the parser must see it as missing.
    monkeypatch.setitem(sys.modules, "unstructured_inference", None)
    for name in [name for name in sys.modules if name.startswith("unstructured.partition.pdf")]:
        monkeypatch.delitem(sys.modules, name)
    data = (sample_data / SAMPLES[".pdf"]).read_bytes()
    with pytest.raises(ParseError, match=r"chunkwise\[pdf-layout\]"):
        UnstructuredParser(pdf_strategy="hi_res").parse(SourceItem(uri="/x/a.pdf", name="a.pdf"), data)


def _with_member(docx: bytes, name: str, size: int) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx)) as original,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in original.infolist():
            bomb.writestr(member, original.read(member))
        bomb.writestr(name, b"\0" * size)
    return out.getvalue()


def test_a_zip_based_file_that_unpacks_past_the_bound_is_refused_before_parsing(sample_data):
    docx = (sample_data / SAMPLES[".docx"]).read_bytes()
    bomb = _with_member(docx, "word/media/padding.bin", 4 * 1024 * 1024)
    assert len(bomb) < len(docx) + 64 * 1024  # a few KB on disk
    parser = UnstructuredParser(max_unpacked_bytes=2 * 1024 * 1024)
    with pytest.raises(ParseError, match=r"unpacks to 4,\d{3},\d{3} bytes, more than 2,097,152"):
        parser.parse(SourceItem(uri="/x/bomb.docx", name="bomb.docx"), bomb)
    assert parser.parse(SourceItem(uri="/x/ok.docx", name="ok.docx"), docx).text  # the real one fits


def test_text_longer_than_the_bound_is_refused(sample_data):
    parser = UnstructuredParser(max_text_chars=5_000)
    text = (sample_data / SAMPLES[".txt"]).read_bytes()
    with pytest.raises(ParseError, match="more than max_text_chars"):  # refused before parsing
        parser.parse(SourceItem(uri="/x/long.txt", name="long.txt"), text)
    html = (sample_data / SAMPLES[".html"]).read_bytes()
    with pytest.raises(ParseError, match=r"the text has [\d,]+ characters, more than 5,000"):
        parser.parse(SourceItem(uri="/x/long.html", name="long.html"), html)
    with pytest.raises(ConfigurationError):
        UnstructuredParser(max_text_chars=0)
