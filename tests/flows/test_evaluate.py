"""Evaluation through the real pipeline: unstructured, MiniLM (fixed and late), Qdrant in memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.flows.cli import app
from chunkwise.flows.evaluate import EvalRow, Evaluation, configuration_grid, describe, label
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.evaluation.dataset import load_dataset
from chunkwise.pipeline.types import Fusion

TINY_DOCUMENTS = {"git-bisect.txt", "nodejs-path.md", "debian-faq-pkgtools.html"}
FIXED = IngestOptions(chunking="fixed", chunk_size=128, chunk_overlap=0)
LATE = IngestOptions(chunking="late", chunk_size=128, chunk_overlap=0, late_window=256)
CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
RRF = Fusion("rrf")
MODES = ("dense", "sparse", "hybrid")  # every mode a collection without token vectors is searched in


class CountingStore(QdrantServerStore):
    """The in-memory store, noting the collections created (with their fingerprints) and every write."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.created: dict[str, object] = {}
        self.writes: Counter[str] = Counter()
        self.searches: Counter[str] = Counter()

    def ensure_collection(self, collection, fingerprint) -> None:
        if not self.collection_exists(collection):
            self.created[collection] = fingerprint
        super().ensure_collection(collection, fingerprint)

    def replace_document(self, collection, document_id, points, *, known_new=False) -> None:
        self.writes[collection] += 1
        super().replace_document(collection, document_id, points, known_new=known_new)

    def search(self, collection, *args, **kwargs):
        self.searches[collection] += 1
        return super().search(collection, *args, **kwargs)


def run_hits(run_file: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in run_file.getvalue().splitlines()]


@pytest.fixture(scope="module")
def evaluated(tiny_set: Path) -> tuple[list[EvalRow], list[dict], CountingStore]:
    run_file, store = io.StringIO(), CountingStore()
    evaluation = Evaluation(load_dataset(tiny_set), store=store, k=10, run_file=run_file)
    rows = evaluation.run([FIXED, LATE])
    return rows, run_hits(run_file), store


@pytest.fixture(scope="module")
def every_mode(tiny_set: Path) -> tuple[list[EvalRow], list[dict], CountingStore]:
    run_file, store = io.StringIO(), CountingStore()
    evaluation = Evaluation(
        load_dataset(tiny_set), store=store, k=10, modes=MODES, fusions=(RRF,), run_file=run_file
    )
    rows = evaluation.run([FIXED, LATE])
    return rows, run_hits(run_file), store


def test_each_configuration_gets_passage_and_document_metrics(evaluated) -> None:
    rows, _, store = evaluated

    assert [row.config["chunking"] for row in rows] == ["fixed", "late"]
    assert [row.config["mode"] for row in rows] == ["dense", "dense"]  # the default mode
    assert all(fingerprint.sparse is None for fingerprint in store.created.values())  # no BM25 needed
    assert rows[1].config["late_window"] == 256 and rows[0].config["late_window"] is None
    for row in rows:
        assert set(row.passage) == {"ndcg@10", "recall@10", "mrr@10", "answer_ndcg@10"}
        assert row.dataset.startswith("tiny-set") and len(row.per_query) == 3
        assert sum(row.per_query) / 3 == pytest.approx(row.passage["ndcg@10"])
        assert set(row.doc) == {"ndcg@10", "recall@10"}
        assert all(0.0 <= value <= 1.0 for value in [*row.passage.values(), *row.doc.values()])
        assert row.doc["recall@10"] == 1.0  # three documents: every one is in the top 10
        assert row.passage["recall@10"] >= 2 / 3  # MiniLM finds most answers among 10 chunks
        assert row.chunks > 20 and row.seconds > 0 and row.tokens_per_s > 0


def test_a_corrupt_document_is_reported_and_the_others_are_scored(evaluated) -> None:
    rows, _, _ = evaluated

    for row in rows:
        assert [Path(failure.source).name for failure in row.failures] == ["broken.pdf"]
        assert row.failures[0].stage == "parse"


