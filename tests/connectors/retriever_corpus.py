"""A small real corpus, ingested through the whole pipeline, for the retriever's tests."""

from __future__ import annotations

from pathlib import Path

from chunkwise.connectors.filesystem_source import FileSystemSource
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.flows.components import build_chunker, build_embedder, build_sparse_encoder
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.indexing import index_documents
from chunkwise.pipeline.types import Document

COLLECTION = "retriever-docs"
OPTIONS = IngestOptions(chunk_size=32, chunk_overlap=8, boundaries="sections")
RARE_WORD = "quokkanet"

FILES = {
    "city/berlin.md": """# Berlin

Berlin is the capital and largest city of Germany, both by area and by population. Its more than
3.85 million inhabitants make it the most populous city of the European Union. The city is also one
of the sixteen states of Germany. It was divided by a wall from 1961 until 1989, and became the seat
of the federal government again after reunification, when the parliament moved back from Bonn.

Berlin straddles the banks of the Spree, which flows into the Havel in the western borough of
Spandau. The city has a temperate seasonal climate, with warm summers and cold winters.

# Transport

The U-Bahn and the S-Bahn carry most of the city's commuters every day. Berlin Brandenburg Airport
opened in 2020 to the south of the city. Trams run mostly in the eastern districts, where the
network survived the division of the city.

# Culture

Berlin is known for its festivals, its diverse architecture, its nightlife and its contemporary arts.
The Berlinale is one of the largest film festivals in the world, and the city has three opera houses.
""",
    "faq/apt.md": f"""# Pinning package versions

APT can hold a package at a chosen version with a pin. Write a stanza with a Package line, a Pin
line and a Pin-Priority line to a file under /etc/apt/preferences.d, then run apt update.

A priority above 1000 allows downgrades. The build farm that tests pins is code-named {RARE_WORD},
after the fish its maintainers keep in the office.
""",
    "faq/dpkg.md": """# Which package owns a file

Run dpkg --search with the path of the file to learn which installed package put it on the disk.
The command apt-file search does the same for packages that are not installed yet.
""",
    "notes/first-copy.txt": (
        "Sourdough bread needs a starter, flour, water and salt. The dough rises slowly overnight "
        "and is baked in a very hot oven, ideally in a covered cast iron pot."
    ),
    "notes/second-copy.txt": (
        "Sourdough bread needs a starter, flour, water and salt. The dough rises slowly overnight "
        "and is baked in a very hot oven, ideally in a covered cast iron pot."
    ),
}


def write_corpus(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def ingest(root: Path, store, encoder, *, sparse: bool = True) -> dict[str, Document]:
    """Index the corpus under ``root`` into ``store``; the parsed documents by source."""
    options = OPTIONS.model_copy(update={"sparse": sparse})
    embedder = build_embedder(options, encoder)
    source = FileSystemSource([str(root)])
    parser = UnstructuredParser()
    report = index_documents(
        source,
        parser,
        build_chunker(options, embedder),
        embedder,
        store,
        COLLECTION,
        sparse_encoder=build_sparse_encoder(options),
    )
    assert not report.errors, report.errors
    return {item.uri: parser.parse(item, source.read(item)) for item in source.items()}
