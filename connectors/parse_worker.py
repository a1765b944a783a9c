"""Parsing in a child process, so that one document can be given a time limit.

A thread cannot be stopped, a process can: :class:`ParseWorker` hands each document to a child
process (a new interpreter running :func:`child_main`) that keeps ``unstructured`` loaded, and
kills it when a document takes longer than its limit; the next document gets a fresh child. A
child that dies while parsing (a crash in a PDF library, the kernel's out-of-memory killer, which
is asked to pick it first) fails that document only. The child is a new interpreter, never a
fork or a re-run of the caller's script, and it dies with the process that started it.

Example::

    worker = ParseWorker({"pdf_strategy": "fast"}, max_seconds=300)
    text, elements = worker.partition(SourceItem(uri="/docs/a.md", name="a.md"), data)
    worker.close()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from multiprocessing.connection import Connection
from typing import Any

from chunkwise.pipeline.errors import ParseError
from chunkwise.pipeline.source import SourceItem
from chunkwise.pipeline.types import Element

STARTUP_SECONDS = 300.0  # a child's imports, on a machine busy with the run's embedding
RETRY_START_SECONDS = 60.0  # after a failed start, documents fail at once for this long, then retry
_LONGEST_WAIT = 86_400.0  # one wait on the pipe (longer ones overflow): a limit waits in steps
_READY, _DONE, _FAILED = "ready", "done", "failed"
WARM_UP = b"# Warm-up\n\nThis sentence makes the parser load its language model.\n\n- a list item\n"


class ParseWorker:
    """A child process that partitions documents with an ``UnstructuredParser(**options)``."""

    def __init__(self, options: dict[str, Any], max_seconds: float) -> None:
        self.options = options
        self.max_seconds = max_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._to_child: Connection | None = None
        self._from_child: Connection | None = None
        self._broken: tuple[float, str] | None = None  # when and why a child last failed to start
        self._lock = threading.Lock()  # one document at a time per child

    def partition(self, item: SourceItem, data: bytes) -> tuple[str, list[Element]]:
        """The document's text and elements, as ``UnstructuredParser`` assembles them.

        Raises :class:`ParseError` for a document that fails to parse, takes longer than
        ``max_seconds``, or whose parsing process dies.
        """
        with self._lock:
            to_child, from_child = self._started()
            try:
                to_child.send((item, data))
                reply: tuple[str, Any] | None = (
                    from_child.recv() if _wait(from_child, self.max_seconds) else None
                )
            except (EOFError, OSError):
                code = self._exit_code()
                self.close()
                raise ParseError(f"the parsing process died ({code}) while reading this document") from None
            if reply is None:
                self.close()
                raise ParseError(
                    f"parsing took longer than {self.max_seconds:g} s (max_seconds_per_document): "
                    "stopped, and the document skipped"
                )
        status, value = reply
        if status == _FAILED:
            raise ParseError(value)
        text, elements = value
        return text, elements

    def close(self) -> None:
        """Stop the child process (a later document starts another)."""
        process, self._process = self._process, None
        for connection in (self._to_child, self._from_child):
            if connection is not None:
                connection.close()
        self._to_child = self._from_child = None
        if process is not None:
            _stop(process)

    def _started(self) -> tuple[Connection, Connection]:
        if self._broken is not None and time.monotonic() - self._broken[0] < RETRY_START_SECONDS:
            raise ParseError(self._broken[1])  # documents soon after a failed start hear it at once
        if self._process is not None and self._process.poll() is None and self._to_child and self._from_child:
            return self._to_child, self._from_child
        self.close()
        parent_reads, child_writes = os.pipe()
        child_reads, parent_writes = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(child_reads), str(child_writes)],
                pass_fds=(child_reads, child_writes),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONSAFEPATH": "1"},  # never the caller's folder on sys.path
            )
        finally:
            os.close(child_reads)
            os.close(child_writes)
        self._process = process
        self._to_child, self._from_child = Connection(parent_writes), Connection(parent_reads)
        weakref.finalize(self, _stop, process)  # a parser dropped without close() leaves no child
        try:
            self._to_child.send(self.options)
            ready = _wait(self._from_child, STARTUP_SECONDS) and self._from_child.recv() == (_READY, None)
        except (EOFError, OSError):
            ready = False
        if not ready:
            code = self._exit_code()
            self.close()
            message = f"the parsing process did not start ({code}): documents cannot be parsed"
            self._broken = (time.monotonic(), message)
            raise ParseError(message)
        return self._to_child, self._from_child

    def _exit_code(self) -> str:
        if self._process is None:
            return "gone"
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        code = self._process.returncode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _wait(connection: Connection, seconds: float) -> bool:
    """Whether something arrived (or the other end closed) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if connection.poll(min(left, _LONGEST_WAIT)):
            return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies, and to pick it first when memory runs
    out (the parent holds the run); elsewhere the closed pipe ends it after its document."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adjust:
        adjust.write("500")


def serve(from_parent: Connection, to_parent: Connection) -> None:
    """The child: partition each document received, send back its text and elements or the error."""
    from chunkwise.connectors.unstructured_parser import UnstructuredParser

    parser = UnstructuredParser(**from_parent.recv())
    # Load the partitioners and the language model now, so that a document's time is its own (a
    # warm-up that fails shows again on the first document).
    with contextlib.suppress(Exception):
        parser.partitioned(SourceItem(uri="warm-up.md", name="warm-up.md"), WARM_UP)
    to_parent.send((_READY, None))
    while True:
        try:
            item, data = from_parent.recv()
        except (EOFError, OSError):
            return
        try:
            to_parent.send((_DONE, parser.partitioned(item, data)))
        except ParseError as error:
            to_parent.send((_FAILED, str(error)))
        except Exception as error:  # noqa: BLE001 - every failure is the document's, sent as text
            to_parent.send((_FAILED, f"could not be parsed: {type(error).__name__}: {error}"))


def child_main(arguments: list[str]) -> None:
    """The child process's entry: ``arguments`` are the two pipe ends (reading, writing)."""
    _die_with_parent()
    serve(Connection(int(arguments[0])), Connection(int(arguments[1])))


_CHILD = "import sys; from chunkwise.connectors.parse_worker import child_main; child_main(sys.argv[1:])"