def test_the_run_file_holds_every_ranked_hit(evaluated, tiny_set: Path) -> None:
    rows, hits, _ = evaluated

    assert {tuple(sorted(hit)) for hit in hits} == {
        ("chunk_text", "config", "doc_id", "query_id", "rank", "score")
    }
    for row in rows:
        for query_id in ("q1", "q2", "q3"):
            ranked = [h for h in hits if h["config"] == row.config and h["query_id"] == query_id]
            assert [h["rank"] for h in ranked] == list(range(1, 11))
            assert [h["score"] for h in ranked] == sorted((h["score"] for h in ranked), reverse=True)
            for hit in ranked:
                corpus_text = (tiny_set / "corpus" / hit["doc_id"]).read_bytes()
                assert hit["doc_id"] in TINY_DOCUMENTS and corpus_text


def test_an_easy_question_finds_its_document_first_and_its_answer_near_the_top(evaluated) -> None:
    rows, hits, _ = evaluated

    for row in rows:
        ranked = [h for h in hits if h["config"] == row.config and h["query_id"] == "q1"]
        assert ranked[0]["doc_id"] == "git-bisect.txt", label(row.config)
        assert any("125" in h["chunk_text"] for h in ranked[:5]), label(row.config)


def test_scores_are_reproducible(tiny_set: Path, evaluated) -> None:
    rows, _, _ = evaluated

    [again] = Evaluation(load_dataset(tiny_set)).run_one(LATE)

    assert again.passage == pytest.approx(rows[1].passage) and again.doc == pytest.approx(rows[1].doc)


def test_a_beir_set_is_scored_at_document_level(tmp_path: Path) -> None:
    records = [
        {
            "_id": "bisect",
            "title": "git bisect",
            "text": "Use binary search to find the commit that introduced a bug.",
        },
        {"_id": "apt", "title": "apt", "text": "apt installs, upgrades and removes Debian packages."},
        {"_id": "sort", "title": "Sorting", "text": "Python's sort is stable: equal keys keep their order."},
    ]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "1", "text": "How do I install a Debian package?"})
        + "\n"
        + json.dumps({"_id": "2", "text": "Is sorting stable in Python?"})
        + "\n"
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\tapt\t1\n2\tsort\t1\n")

    [row] = Evaluation(load_dataset(tmp_path), k=1).run([FIXED])

    assert row.passage is None
    assert row.doc == {"ndcg@1": 1.0, "recall@1": 1.0}
    assert row.chunks == 3 and not row.failures


def test_the_grid_combines_values_and_fixed_ignores_late_axes() -> None:
    grid = configuration_grid(
        IngestOptions(headers=False),
        {
            "chunking": ["fixed", "late"],
            "chunk_size": [64, 128],
            "late_window": [128, 256],
            "chunk_overlap": [0],
        },
    )

    described = [describe(options) for options in grid]
    assert len(grid) == 2 + 4  # fixed: one per size, whatever the windows
    assert [label(config) for config in described] == [
        "fixed token 64/0",
        "fixed token 128/0",
        "late token 64/0 W128 ω32",
        "late token 64/0 W256 ω32",
        "late token 128/0 W128 ω32",
        "late token 128/0 W256 ω32",
    ]


def test_the_grid_labels_mixes_headers_and_fusions() -> None:
    grid = configuration_grid(
        IngestOptions(chunk_size=128, chunk_overlap=0),
        {"chunking": ["fixed", "late"], "late_mix": [0.5, 1.0], "headers": [False, True]},
    )

    labels = [label(describe(options, 256, "hybrid", Fusion("dbsf"))) for options in grid]

    assert labels == [
        "fixed token 128/0 hybrid dbsf",
        "fixed token 128/0 +H hybrid dbsf",
        "late token 128/0 W256 ω32 mix0.5 hybrid dbsf",
        "late token 128/0 W256 ω32 mix0.5 +H hybrid dbsf",
        "late token 128/0 W256 ω32 hybrid dbsf",  # a mix of 1 is plain late chunking
        "late token 128/0 W256 ω32 +H hybrid dbsf",
    ]


def test_the_grid_refuses_impossible_or_unknown_settings() -> None:
    with pytest.raises(ConfigurationError, match="chunk_overlap"):
        configuration_grid(IngestOptions(), {"chunk_size": [16], "chunk_overlap": [16]})
    with pytest.raises(ConfigurationError, match="unknown evaluation axes: window"):
        configuration_grid(IngestOptions(), {"window": [1]})
    with pytest.raises(ConfigurationError, match="chunking"):
        configuration_grid(IngestOptions(), {"chunking": ["early"]})


