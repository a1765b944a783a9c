"""The one-call Python API: ``chunkwise.ingest``, ``open_retriever``, ``query``, ``info``, ``copy``,
``evaluate``, with the command line's defaults and collections."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chunkwise
from chunkwise.connectors.stores import open_store

CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
SMALL = ("git-bisect.txt", "nodejs-path.md", "debian-faq-pkgtools.html")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("api-corpus")
    for name in SMALL:
        shutil.copy(sample_data / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, small_corpus: Path) -> tuple[str, chunkwise.RunReport]:
    store = str(tmp_path_factory.mktemp("api") / "store")
    return store, chunkwise.ingest(small_corpus, store=store, collection="docs")


def test_ingest_indexes_the_documents_and_the_command_line_finds_its_own_collection(ingested, small_corpus):
    store, report = ingested
    assert (report.seen, report.indexed, report.failed, report.exit_code) == (3, 3, 0, 0)
    # The same defaults, so the same fingerprint: the command line's run has nothing to do.
    again = subprocess.run(
        [CHUNKWISE, "ingest", str(small_corpus), "--store", store, "--collection", "docs", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["documents"] | {"seen": 3} == {
        "seen": 3,
        "indexed": 0,
        "unchanged": 3,
        "failed": 0,
        "deleted": 0,
        "outdated": 0,
    }


def test_open_retriever_query_and_info_read_the_collection(ingested):
    store, report = ingested
    question = "How can I find out which package a particular file came from?"
    retriever = chunkwise.open_retriever(store, "docs", k=2)
    try:
        [best, _] = retriever.invoke(question)
    finally:
        retriever.close()
    assert Path(best.metadata["source"]).name == "debian-faq-pkgtools.html"
    assert best.metadata["mode"] == "hybrid"  # the default for a collection with BM25 weights

    passages = chunkwise.query(question, store=store, collection="docs", k=1, mode="sparse")
    assert [Path(p.metadata["source"]).name for p in passages] == ["debian-faq-pkgtools.html"]

    details = chunkwise.info(store, "docs")
    assert (details.collection, details.documents, details.points) == ("docs", 3, report.chunks)
    assert details.fingerprint["chunking"]["strategy"] == "fixed"


def test_two_retrievers_on_one_embedded_store_in_one_process_both_answer(ingested):
    """A notebook re-running its cell, or an app comparing two modes: the store is shared, not locked."""
    store, _ = ingested
    question = "What does path.basename return?"
    hybrid = chunkwise.open_retriever(store, "docs", k=1)
    dense = chunkwise.open_retriever(store, "docs", k=1, mode="dense")
    try:
        for retriever in (hybrid, dense):
            [best] = retriever.invoke(question)
            assert Path(best.metadata["source"]).name == "nodejs-path.md"
        dense.close()
        assert Path(hybrid.invoke(question)[0].metadata["source"]).name == "nodejs-path.md"
    finally:
        hybrid.close()
        dense.close()


def test_a_lost_or_damaged_collection_json_is_restored_from_the_options_it_was_built_with(
    ingested, tmp_path, small_corpus
):
    store, report = ingested
    copied = tmp_path / "store"
    shutil.copytree(store, copied)
    settings_file = copied / "collections" / "docs" / "collection.json"
    settings_file.unlink()

    wrong = subprocess.run(
        [CHUNKWISE, "repair", "--store", str(copied), "--collection", "docs", "--chunk-size", "96"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "was not built with these options" in wrong.stderr and not settings_file.exists()

    assert chunkwise.repair(copied, "docs") == report.chunks  # the defaults it was built with
    settings_file.write_text("{not json")
    assert chunkwise.repair(copied, "docs") == report.chunks
    with pytest.raises(chunkwise.StoreError, match=r"has a readable collection\.json"):
        chunkwise.repair(copied, "docs")
    again = chunkwise.ingest(small_corpus, store=copied, collection="docs")
    assert (again.indexed, again.unchanged, again.failed) == (0, 3, 0)


def test_copy_moves_a_collection_between_stores_given_open_or_by_location(ingested, tmp_path):
    store, report = ingested
    with open_store(":memory:") as target:
        copied = chunkwise.copy(store, target, collection="docs", to_collection="copied")
        assert copied == report.chunks == target.count("copied")
        assert target.fingerprint("copied") == open_fingerprint(store)


def open_fingerprint(location: str):
    with open_store(location) as store:
        return store.fingerprint("docs")


def test_ingest_options_are_validated_and_combine_with_an_options_object(small_corpus, tmp_path):
    with pytest.raises(chunkwise.ConfigurationError, match="chunk_size"):
        chunkwise.ingest(small_corpus, store=str(tmp_path / "s"), chunk_size=3)
    with pytest.raises(chunkwise.ConfigurationError, match="chunk_size_typo"):
        chunkwise.ingest(small_corpus, store=str(tmp_path / "s"), chunk_size_typo=128)
    base = chunkwise.IngestOptions(chunk_size=128, headers=False)
    with open_store(":memory:") as store:
        report = chunkwise.ingest(
            small_corpus / "git-bisect.txt", store=store, collection="c", options=base, chunk_overlap=0
        )
        fingerprint = store.fingerprint("c")
    assert report.indexed == 1
    chunking = fingerprint.chunking
    assert (chunking["chunk_size"], chunking["chunk_overlap"], chunking.get("headers")) == (128, 0, None)


def test_a_store_given_open_is_left_open_and_a_failed_document_is_reported_not_raised(tmp_path):
    (tmp_path / "good.md").write_text("# Title\n\nSome text about sorting lists in Python.\n")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.7\nnot a pdf body\n")
    with open_store(":memory:") as store:
        report = chunkwise.ingest(tmp_path, store=store, collection="c")
        assert store.count("c") > 0  # still open: the call did not close it
    assert (report.indexed, report.failed, report.exit_code) == (1, 1, 2)
    assert report.errors[0].source.endswith("bad.pdf")


def test_evaluate_scores_a_grid_with_a_macro_comparison_against_the_baseline(tiny_set, tmp_path):
    result = chunkwise.evaluate(
        [tiny_set], chunk_size=[64, 128], chunk_overlap=0, chunking="fixed", modes="dense", k=5
    )
    configs = {(row.config["chunk_size"], row.config["mode"]) for row in result.rows}
    assert configs == {(64, "dense"), (128, "dense")}
    assert result.baseline is not None and result.baseline["chunk_size"] == 64
    [baseline, other] = result.comparisons
    assert baseline.interval is None and other.interval is not None
    assert other.datasets == (tiny_set.name,)
    assert result.failed  # the set's broken PDF: reported, the rest scored
    rows = result.to_dicts()
    assert rows[-1]["dataset"] == "macro" and rows[0]["dataset"] == tiny_set.name
    result.plot(tmp_path / "eval.png")
    assert (tmp_path / "eval.png").stat().st_size > 0


def test_evaluate_refuses_an_unknown_axis_value_or_mode():
    with pytest.raises(chunkwise.ConfigurationError, match="mode"):
        chunkwise.evaluate([], modes=["semantic"])
    with pytest.raises(chunkwise.ConfigurationError):
        chunkwise.evaluate([], chunking=["sideways"])


def test_every_public_name_is_documented_and_importable():
    for name in chunkwise.__all__:
        value = getattr(chunkwise, name)
        if callable(value):
            assert value.__doc__, name
    assert set(chunkwise.__all__) <= set(dir(chunkwise))
    with pytest.raises(AttributeError):
        chunkwise.no_such_name  # noqa: B018
