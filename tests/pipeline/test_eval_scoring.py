"""QueryScorer: passage relevance and metrics in rank order (the reference scorer's), document ranking."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from chunkwise.pipeline.evaluation.dataset import EvalDataset, Judgement, Query
from chunkwise.pipeline.evaluation.scoring import QueryScorer, RankedChunk, mean_metrics

ANSWER = "The quick brown fox jumps over the lazy dog again today."  # 11 words: runs of 10 count
FIRST_TEN = "the quick brown fox jumps over the lazy dog again"
LAST_EIGHT = "fox jumps over the lazy dog again today"


@pytest.fixture
def dataset() -> EvalDataset:
    return EvalDataset(
        root=Path("/sets/tiny"),
        layout="files",
        queries=(Query("q1", "fox?"), Query("q2", "cat?")),
        judgements={
            "q1": (Judgement("a.html", 1.0, ANSWER),),
            "q2": (Judgement("b.html", 1.0, "Cats sleep all day long."),),
        },
    )


def test_passage_metrics_by_hand(dataset: EvalDataset) -> None:
    hits = [
        RankedChunk("b.html", FIRST_TEN, 0.9),  # the words, but the wrong document
        RankedChunk("a.html", LAST_EIGHT, 0.8),  # the right document, only 8 words of the answer
        RankedChunk("a.html", f"Intro. {FIRST_TEN}", 0.7),  # relevant, rank 3
        RankedChunk("a.html", f"All of it: {ANSWER}", 0.6),  # relevant again, the same answer
    ]

    metrics = QueryScorer(dataset, k=10).passage_metrics("q1", hits)

    # Two relevant chunks retrieved (ranks 3 and 4), one answer: the ideal has both at the top.
    assert metrics["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert metrics["recall@10"] == 1.0
    assert metrics["mrr@10"] == pytest.approx(1 / 3)
    assert metrics["answer_ndcg@10"] == pytest.approx(1 / math.log2(4))  # the answer counts once


def test_the_cutoff_leaves_out_lower_ranks(dataset: EvalDataset) -> None:
    hits = [RankedChunk("b.html", FIRST_TEN, 0.9), RankedChunk("a.html", ANSWER, 0.5)]

    metrics = QueryScorer(dataset, k=1).passage_metrics("q1", hits)

    assert metrics == {"ndcg@1": 0.0, "recall@1": 0.0, "mrr@1": 0.0, "answer_ndcg@1": 0.0}


def test_equal_scores_keep_the_order_retrieved(dataset: EvalDataset) -> None:
    relevant, other = RankedChunk("a.html", ANSWER, 0.5), RankedChunk("b.html", "Unrelated.", 0.5)
    scorer = QueryScorer(dataset)

    assert scorer.passage_metrics("q1", [relevant, other])["ndcg@10"] == 1.0
    assert scorer.passage_metrics("q1", [other, relevant])["ndcg@10"] == pytest.approx(1 / math.log2(3))


def test_no_relevant_chunk_retrieved_scores_zero(dataset: EvalDataset) -> None:
    hits = [RankedChunk("a.html", ANSWER, 0.9)]  # q2's answer is in b.html

    assert QueryScorer(dataset).passage_metrics("q2", hits) == {
        "ndcg@10": 0.0,
        "recall@10": 0.0,
        "mrr@10": 0.0,
        "answer_ndcg@10": 0.0,
    }


def test_document_metrics_rank_documents_by_their_best_chunk(dataset: EvalDataset) -> None:
    best = [RankedChunk("b.html", FIRST_TEN, 0.9), RankedChunk("a.html", LAST_EIGHT, 0.8)]

    metrics = QueryScorer(dataset).document_metrics("q1", best)

    assert metrics == {"ndcg@10": pytest.approx(1 / math.log2(3)), "recall@10": 1.0}


def test_tied_documents_share_the_expected_gain(dataset: EvalDataset) -> None:
    best = [RankedChunk("b.html", "x", 0.5), RankedChunk("a.html", "y", 0.5)]

    metrics = QueryScorer(dataset).document_metrics("q1", best)

    assert metrics["ndcg@10"] == pytest.approx(0.5 * 1 + 0.5 / math.log2(3))


def test_sets_without_answers_judge_documents_only(tmp_path: Path) -> None:
    beir = EvalDataset(tmp_path, "beir", (Query("1", "q"),), {"1": (Judgement("d1", 2.0),)})
    scorer = QueryScorer(beir)

    assert not scorer.judges_passages
    assert scorer.document_metrics("1", [RankedChunk("d1", "", 0.3)]) == {"ndcg@10": 1.0, "recall@10": 1.0}


def test_mean_metrics_average_each_metric_over_queries() -> None:
    per_query = [{"ndcg@10": 1.0, "mrr@10": 0.5}, {"ndcg@10": 0.0, "mrr@10": 0.25}]

    assert mean_metrics(per_query) == {"ndcg@10": 0.5, "mrr@10": 0.375}
    assert mean_metrics([]) == {}


def test_k_below_one_is_refused(dataset: EvalDataset) -> None:
    with pytest.raises(ValueError, match="k"):
        QueryScorer(dataset, k=0)
