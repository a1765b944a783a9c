"""Parsing in a child process, so that one document can be given a time limit.

A thread cannot be stopped, a process can: :class:`ParseWorker` hands each document to a child
process that keeps ``unstructured`` loaded, and kills it when a document takes longer than its
limit; the next document gets a fresh child. A child that dies while parsing (a crash in a PDF
library, the kernel's out-of-memory killer) fails that document only.

Example::

    worker = ParseWorker({"pdf_strategy": "fast"}, max_seconds=300)
    text, elements = worker.partition(SourceItem(uri="/docs/a.md", name="a.md"), data)
    worker.close()
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import weakref
from multiprocessing.connection import Connection
from typing import Any

from chunkwise.pipeline.errors import ParseError
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Element

STARTUP_SECONDS = 300.0  # a child's imports, on a machine busy with the run's embedding
_READY, _DONE, _FAILED = "ready", "done", "failed"
WARM_UP = b"# Warm-up\n\nThis sentence makes the parser load its language model.\n\n- a list item\n"


class ParseWorker:
    """A child process that partitions documents with an ``UnstructuredParser(**options)``."""

    def __init__(self, options: dict[str, Any], max_seconds: float) -> None:
        self.options = options
        self.max_seconds = max_seconds
        self._process: Any = None
        self._connection: Connection | None = None
        self._lock = threading.Lock()  # one document at a time per child

    def partition(self, item: SourceItem, data: bytes) -> tuple[str, list[Element]]:
        """The document's text and elements, as ``UnstructuredParser`` assembles them.

        Raises :class:`ParseError` for a document that fails to parse, takes longer than
        ``max_seconds``, or whose parsing process dies.
        """
        with self._lock:
            connection = self._started()
            connection.send((item, data))
            if not connection.poll(self.max_seconds):
                self.close()
                raise ParseError(
                    f"parsing took longer than {self.max_seconds:g} s (max_seconds_per_document): "
                    "stopped, and the document skipped"
                )
            try:
                status, value = connection.recv()
            except (EOFError, OSError):
                code = self._exit_code()
                self.close()
                raise ParseError(f"the parsing process died ({code}) while reading this document") from None
        if status == _FAILED:
            raise ParseError(value)
        return value

    def close(self) -> None:
        """Stop the child process (a later document starts another)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            process.join(timeout=10)

    def _started(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._connection is not None:
            return self._connection
        self.close()
        context = multiprocessing.get_context("spawn")  # never fork a process that runs torch threads
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, self.options), daemon=True, name="chunkwise-parse"
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        weakref.finalize(self, _stop, process)  # a parser dropped without close() leaves no child
        if not ours.poll(STARTUP_SECONDS) or ours.recv() != (_READY, None):
            self.close()
            raise ParseError(f"the parsing process did not start within {STARTUP_SECONDS:g} s")
        return ours

    def _exit_code(self) -> str:
        if self._process is None:
            return "gone"
        self._process.join(timeout=5)
        code = self._process.exitcode
        return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


def _stop(process: Any) -> None:
    if process.is_alive():
        process.kill()
        process.join(timeout=10)


def _serve(connection: Connection, options: dict[str, Any]) -> None:
    """The child: partition each document received, send back its text and elements or the error."""
    from chunkwise.connectors.unstructured_parser import UnstructuredParser

    parser = UnstructuredParser(**options)
    # Load the partitioners and the language model now, so that a document's time is its own (a
    # warm-up that fails shows again on the first document).
    with contextlib.suppress(Exception):
        parser.partitioned(SourceItem(uri="warm-up.md", name="warm-up.md"), WARM_UP)
    connection.send((_READY, None))
    while True:
        try:
            item, data = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send((_DONE, parser.partitioned(item, data)))
        except ParseError as error:
            connection.send((_FAILED, str(error)))
        except Exception as error:  # noqa: BLE001 - every failure is the document's, sent as text
            connection.send((_FAILED, f"could not be parsed: {type(error).__name__}: {error}"))
