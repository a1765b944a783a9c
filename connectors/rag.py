"""A retrieval-augmented answer chain: retriever -> prompt with numbered sources -> chat model.

Built from langchain-core runnables only, so any chat model plugs in (``ChatOpenAI``,
``ChatOllama``, ``ChatAnthropic``, ...); the answer cites its sources as ``[1]``, ``[2]``, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough

ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Answer the question using only the numbered sources below. Cite the sources each "
            "statement rests on as [1], [2], ... If the sources do not hold the answer, say so.\n\n"
            "{sources}",
        ),
        ("human", "{question}"),
    ]
)


def numbered_sources(documents: Sequence[Document]) -> str:
    """Documents as numbered sources for a prompt: ``[1] source (title)`` then the passage."""
    blocks = []
    for number, document in enumerate(documents, start=1):
        title = document.metadata.get("title")
        heading = f"[{number}] {document.metadata.get('source')}" + (f" ({title})" if title else "")
        blocks.append(f"{heading}\n{document.page_content}")
    return "\n\n".join(blocks)


def rag_chain(
    retriever: BaseRetriever, chat_model: BaseChatModel, prompt: ChatPromptTemplate = ANSWER_PROMPT
) -> Runnable[str, dict[str, Any]]:
    """A chain from a question to ``{"answer": str, "sources": [Document, ...]}``.

    ``[n]`` in the answer refers to ``sources[n - 1]``. ``prompt`` takes ``{sources}`` and
    ``{question}``.

    Example::

        chain = rag_chain(open_retriever(".chunkwise/qdrant", "docs", expand=1), ChatOllama(model="llama3.2"))
        result = chain.invoke("How do I pin a package version?")
        print(result["answer"]); print([d.metadata["source"] for d in result["sources"]])
    """
    answer: Runnable[Any, str] = (
        RunnableLambda(
            lambda inputs: {"sources": numbered_sources(inputs["sources"]), "question": inputs["question"]}
        )
        | prompt
        | chat_model
        | StrOutputParser()
    )
    return RunnableParallel(sources=retriever, question=RunnablePassthrough()).assign(answer=answer)
