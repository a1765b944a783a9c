"""Score one configuration's rankings against an evaluation set's judgements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chunkwise.pipeline.evaluation.dataset import EvalDataset, Judgement
from chunkwise.pipeline.evaluation.metrics import hit_rate_at_k, ndcg_at_k
from chunkwise.pipeline.evaluation.rank_order import rank_order_metrics
from chunkwise.pipeline.evaluation.relevance import AnswerMatcher


@dataclass(frozen=True, slots=True)
class RankedChunk:
    """A retrieved chunk as the scorer sees it: its document's dataset id, its text, its score."""

    doc_id: str
    text: str
    score: float


class QueryScorer:
    """Turns the chunks retrieved for each query into passage- and document-level metrics.

    Passage level (sets with answers): a chunk is relevant when it comes from a relevant document
    and holds a run of ``min(10, n)`` consecutive words of the answer; metrics are taken in the
    order retrieved, as the sets' reference scorer takes them (:mod:`~pipeline.evaluation.rank_order`).
    Document level: a document's score is its best chunk's score; gains are the qrels' scores.

    Example::

        scorer = QueryScorer(dataset, k=10)
        passage = scorer.passage_metrics("q1", hits)   # {"ndcg@10": ..., "answer_ndcg@10": ...}
        doc = scorer.document_metrics("q1", best_chunk_per_document)
    """

    def __init__(self, dataset: EvalDataset, k: int = 10) -> None:
        if k < 1:
            raise ValueError(f"k ({k}) must be >= 1")
        self.dataset = dataset
        self.k = k
        self._matchers = (
            {query_id: _matcher(judgements) for query_id, judgements in dataset.judgements.items()}
            if dataset.has_answers
            else {}
        )

    @property
    def judges_passages(self) -> bool:
        return bool(self._matchers)

    def is_relevant(self, query_id: str, chunk: RankedChunk) -> bool:
        return self._matchers[query_id].is_relevant(chunk.doc_id, chunk.text)

    def passage_metrics(self, query_id: str, hits: Sequence[RankedChunk]) -> dict[str, float]:
        """nDCG, hit rate ("recall"), MRR and answer nDCG at k of the chunks in the order retrieved.

        Defined as the reference scorer of our evaluation sets defines them (see
        :mod:`pipeline.evaluation.rank_order`), so the numbers mean the same.
        """
        matcher = self._matchers[query_id]
        matches = [matcher.match(hit.doc_id, hit.text) for hit in hits[: self.k]]
        return rank_order_metrics(matches, matcher.answers, self.k)

    def document_metrics(self, query_id: str, best_chunks: Sequence[RankedChunk]) -> dict[str, float]:
        """nDCG and hit rate at k over documents ranked by their best chunk."""
        gains = _document_gains(self.dataset.judgements[query_id])
        ranking = [(hit.score, gains.get(hit.doc_id, 0.0)) for hit in best_chunks]
        return self._metrics(ranking, list(gains.values()))

    def _metrics(self, ranking: list[tuple[float, float]], ideal: list[float]) -> dict[str, float]:
        k = self.k
        return {f"ndcg@{k}": ndcg_at_k(ranking, ideal, k), f"recall@{k}": hit_rate_at_k(ranking, k)}


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries (an empty input gives an empty result)."""
    totals: dict[str, float] = {}
    count = 0
    for metrics in per_query:
        count += 1
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value
    return {name: total / count for name, total in totals.items()} if count else {}


def _matcher(judgements: Sequence[Judgement]) -> AnswerMatcher:
    answers: dict[str, list[str]] = {}
    for judgement in judgements:
        answers.setdefault(judgement.doc_id, []).append(judgement.answer or "")
    return AnswerMatcher(answers)


def _document_gains(judgements: Sequence[Judgement]) -> dict[str, float]:
    gains: dict[str, float] = {}
    for judgement in judgements:
        gains[judgement.doc_id] = max(gains.get(judgement.doc_id, 0.0), judgement.gain)
    return gains
