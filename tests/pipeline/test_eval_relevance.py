"""The passage relevance rule: a run of min(10, n) answer words, in a chunk of a relevant document."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkwise.pipeline.evaluation.relevance import AnswerMatcher, words

# Fifteen words: w1 .. w15.
LONG_ANSWER = "The Treaty of Versailles was signed on 28 June 1919 in the Hall of Mirrors"
LONG_WORDS = words(LONG_ANSWER)


def test_words_lowercases_and_drops_punctuation():
    assert words("Berlin, the CAPITAL of Germany!") == ["berlin", "the", "capital", "of", "germany"]
    assert words("foo_bar 3.85 it's") == ["foo_bar", "3", "85", "it", "s"]
    assert words(" ... ") == []
    assert len(LONG_WORDS) == 15


def test_short_answer_must_appear_whole_and_contiguous():
    matcher = AnswerMatcher({"d1": ["Berlin is the capital"]})  # n = 4 < 10
    assert matcher.is_relevant("d1", "Since 1990 Berlin is the capital of Germany.")
    assert matcher.is_relevant("d1", "berlin is the capital")
    assert not matcher.is_relevant("d1", "Since 1990 Berlin is the")  # only 3 of the 4 words
    assert not matcher.is_relevant("d1", "Berlin is the new capital")  # not contiguous
    assert not matcher.is_relevant("d1", "capital the is Berlin")  # wrong order


def test_answer_of_exactly_ten_words():
    answer = "one two three four five six seven eight nine ten"
    matcher = AnswerMatcher({"d1": [answer]})
    assert matcher.is_relevant("d1", f"zero {answer} eleven")
    assert not matcher.is_relevant("d1", "two three four five six seven eight nine ten eleven")
    assert not matcher.is_relevant("d1", "zero one two three four five six seven eight nine")


def test_longer_answer_needs_any_ten_consecutive_words():
    matcher = AnswerMatcher({"d1": [LONG_ANSWER]})
    for start in range(len(LONG_WORDS) - 9):
        assert matcher.is_relevant("d1", "Intro: " + " ".join(LONG_WORDS[start : start + 10]) + " outro")
    for start in range(len(LONG_WORDS) - 8):
        assert not matcher.is_relevant("d1", " ".join(LONG_WORDS[start : start + 9]))
    assert matcher.is_relevant("d1", LONG_ANSWER)


def test_run_split_across_a_chunk_border():
    matcher = AnswerMatcher({"d1": [LONG_ANSWER]})
    # The document holds the answer; chunks cut it after its 8th word.
    first = "Some history. " + " ".join(LONG_WORDS[:8])  # w1..w8: 8 answer words
    second = " ".join(LONG_WORDS[8:]) + ". More history."  # w9..w15: 7 answer words
    assert not matcher.is_relevant("d1", first)
    assert not matcher.is_relevant("d1", second)
    # An overlapping chunk that holds w6..w15 (10 consecutive words) matches.
    overlapping = " ".join(LONG_WORDS[5:]) + ". More history."
    assert matcher.is_relevant("d1", overlapping)


def test_punctuation_and_case_are_ignored():
    matcher = AnswerMatcher({"d1": ["The Treaty of Versailles (1919)"]})
    assert matcher.is_relevant("d1", "the treaty, of VERSAILLES — 1919!")
    assert matcher.is_relevant("d1", "THE\nTREATY\n\nof\tversailles...1919")


def test_wrong_document_never_matches():
    matcher = AnswerMatcher({"d1": [LONG_ANSWER]})
    assert not matcher.is_relevant("d2", LONG_ANSWER)
    assert not matcher.is_relevant("", LONG_ANSWER)
    assert matcher.documents == frozenset({"d1"})


def test_unicode_words():
    matcher = AnswerMatcher({"d1": ["Die Größe des Cafés in Ελλάδα"], "d2": ["русский текст"]})
    assert matcher.is_relevant("d1", "Über DIE GRÖßE DES CAFÉS IN ΕΛΛΆΔΑ, schön.")
    assert not matcher.is_relevant("d1", "die größe des cafes in ελλάδα")  # é is not e
    # The rule lowercases, it does not casefold: "GRÖSSE" is "grösse", not "größe".
    assert not matcher.is_relevant("d1", "die GRÖSSE des cafés in ελλάδα")
    assert matcher.is_relevant("d2", "Это РУССКИЙ ТЕКСТ.")
    assert words("日本語 テキスト") == ["日本語", "テキスト"]
    assert AnswerMatcher({"d3": ["日本語 テキスト"]}).is_relevant("d3", "これは 日本語, テキスト です")


def test_answers_without_words_never_match():
    matcher = AnswerMatcher({"d1": ["", "!!! ...", "  "], "d2": []})
    assert matcher.documents == frozenset({"d1", "d2"})
    for text in ["", "!!!", "anything at all"]:
        assert not matcher.is_relevant("d1", text)
        assert not matcher.is_relevant("d2", text)


def test_several_answers_of_different_lengths_and_documents():
    matcher = AnswerMatcher({"d1": ["Paris", LONG_ANSWER], "d2": ["Hall of Mirrors"]})
    assert matcher.is_relevant("d1", "It happened in Paris.")  # n = 1
    assert matcher.is_relevant("d1", " ".join(LONG_WORDS[3:13]))  # a 10-word run of the long answer
    assert not matcher.is_relevant("d1", "Hall of Mirrors")  # d2's answer, d1's chunk
    assert matcher.is_relevant("d2", "the Hall of Mirrors")
    assert not matcher.is_relevant("d2", "Paris")


def test_match_words_must_be_positive():
    with pytest.raises(ValueError, match="match_words"):
        AnswerMatcher({"d1": ["x"]}, match_words=0)


# --- Property: the set lookup agrees with a direct search. ------------------------------------------


def brute_force(answers: dict[str, list[str]], doc_id: str, text: str) -> bool:
    chunk = words(text)
    for answer_text in answers.get(doc_id, []):
        answer = words(answer_text)
        n = min(10, len(answer))
        if n == 0:
            continue
        for i in range(len(answer) - n + 1):
            for j in range(len(chunk) - n + 1):
                if answer[i : i + n] == chunk[j : j + n]:
                    return True
    return False


VOCABULARY = ["a", "b", "c", "A", "Größe", "日本", "x1"]
SEPARATORS = [" ", ", ", "\n", ". ", "—"]
texts = st.lists(st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda parts: "".join(w + s for w, s in parts)
)
qrels = st.dictionaries(st.sampled_from(["d1", "d2"]), st.lists(texts, max_size=3), max_size=2)


@given(qrels, st.sampled_from(["d1", "d2", "d3"]), texts)
def test_agrees_with_a_direct_search(answers, doc_id, text):
    assert AnswerMatcher(answers).is_relevant(doc_id, text) == brute_force(answers, doc_id, text)


@given(qrels, st.data())
def test_a_chunk_holding_an_answer_matches(answers, data):
    candidates = [(doc_id, a) for doc_id, texts in answers.items() for a in texts if words(a)]
    if candidates:
        doc_id, answer = data.draw(st.sampled_from(candidates))
        prefix, suffix = data.draw(texts), data.draw(texts)
        assert AnswerMatcher(answers).is_relevant(doc_id, f"{prefix} {answer} {suffix}")


def test_match_names_the_answer_a_chunk_holds():
    matcher = AnswerMatcher({"d1": ["Paris", LONG_ANSWER], "d2": ["Hall of Mirrors"]})

    assert matcher.match("d1", "It happened in Paris.") == 0
    assert matcher.match("d2", "the hall of mirrors") == 2  # numbered across documents
    assert matcher.match("d2", "It happened in Paris.") is None
    assert matcher.answers == 3