def test_sentence_configurations_ignore_the_token_overlap_axis() -> None:
    grid = configuration_grid(
        IngestOptions(chunking="fixed", headers=False),
        {"chunker": ["token", "sentence"], "chunk_size": [128], "chunk_overlap": [0, 16]},
    )

    described = [describe(options) for options in grid]
    assert [label(config) for config in described] == [
        "fixed token 128/0",
        "fixed token 128/16",
        "fixed sentence 128",
    ]
    assert described[2]["chunk_overlap"] is None and described[2]["sentence_overlap"] == 0
    assert described[0]["sentence_overlap"] is None and described[0]["max_sentences"] is None


# --- retrieval modes -------------------------------------------------------------------------


def test_every_mode_is_scored_on_one_ingest_per_configuration(every_mode) -> None:
    rows, _, store = every_mode

    assert [(row.config["chunking"], row.config["mode"]) for row in rows] == [
        (chunking, mode) for chunking in ("fixed", "late") for mode in MODES
    ]
    assert len(store.created) == 2  # one collection per configuration, not one per mode
    assert set(store.writes.values()) == {3}  # each good document written once (broken.pdf fails)
    assert all(fingerprint.sparse == Bm25Encoder().config for fingerprint in store.created.values())
    assert set(store.searches) == set(store.created)
    for group in (rows[:3], rows[3:]):
        ingest = {(row.seconds, row.tokens_per_s, row.chunks, row.failures) for row in group}
        assert len(ingest) == 1  # the modes share the configuration's ingest and its timing
        without_mode = [
            {key: value for key, value in row.config.items() if key not in ("mode", "fusion")}
            for row in group
        ]
        assert without_mode == [without_mode[0]] * 3
        for row in group:
            assert label(row.config) == f"{label(without_mode[0])} {row.config['mode']}"


def test_dense_rows_are_the_same_whether_or_not_other_modes_are_scored(evaluated, every_mode) -> None:
    dense_only, _, _ = evaluated
    rows, _, _ = every_mode

    dense = [row for row in rows if row.config["mode"] == "dense"]
    for alone, among in zip(dense_only, dense, strict=True):
        assert among.config == alone.config
        assert among.passage == pytest.approx(alone.passage) and among.doc == pytest.approx(alone.doc)


def test_each_mode_ranks_by_its_own_scores(every_mode, tiny_set: Path) -> None:
    rows, hits, _ = every_mode
    bm25 = Bm25Encoder()
    questions = {q.id: q.text for q in load_dataset(tiny_set).queries}

    for row in rows:
        ranked = [h for h in hits if h["config"] == row.config]
        scores = [h["score"] for h in ranked]
        mode = row.config["mode"]
        assert ranked, label(row.config)
        if mode == "dense":
            assert all(-1.0 <= score <= 1.0 for score in scores) and len(ranked) == 3 * 10
        elif mode == "hybrid":  # reciprocal rank fusion of two rankings: at most 1/60 + 1/60
            assert all(0 < score <= 2 / 60 + 1e-6 for score in scores)
        else:  # every sparse hit holds one of its question's terms
            for hit in ranked:
                terms = set(bm25.encode_query(questions[hit["query_id"]]).indices)
                assert terms & set(bm25.encode_documents([hit["chunk_text"]])[0].indices), hit
    by_mode = {
        row.config["mode"]: [h["score"] for h in hits if h["config"] == row.config] for row in rows[:3]
    }
    assert by_mode["dense"] != by_mode["sparse"] != by_mode["hybrid"] != by_mode["dense"]


GASKETS = [
    {"_id": "apt", "text": "apt installs, upgrades and removes Debian packages."},
    {"_id": "sort", "text": "Python's sort is stable: equal keys keep their order."},
    {"_id": "bisect", "text": "git bisect uses binary search to find the commit that introduced a bug."},
    {"_id": "gasket-old", "text": "Gasket QZ7780 fits the pump housings made before 2019."},
    {"_id": "gasket-new", "text": "Gasket QZ7781 fits the pump housings made since 2019."},
]
GASKET_QUERIES = {
    "synonyms": ("How is new software added to the operating system?", "apt"),  # no word in common
    "keyword": ("QZ7781", "gasket-new"),  # an exact part number, one character from another
}


