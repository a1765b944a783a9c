"""Answer a question from a chunkwise collection with citations: retriever -> prompt -> chat model.

    chunkwise ingest examples/data --store .chunkwise/demo --collection demo
    python examples/rag_chain.py "How can I find out which package a file came from?"

No chat model runs offline, so this script answers with langchain-core's fake chat model, which
replies with a fixed sentence; the sources it prints are real. To use a real model, install its
package and change ``chat_model()``, for instance::

    from langchain_ollama import ChatOllama          # pip install langchain-ollama
    return ChatOllama(model="llama3.2")

    from langchain_openai import ChatOpenAI          # pip install langchain-openai; OPENAI_API_KEY
    return ChatOpenAI(model="gpt-4o-mini")
"""

from __future__ import annotations

import argparse

from langchain_core.language_models import BaseChatModel, FakeListChatModel

from chunkwise.connectors.rag import rag_chain
from chunkwise.connectors.retriever import open_retriever


def chat_model(question: str) -> BaseChatModel:
    """The chat model that writes the answer (a stand-in with a fixed reply)."""
    return FakeListChatModel(responses=[f"(a real model would answer {question!r} here, citing [1])"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("--store", default=".chunkwise/demo")
    parser.add_argument("--collection", default="demo")
    parser.add_argument("-k", type=int, default=3)
    arguments = parser.parse_args()

    retriever = open_retriever(arguments.store, arguments.collection, k=arguments.k, expand=1)
    try:
        result = rag_chain(retriever, chat_model(arguments.question)).invoke(arguments.question)
    finally:
        retriever.close()
    print(result["answer"], end="\n\n")
    for number, document in enumerate(result["sources"], start=1):
        metadata = document.metadata
        span = f"[{metadata['start']}:{metadata['end']}]"
        print(f"[{number}] {metadata['source']} {span} score {metadata['score']:.3f}")


if __name__ == "__main__":
    main()
