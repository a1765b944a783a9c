"""A PDF's text layer as unstructured elements, without unstructured's layout-model stack.

unstructured's PDF module imports unstructured-inference (and through it timm and torchvision, which
need a matching PyTorch build) even to read the text layer. :func:`partition_pdf_text` does what its
``fast`` strategy does, with unstructured's own parts: pages read by pdfminer (broken ones repaired
with pikepdf), each text box cleaned and classified by ``element_from_text`` (Title, NarrativeText,
ListItem, ...), the lines that continue a list item joined to it, and each page put in reading order
by the XY-cut sort. Two differences: words are separated at pdfminer's own margin (0.1), where
unstructured's 0.185 glues whole sentences of some documents into one word ("Newerversionsofthis");
and a list item continued over several lines keeps all of them.

Example::

    with open("manual.pdf", "rb") as file:
        elements = partition_pdf_text(file)
    print(elements[0].category, elements[0].metadata.page_number, elements[0].text)
"""

from __future__ import annotations

import re
from typing import IO, Any

from pdfminer.layout import LTContainer
from unstructured.cleaners.core import clean_extra_whitespace
from unstructured.documents.coordinates import PixelSpace
from unstructured.documents.elements import CoordinatesMetadata, ElementMetadata
from unstructured.nlp.patterns import PARAGRAPH_PATTERN
from unstructured.partition.pdf_image.pdfminer_utils import (
    PDFMinerConfig,
    get_text_with_deduplication,
    open_pdfminer_pages_generator,
    rect_to_bbox,
)
from unstructured.partition.text import element_from_text
from unstructured.partition.utils.config import env_config
from unstructured.partition.utils.constants import SORT_MODE_BASIC, SORT_MODE_XY_CUT
from unstructured.partition.utils.sorting import sort_page_elements

WORD_MARGIN = 0.1  # pdfminer's default: characters further apart than this (x their size) are two words


def partition_pdf_text(file: IO[bytes], *, languages: list[str] | None = None, **_: Any) -> list[Any]:
    """The elements of every page's text layer, in reading order, each with its page number."""
    elements: list[Any] = []
    pages = open_pdfminer_pages_generator(file, pdfminer_config=PDFMinerConfig(word_margin=WORD_MARGIN))
    for page_number, (_, layout) in enumerate(pages, start=1):
        page_elements = _joined_list_items(_page_elements(layout, page_number, languages))
        elements += sort_page_elements(sort_page_elements(page_elements, SORT_MODE_BASIC), SORT_MODE_XY_CUT)
    return elements


def _page_elements(layout: Any, page_number: int, languages: list[str] | None) -> list[Any]:
    system = PixelSpace(width=layout.width, height=layout.height)
    elements = []
    for box in layout:
        x1, y1, x2, y2 = rect_to_bbox(box.bbox, layout.height)
        if hasattr(box, "get_text"):  # characters drawn twice (fake bold) are read once
            snippets = [get_text_with_deduplication(box, env_config.PDF_CHAR_DUPLICATE_THRESHOLD)]
        else:
            snippets = re.split(PARAGRAPH_PATTERN, _text_within(box))
        for snippet in snippets:
            text = clean_extra_whitespace(snippet)
            if not text.strip():
                continue
            points = ((x1, y1), (x1, y2), (x2, y2), (x2, y1))
            element = element_from_text(text, coordinates=points, coordinate_system=system)
            element.metadata = ElementMetadata(
                page_number=page_number,
                coordinates=CoordinatesMetadata(points=points, system=system),
                languages=languages,
            )
            elements.append(element)
    return elements


def _joined_list_items(elements: list[Any]) -> list[Any]:
    """Each list item with the boxes after it that continue it (its wrapped lines, box after box)."""
    joined: list[Any] = []
    item = last = None
    for element in elements:
        if element.category == "ListItem":
            item = last = element
        elif item is not None and last is not None and _continues(element, last):
            item.text = f"{item.text} {element.text}"
            item.metadata.coordinates = _union(item, element)
            last = element
            continue
        else:
            item = last = None
        joined.append(element)
    return joined


def _continues(element: Any, previous: Any, across: float = 0.2, down: float = 0.3) -> bool:
    """Whether ``element`` starts inside the ``previous`` box, widened by ``across`` of its width to
    the right and ``down`` of its height up and down (unstructured's thresholds)."""
    (x1, y1), (_, y2), (x2, _) = previous.metadata.coordinates.points[:3]
    (left, top), _, (right, _) = element.metadata.coordinates.points[:3]
    width, height = x2 - x1, y2 - y1
    inside_across = x1 <= left and right < x2 + across * width
    inside_down = y1 - down * height < top < y2 + down * height
    return inside_across and inside_down


def _union(item: Any, element: Any) -> Any:
    points = [*item.metadata.coordinates.points, *element.metadata.coordinates.points]
    x1, x2 = min(x for x, _ in points), max(x for x, _ in points)
    y1, y2 = min(y for _, y in points), max(y for _, y in points)
    return CoordinatesMetadata(
        points=((x1, y1), (x1, y2), (x2, y2), (x2, y1)), system=item.metadata.coordinates.system
    )


def _text_within(item: Any) -> str:
    """The text of a pdfminer item that holds text boxes or characters (a figure, say)."""
    if hasattr(item, "get_text"):
        return str(item.get_text())
    if isinstance(item, LTContainer):
        return "".join(_text_within(child) for child in item)
    return ""