@pytest.fixture(scope="module")
def gasket_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gaskets")
    (root / "corpus.jsonl").write_text("".join(json.dumps(record) + "\n" for record in GASKETS))
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": key, "text": text}) + "\n" for key, (text, _) in GASKET_QUERIES.items())
    )
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{key}\t{doc}\t1\n" for key, (_, doc) in GASKET_QUERIES.items())
    )
    return root


def test_sparse_finds_a_document_by_an_exact_rare_keyword_and_misses_synonyms(gasket_set: Path) -> None:
    bm25 = Bm25Encoder()
    words = set().union(*(bm25.encode_documents([r["text"]])[0].indices for r in GASKETS))
    assert not set(bm25.encode_query(GASKET_QUERIES["synonyms"][0]).indices) & words  # the premise
    run_file = io.StringIO()

    gaskets = load_dataset(gasket_set)
    rows = Evaluation(gaskets, k=len(GASKETS), modes=MODES, fusions=(RRF,), run_file=run_file).run([FIXED])

    ranked: dict[tuple[str, str], list[str]] = {}
    for hit in run_hits(run_file):
        ranked.setdefault((hit["config"]["mode"], hit["query_id"]), []).append(hit["doc_id"])
    assert ranked[("sparse", "keyword")] == ["gasket-new"]  # the only chunk holding the part number
    assert ("sparse", "synonyms") not in ranked  # no term in common: BM25 finds nothing
    assert ranked[("hybrid", "keyword")][0] == "gasket-new"  # first in one ranking, in the other too
    assert "apt" in ranked[("hybrid", "synonyms")] and "apt" in ranked[("dense", "synonyms")]
    recall = {row.config["mode"]: row.doc[f"recall@{len(GASKETS)}"] for row in rows}
    assert recall["sparse"] < recall["dense"] == recall["hybrid"] == 1.0  # k covers the whole corpus


def test_the_cli_scores_the_modes_asked_for(tiny_set: Path, tmp_path: Path) -> None:
    run_file = tmp_path / "run.jsonl"

    result = CliRunner().invoke(
        app,
        ["eval", str(tiny_set), "--chunking", "late", "--chunk-size", "256", "--mode", "sparse, hybrid",
         "-k", "3", "--json", "--run-file", str(run_file)],
    )  # fmt: skip

    assert result.exit_code == 2, result.output  # broken.pdf failed; the scores cover the rest
    rows = [row for row in json.loads(result.stdout) if row["dataset"] != "macro"]
    assert [row["config"]["mode"] for row in rows] == ["sparse", "hybrid"]
    assert rows[0]["seconds"] == rows[1]["seconds"] and rows[0]["chunks"] == rows[1]["chunks"]
    assert {**rows[0]["config"], "mode": None, "fusion": None} == {
        **rows[1]["config"],
        "mode": None,
        "fusion": None,
    }
    assert (rows[0]["config"]["fusion"], rows[1]["config"]["fusion"]) == (None, "dbsf")  # MiniLM's default
    hits = [json.loads(line) for line in run_file.read_text().splitlines()]
    assert {hit["config"]["mode"] for hit in hits} == {"sparse", "hybrid"}
    assert all(hit["config"] in [row["config"] for row in rows] for hit in hits)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("dense,semantic", "unknown retrieval mode 'semantic'"), (",", "no retrieval mode given")],
)
def test_a_bad_mode_is_refused_before_any_work(tiny_set: Path, mode: str, message: str) -> None:
    result = subprocess.run(
        [CHUNKWISE, "eval", str(tiny_set), "--mode", mode],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1
    assert "--mode" in result.stderr and message in result.stderr
    assert "dense, sparse, hybrid" in result.stderr
    with pytest.raises(ConfigurationError, match="unknown retrieval mode 'bm25'"):
        Evaluation(load_dataset(tiny_set), modes=("dense", "bm25"))
