"""Evaluate chunking configurations: ingest a labelled set once per configuration, then score rankings.

Every configuration goes through the real pipeline (``index_documents`` into a fresh collection of
an embedded or given Qdrant store); documents are parsed once and shared by all configurations, so
``seconds`` measures chunking, embedding (BM25 term weights included when a mode needs them) and
writing. The retrieval mode is chosen at search time: each configuration is ingested once and
scored once per mode (dense, sparse or hybrid), one row per mode.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic import ValidationError

from chunkwise.connectors.jsonl_corpus_source import JsonlCorpusSource
from chunkwise.connectors.learned_sparse_encoder import build_sparse
from chunkwise.connectors.model_defaults import defaults_for
from chunkwise.connectors.multivector_encoder import MULTIVECTOR_NAME, MultivectorEncoder
from chunkwise.connectors.qdrant_server_store import QdrantServerStore
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.connectors.stores import Store
from chunkwise.flows.components import (
    build_chunker,
    build_embedder,
    build_multivector,
    build_parser,
    build_source,
    encoder_for,
    late_window,
)
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.evaluation.comparison import Comparison, SetScores, compare
from chunkwise.pipeline.evaluation.dataset import EvalDataset
from chunkwise.pipeline.evaluation.scoring import QueryScorer, RankedChunk, mean_metrics
from chunkwise.pipeline.indexing import Progress, index_documents
from chunkwise.pipeline.protocols import Parser, Source, SparseEncoder
from chunkwise.pipeline.report import DocumentFailure
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Document, Fusion, SearchHit, SparseVector

AXES = (
    "chunking",
    "chunker",
    "chunk_size",
    "chunk_overlap",
    "late_window",
    "late_overlap",
    "late_mix",
    "headers",
    "alone_vector",
)
LATE_ONLY = ("late_window", "late_overlap", "late_mix", "alone_vector")
FIXED = {  # late axes unset
    "chunking": "fixed",
    "late_window": None,
    "late_overlap": 0,
    "late_mix": None,
    "alone_vector": False,
}
MAXSIM = "maxsim"  # hybrid's recorded fusion with a multivector model: MaxSim rescores, nothing fuses
MODES = ("dense", "sparse", "hybrid", "multivector")  # embedding, BM25 terms, both fused, MaxSim
SPARSE_MODES = ("sparse", "hybrid")


@dataclass(frozen=True, slots=True)
class EvalProgress:
    """Where an evaluation is: configuration ``index`` of ``total``, its ``label`` and current ``stage``."""

    index: int
    total: int
    label: str
    stage: str
    ingest: Progress | None = None


@dataclass(frozen=True, slots=True)
class EvalRow:
    """The scores of one configuration in one retrieval mode (``config["mode"]``).

    ``passage`` is ``None`` for sets without answer texts. ``seconds``, ``tokens_per_s``, ``chunks``
    and ``failures`` are those of the configuration's ingest, shared by the rows of its modes.
    ``per_query`` is the main metric (passage nDCG, else document nDCG) of each query, in the
    set's order, for intervals; ``default`` marks the configuration ``chunkwise ingest`` uses.
    """

    config: dict[str, Any]
    passage: dict[str, float] | None
    doc: dict[str, float]
    seconds: float
    tokens_per_s: float
    chunks: int
    failures: tuple[DocumentFailure, ...] = field(default=())
    dataset: str = ""
    per_query: tuple[float, ...] = ()
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "default": self.default,
            "config": self.config,
            "passage": _rounded(self.passage) if self.passage is not None else None,
            "doc": _rounded(self.doc),
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "chunks": self.chunks,
            "failed": [failure.to_dict() for failure in self.failures],
        }


def configuration_grid(base: IngestOptions, axes: dict[str, Sequence[Any]]) -> list[IngestOptions]:
    """Every combination of the values given per axis; fixed chunking ignores the late-only axes.

    Example::

        configuration_grid(IngestOptions(), {"chunking": ["fixed", "late"], "chunk_size": [128, 256]})
    """
    unknown = set(axes) - set(AXES)
    if unknown:
        raise ConfigurationError(f"unknown evaluation axes: {', '.join(sorted(unknown))}")
    names = [name for name in AXES if axes.get(name)]
    grid: dict[str, IngestOptions] = {}
    for values in itertools.product(*(axes[name] for name in names)):
        changes = dict(zip(names, values, strict=True))
        if changes.get("chunking", base.chunking) == "fixed":
            changes.update(FIXED)
        elif changes.get("late_mix", base.late_mix) == 1:
            changes.update(late_mix=None)  # all late: plain late chunking
        if changes.get("chunker", base.chunker) == "sentence":
            changes.update(chunk_overlap=0)  # sentences overlap by whole sentences (sentence_overlap)
        try:
            options = IngestOptions(**{**base.model_dump(), **changes})
        except ValidationError as error:
            raise ConfigurationError(f"configuration {changes}: {error.errors()[0]['msg']}") from error
        grid.setdefault(options.model_dump_json(), options)
    return list(grid.values())


def check_modes(modes: Sequence[str]) -> tuple[str, ...]:
    """``modes`` if they are known retrieval modes, each once, else a :class:`ConfigurationError`."""
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown:
        raise ConfigurationError(
            f"unknown retrieval mode {', '.join(map(repr, unknown))}: use {', '.join(MODES)}"
        )
    if not modes:
        raise ConfigurationError(f"no retrieval mode given: use one or more of {', '.join(MODES)}")
    return tuple(dict.fromkeys(modes))


def describe(
    options: IngestOptions,
    late_window: int | None = None,
    mode: str | None = None,
    fusion: Fusion | None = None,
) -> dict[str, Any]:
    """The axes of a configuration (the late window resolved to its effective value) and its model.

    With ``mode``, the retrieval mode too (as in every :class:`EvalRow`'s ``config``), and for
    hybrid search its ``fusion``: ``"maxsim"`` with a multivector model, whose MaxSim rescores
    hybrid's candidates instead of any fusion.
    """
    config: dict[str, Any] = {name: getattr(options, name) for name in AXES}
    sentences = options.chunker == "sentence"
    config.update(
        max_sentences=options.max_sentences if sentences else None,
        sentence_overlap=options.sentence_overlap if sentences else None,
    )
    if sentences:
        config["chunk_overlap"] = None
    if options.chunking == "late":
        config["late_window"] = late_window or options.late_window
    else:
        config.update(dict.fromkeys(LATE_ONLY))
    if mode is not None:
        config["mode"] = mode
        config["fusion"] = str(fusion or Fusion()) if mode == "hybrid" else None
        if mode == "hybrid" and options.multivector_model is not None:
            config["fusion"] = MAXSIM
    if options.sparse_model is not None:
        config["sparse_model"] = options.sparse_model
    if options.multivector_model is not None:
        config["multivector_model"] = options.multivector_model
        config.update(
            multivector_pool_factor=options.multivector_pool_factor,
            multivector_max_tokens=options.multivector_max_tokens,
        )
    embedding = {key: getattr(options, key) for key in ("dimensions", "query_prompt", "document_prompt")}
    config.update({key: value for key, value in embedding.items() if value is not None})
    return {**config, "model": options.model}


def label(config: dict[str, Any]) -> str:
    """A short name: ``late token 128/16 W256 ω32 mix0.5 +H hybrid`` (size/overlap; mix of late and
    alone vectors; ``+H`` for contextual headers; the mode if it has one)."""
    text = f"{config['chunking']} {config['chunker']} {config['chunk_size']}"
    if config["chunk_overlap"] is not None:
        text += f"/{config['chunk_overlap']}"
    if config["chunking"] == "late":
        text += f" W{config['late_window']} ω{config['late_overlap']}"
        if config.get("late_mix") is not None:
            text += f" mix{config['late_mix']:g}"
        if config.get("alone_vector"):
            text += " &alone"
    if config.get("headers"):
        text += " +H"
    if config.get("multivector_model"):
        text += " +MV"
    if config.get("mode") is not None:
        text += f" {config['mode']}"
    if config.get("fusion") not in (None, "rrf"):
        text += f" {config['fusion']}"
    if config.get("sparse_model") is not None and config.get("mode") in SPARSE_MODES:
        text += f" [{Path(config['sparse_model']).name}]"
    return text


class Evaluation:
    """Runs configurations over one dataset and scores each on its queries, in each retrieval mode.

    Example::

        evaluation = Evaluation(load_dataset("eval/debian-faq"), k=10, modes=("dense", "hybrid"))
        grid = configuration_grid(IngestOptions(), {"chunking": ["fixed", "late"]})
        for row in evaluation.run(grid):  # one row per configuration and mode
            print(label(row.config), row.passage, row.doc)
    """

    def __init__(
        self,
        dataset: EvalDataset,
        *,
        store: Store | None = None,
        k: int = 10,
        modes: Sequence[str] = ("dense",),
        fusions: Sequence[Fusion] = (),
        run_file: TextIO | None = None,
        progress: Callable[[EvalProgress], None] | None = None,
    ) -> None:
        self.dataset = dataset
        self.store = store or QdrantServerStore(":memory:")
        self.scorer = QueryScorer(dataset, k)
        self.k = k
        self.modes = check_modes(modes)
        self.fusions = tuple(dict.fromkeys(fusions))  # none given: each model's default
        self._sparse_encoders: dict[tuple[str | None, str, str], SparseEncoder] = {}  # see _sparse_key
        self.run_file = run_file
        self.progress = progress
        self._query_terms: dict[tuple[str | None, str, str], list[SparseVector]] = {}
        self._parsed: dict[tuple[str, str], _ParsedOnce] = {}
        self._query_vectors: dict[tuple[Any, ...], np.ndarray] = {}
        self._query_tokens: dict[tuple[Any, ...], list[np.ndarray | None]] = {}
        self._document_tokens: dict[str, int] = {}
        self._encoders: dict[tuple[Any, ...], SentenceTransformerEncoder] = {}
        self._multivectors: dict[tuple[Any, ...], MultivectorEncoder] = {}

    def run(self, configurations: Sequence[IngestOptions]) -> list[EvalRow]:
        """One row per configuration and mode, the modes of a configuration one after the other."""
        rows = []
        for index, options in enumerate(configurations, start=1):
            rows.extend(self.run_one(options, index, len(configurations)))
        return rows

    def run_one(self, options: IngestOptions, index: int = 1, total: int = 1) -> list[EvalRow]:
        """Ingest one configuration once, then score it in every mode: one row per mode."""
        if "multivector" in self.modes and options.multivector_model is None:
            raise ConfigurationError("mode multivector searches token vectors: give a --multivector-model")
        embedder = build_embedder(options, self._encoder(options), self._multivector(options))
        self._queries(options, embedder)  # loads and warms the model before anything is timed
        window = late_window(embedder)
        tell = self._teller(index, total, label(describe(options, window)))
        chunker = build_chunker(options, embedder)
        parser = self._parse_all(options, tell)
        collection = f"chunkwise-eval-{uuid.uuid4().hex[:12]}"
        try:
            report = index_documents(
                self._source(options),
                parser,
                chunker,
                embedder,
                self.store,
                collection,
                sparse_encoder=self._sparse_encoder(options),
                batch_chunks=options.batch_chunks,
                skip_unchanged=False,
                progress=lambda event: tell("ingest", event),
            )
            tell("search", None)
            searches = self._searches(options)
            configs = [describe(options, window, mode, fusion) for mode, fusion in searches]
            scores = [
                self._score(options, embedder, collection, config, fusion)
                for config, (_, fusion) in zip(configs, searches, strict=True)
            ]
        finally:
            self.store.drop_collection(collection)
        tokens = self._tokens(options, embedder)
        return [
            EvalRow(
                config=config,
                passage=_mean_or_none(passage),
                doc=mean_metrics(doc),
                seconds=report.seconds,
                tokens_per_s=tokens / report.seconds if report.seconds > 0 else 0.0,
                chunks=report.chunks,
                failures=tuple(report.errors),
                dataset=self.dataset.name,
                per_query=tuple(m[f"ndcg@{self.k}"] for m in (passage or doc)),
                default=is_default(options, config["mode"], config["fusion"]),
            )
            for config, (passage, doc) in zip(configs, scores, strict=True)
        ]

    def _searches(self, options: IngestOptions) -> list[tuple[str, Fusion | None]]:
        """Each retrieval mode, hybrid once per fusion (by default the model's own), or once with a
        multivector model (MaxSim rescores its candidates: no fusion applies)."""
        fusions = self.fusions or (defaults_for(options.model).fusion,)
        if options.multivector_model is not None:
            fusions = fusions[:1]
        return [
            (mode, fusion) for mode in self.modes for fusion in (fusions if mode == "hybrid" else (None,))
        ]

    def _score(
        self,
        options: IngestOptions,
        embedder: Any,
        collection: str,
        config: dict[str, Any],
        fusion: Fusion | None,
    ) -> tuple[list[dict[str, float]] | None, list[dict[str, float]]]:
        """Each query's metrics searched in ``config["mode"]`` (hybrid fused by ``fusion``):
        passages (if judged), documents."""
        mode = config["mode"]
        absent: list[Any] = [None] * len(self.dataset.queries)
        vectors = absent if mode in ("sparse", "multivector") else self._queries(options, embedder)
        terms = absent if mode in ("dense", "multivector") else self._terms(options)
        tokens = self._tokens_of_queries(options, embedder) if mode in ("hybrid", "multivector") else absent
        stamped = self.store.fingerprint(collection)
        using = stamped.dense_names if stamped is not None else ("dense",)  # with the alone vector too
        passage_scores, doc_scores = [], []
        for query, vector, sparse, multivector in zip(
            self.dataset.queries, vectors, terms, tokens, strict=True
        ):
            searched = {"sparse": sparse, "fusion": fusion, "using": using}
            if multivector is not None:  # token vectors: MaxSim over all, or rescoring hybrid's candidates
                searched["multivector"] = multivector
            hits = self._ranked(self.store.search(collection, vector, self.k, **searched))
            best = self._ranked(self.store.search_documents(collection, vector, self.k, **searched))
            doc_scores.append(self.scorer.document_metrics(query.id, best))
            if self.scorer.judges_passages:
                passage_scores.append(self.scorer.passage_metrics(query.id, hits))
            self._write_run(config, query.id, hits)
        return (passage_scores if self.scorer.judges_passages else None), doc_scores

    def _encoder(self, options: IngestOptions) -> SentenceTransformerEncoder:
        key = _encoder_key(options)
        if key not in self._encoders:
            self._encoders[key] = encoder_for(options)
        return self._encoders[key]

    def _multivector(self, options: IngestOptions) -> MultivectorEncoder | None:
        """The configuration's multivector model, loaded once per model and placement (its storage
        and window options are the configuration's own; see :func:`build_multivector`)."""
        key = _multivector_key(options)
        if options.multivector_model is not None and key not in self._multivectors:
            encoder = build_multivector(options)
            assert encoder is not None
            self._multivectors[key] = encoder
        return self._multivectors.get(key)

    def _queries(self, options: IngestOptions, embedder: Any) -> list[np.ndarray]:
        key = _encoder_key(options)
        if key not in self._query_vectors:
            vectors = [embedder.encode_query(query.text) for query in self.dataset.queries]
            self._query_vectors[key] = np.stack(vectors)
        return list(self._query_vectors[key])

    def _tokens_of_queries(self, options: IngestOptions, embedder: Any) -> list[np.ndarray | None]:
        """The queries' token vectors by the configuration's multivector model (MaxSim rescores
        hybrid's candidates with them); none without one, where mode multivector is refused."""
        multivector = getattr(embedder, "named", {}).get(MULTIVECTOR_NAME)
        if multivector is None:
            return [None] * len(self.dataset.queries)
        key = _multivector_key(options)
        if key not in self._query_tokens:
            self._query_tokens[key] = [multivector.encode_query(query.text) for query in self.dataset.queries]
        return list(self._query_tokens[key])

    def _sparse_encoder(self, options: IngestOptions) -> SparseEncoder | None:
        """BM25 or ``options.sparse_model`` when a mode searches term weights, loaded once per model."""
        if not set(self.modes) & set(SPARSE_MODES):
            return None
        key = _sparse_key(options)
        if key not in self._sparse_encoders:
            self._sparse_encoders[key] = build_sparse(*key)
        return self._sparse_encoders[key]

    def _terms(self, options: IngestOptions) -> list[SparseVector]:
        """The queries' term weights, made by the encoder that weighed the chunks' terms."""
        encoder = self._sparse_encoder(options)
        assert encoder is not None
        key = _sparse_key(options)
        if key not in self._query_terms:
            self._query_terms[key] = [encoder.encode_query(query.text) for query in self.dataset.queries]
        return self._query_terms[key]

    def _tokens(self, options: IngestOptions, embedder: Any) -> int:
        """The model tokens of every parsed document's text: the same work for every configuration."""
        if options.model not in self._document_tokens:
            texts = [parsed.document.text for parsed in self._parsed.values() if parsed.document]
            self._document_tokens[options.model] = sum(embedder.tokenizer.count(text) for text in texts)
        return self._document_tokens[options.model]

    def _ranked(self, hits: Sequence[SearchHit]) -> list[RankedChunk]:
        return [
            RankedChunk(self.dataset.doc_id(str(hit.payload.get("source", ""))), hit.text, hit.score)
            for hit in hits
        ]

    def _write_run(self, config: dict[str, Any], query_id: str, hits: Sequence[RankedChunk]) -> None:
        if self.run_file is None:
            return
        for rank, hit in enumerate(hits, start=1):
            row = {
                "config": config,
                "query_id": query_id,
                "rank": rank,
                "doc_id": hit.doc_id,
                "chunk_text": hit.text,
                "score": hit.score,
            }
            self.run_file.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _source(self, options: IngestOptions) -> Source:
        if self.dataset.layout == "beir":
            return JsonlCorpusSource(self.dataset.corpus)
        return build_source([str(self.dataset.corpus)], options.model_copy(update={"include": ("*",)}))

    def _parse_all(self, options: IngestOptions, tell: Callable[[str, Progress | None], None]) -> Parser:
        """Parse every document not parsed yet, so ingest timings leave parsing out."""
        parser, source = _ParseOnce(build_parser(options), self._parsed), self._source(options)
        items = [item for item in source.items() if not parser.knows(item)]
        for number, item in enumerate(items, start=1):
            tell(
                "parse",
                Progress(seen=number, done=number - 1, total=len(items), source=item.uri, status="parse"),
            )
            try:
                parser.parse(item, source.read(item))
            except Exception:  # noqa: BLE001 - the ingest that follows reports it for the document
                continue
        return parser

    def _teller(self, index: int, total: int, name: str) -> Callable[[str, Progress | None], None]:
        def tell(stage: str, event: Progress | None) -> None:
            if self.progress is not None:
                self.progress(EvalProgress(index, total, name, stage, event))

        return tell


@dataclass(slots=True)
class _ParsedOnce:
    document: Document | None
    error: Exception | None


class _ParseOnce:
    """A parser that parses each document once and hands every later configuration the same result."""

    def __init__(self, parser: Parser, memo: dict[tuple[str, str], _ParsedOnce]) -> None:
        self.parser = parser
        self.memo = memo

    @property
    def settings(self) -> str:
        return self.parser.settings

    def knows(self, item: SourceItem) -> bool:
        """Whether ``item`` was parsed already (successfully or not)."""
        return (item.uri, self.parser.settings) in self.memo

    def parse(self, item: SourceItem, data: bytes) -> Document:
        key = (item.uri, self.parser.settings)
        if key not in self.memo:
            try:
                self.memo[key] = _ParsedOnce(self.parser.parse(item, data), None)
            except Exception as error:  # noqa: BLE001 - replayed to index_documents, which reports it
                self.memo[key] = _ParsedOnce(None, error)
        parsed = self.memo[key]
        if parsed.error is not None:
            raise parsed.error
        assert parsed.document is not None
        return parsed.document


def _mean_or_none(per_query: list[dict[str, float]] | None) -> dict[str, float] | None:
    return mean_metrics(per_query) if per_query is not None else None


def _encoder_key(options: IngestOptions) -> tuple[Any, ...]:
    """What makes an encoder's vectors: configurations that share it share its query vectors."""
    return (
        options.model,
        options.trust_remote_code,
        options.backend,
        options.device,
        options.precision,
        options.dimensions,
        options.query_prompt,
        options.document_prompt,
    )


def _sparse_key(options: IngestOptions) -> tuple[str | None, str, str]:
    """What makes the term weights: the sparse model (``None``: BM25) and its placement."""
    return (options.sparse_model, options.device, options.precision)


def _multivector_key(options: IngestOptions) -> tuple[Any, ...]:
    """What makes a multivector model's query token vectors: its model and placement."""
    return (options.multivector_model, options.device, options.precision)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}


QUALITY_FIELDS = (
    *AXES,
    "tokenizer",
    "boundaries",
    "max_sentences",
    "sentence_overlap",
    "sparse",
    "sparse_model",
    "dimensions",
    "query_prompt",
    "document_prompt",
)


def is_default(options: IngestOptions, mode: str, fusion: str | None = None) -> bool:
    """Whether ``options`` searched in ``mode`` (with ``fusion``, for hybrid) is what
    ``chunkwise ingest`` and the retriever do by default for ``options.model``."""
    defaults = IngestOptions(model=options.model)
    default_mode = "hybrid" if defaults.sparse else "dense"
    default_fusion = str(defaults_for(options.model).fusion) if default_mode == "hybrid" else None
    same = all(getattr(options, name) == getattr(defaults, name) for name in QUALITY_FIELDS)
    return same and mode == default_mode and fusion == default_fusion


def baseline_options(defaults: IngestOptions) -> IngestOptions:
    """Fixed chunking with the defaults' chunker: each chunk embedded alone, no headers."""
    return defaults.model_copy(update={**FIXED, "headers": False})


def pick_baseline(rows: Sequence[EvalRow]) -> dict[str, Any] | None:
    """What the other configurations are compared with: the first one with fixed chunking searched
    dense, without headers if the grid has one (``None`` when the grid has no fixed chunking)."""
    fixed = [
        row.config for row in rows if row.config["chunking"] == "fixed" and row.config.get("mode") == "dense"
    ]
    plain = [config for config in fixed if not config.get("headers")]
    candidates = plain or fixed
    return candidates[0] if candidates else None


def config_key(config: dict[str, Any]) -> str:
    """A configuration's identity across sets (its axes, mode and model)."""
    return json.dumps(config, sort_keys=True, default=str)


def compare_rows(rows: Sequence[EvalRow], baseline: dict[str, Any] | None) -> list[Comparison]:
    """Macro metrics of each configuration over the sets, and intervals against ``baseline``."""
    scores = [
        SetScores(config_key(row.config), row.dataset, _main_metrics(row), row.per_query) for row in rows
    ]
    return compare(scores, config_key(baseline) if baseline is not None else None)


def _main_metrics(row: EvalRow) -> dict[str, float]:
    passage = {f"passage_{name}": value for name, value in (row.passage or {}).items()}
    return {**passage, **{f"doc_{name}": value for name, value in row.doc.items()}}
