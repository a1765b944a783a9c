"""The example RAG chain on a real collection, with langchain-core's fake chat model."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from retriever_corpus import COLLECTION, ingest, write_corpus

from chunkwise.connectors.rag import numbered_sources, rag_chain
from chunkwise.connectors.retriever import open_retriever
from chunkwise.connectors.stores import open_store

QUESTION = "How do I hold a package at a chosen version?"


class PromptRecorder(BaseCallbackHandler):
    """Keeps the messages each chat model call received."""

    def __init__(self) -> None:
        self.prompts: list[list[Any]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], **kwargs: Any) -> None:
        self.prompts.extend(messages)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, encoder):
    corpus = write_corpus(tmp_path_factory.mktemp("rag-corpus"))
    with open_store(str(tmp_path_factory.mktemp("rag") / "qdrant")) as store:
        ingest(corpus, store, encoder)
        yield open_retriever(store, COLLECTION, encoder=encoder, k=3, expand=1)


def fake_model(*answers: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=answer) for answer in answers]))


def test_the_chain_answers_from_numbered_sources_it_returns(retriever) -> None:
    recorder = PromptRecorder()
    chain = rag_chain(retriever, fake_model("Write a pin to /etc/apt/preferences.d [1]."))

    result = chain.invoke(QUESTION, config={"callbacks": [recorder]})

    assert result["answer"] == "Write a pin to /etc/apt/preferences.d [1]."
    assert result["question"] == QUESTION
    expected = retriever.invoke(QUESTION)
    assert [d.id for d in result["sources"]] == [d.id for d in expected]
    assert Path(result["sources"][0].metadata["source"]).name == "apt.md"
    [messages] = recorder.prompts
    system, human = messages
    assert human.content == QUESTION
    assert "Cite the sources" in system.content
    assert numbered_sources(expected) in system.content
    for number, document in enumerate(expected, start=1):
        assert f"[{number}] {document.metadata['source']}" in system.content


def test_numbered_sources_lists_each_passage_under_its_number_and_title(retriever) -> None:
    documents = retriever.invoke(QUESTION)
    text = numbered_sources(documents)

    blocks = text.split("\n\n[")
    assert len(blocks) == len(documents)
    first_heading = text.splitlines()[0]
    assert first_heading == f"[1] {documents[0].metadata['source']} ({documents[0].metadata['title']})"
    assert all(document.page_content in text for document in documents)


def test_the_chain_runs_async_and_in_batches(retriever) -> None:
    questions = [QUESTION, "Which package owns a file?"]
    chain = rag_chain(retriever, fake_model("first", "second", "third", "fourth"))

    batched = chain.batch(questions)
    awaited = asyncio.run(chain.ainvoke(questions[1]))

    assert sorted(result["answer"] for result in batched) == ["first", "second"]
    assert awaited["answer"] == "third"
    assert [d.id for d in awaited["sources"]] == [d.id for d in retriever.invoke(questions[1])]


def test_the_example_script_prints_an_answer_and_its_numbered_sources(tmp_path, encoder) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    store = str(tmp_path / "qdrant")
    with open_store(store) as opened:
        ingest(corpus, opened, encoder)
    script = Path(__file__).resolve().parents[2] / "examples" / "rag_chain.py"

    result = subprocess.run(
        [sys.executable, str(script), QUESTION, "--store", store, "--collection", COLLECTION, "-k", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert QUESTION in lines[0]
    sources = [line for line in lines if line.startswith("[")]
    assert len(sources) == 2 and sources[0].startswith(f"[1] {corpus / 'faq' / 'apt.md'} [")


def test_the_chain_and_the_retriever_are_named_by_the_connectors_package():
    from chunkwise.connectors import ChunkwiseRetriever, open_retriever
    from chunkwise.connectors import rag_chain as named_chain

    assert named_chain is rag_chain  # the function, not a module of the same name
    assert callable(open_retriever) and isinstance(ChunkwiseRetriever, type)
