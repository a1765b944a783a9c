"""The run report: what happened to each document, returned by every ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chunkwise.pipeline.errors import ChunkwiseError

STAGES = ("read", "parse", "chunk", "embed", "write")


@dataclass(frozen=True, slots=True)
class DocumentFailure:
    """Why one document was not indexed: its source, the stage that failed and the error."""

    source: str
    stage: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "stage": self.stage, "error": self.error}


@dataclass(slots=True)
class RunReport:
    """Counts and failures of one ingest run.

    ``deleted`` documents were pruned; ``outdated`` ones stay in the collection, out of this
    run's sources, built by another pipeline configuration or left incomplete by a crash.

    Example::

        report = index_documents(source, parser, chunker, encoder, store, "docs")
        print(report.to_dict()["documents"]["indexed"], report.exit_code)
    """

    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    deleted: int = 0
    outdated: int = 0
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0
    errors: list[DocumentFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def exit_code(self) -> int:
        """0 when every document was indexed or unchanged, 2 when some failed."""
        return 2 if self.errors else 0

    def add(self, other: RunReport) -> None:
        """Count ``other`` (a batch of the same run) in this report; ``seconds`` is left alone."""
        self.seen += other.seen
        self.indexed += other.indexed
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.outdated += other.outdated
        self.chunks += other.chunks
        self.tokens += other.tokens
        self.errors.extend(other.errors)

    def fail(self, source: str, stage: str, error: BaseException | str) -> None:
        message = error if isinstance(error, str) else _describe(error)
        self.errors.append(DocumentFailure(source=source, stage=stage, error=message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": {
                "seen": self.seen,
                "indexed": self.indexed,
                "unchanged": self.unchanged,
                "failed": self.failed,
                "deleted": self.deleted,
                "outdated": self.outdated,
            },
            "chunks": self.chunks,
            "errors": [failure.to_dict() for failure in self.errors],
            "seconds": round(self.seconds, 3),
        }


def _describe(error: BaseException) -> str:
    text = str(error).strip() or "no details"
    return text if isinstance(error, ChunkwiseError) else f"{type(error).__name__}: {text}"
