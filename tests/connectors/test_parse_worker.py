"""Parsing in a child process with a time limit: a document over it is stopped and fails alone, a
child that dies fails its document only, and what comes back equals parsing in this process."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chunkwise.connectors.parse_worker import ParseWorker
from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.errors import ParseError
from chunkwise.pipeline.source import SourceItem

SMALL = b"# Mirrors\n\nDebian is mirrored on hundreds of servers worldwide.\n"


def item(name: str) -> SourceItem:
    return SourceItem(uri=f"/docs/{name}", name=name)


def slow_text() -> bytes:
    """40,000 one-line sentences: unstructured classifies each line apart, for minutes."""
    words = ["alpha", "beta", "gamma", "delta", "package", "mirror", "release", "kernel", "module", "option"]
    rng = random.Random(1)
    lines = (" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) + "." for _ in range(40_000))
    return "\n".join(lines).encode()


@pytest.fixture(scope="module")
def worker():
    started = ParseWorker({}, max_seconds=5)
    yield started
    started.close()


def test_a_document_over_the_limit_is_stopped_and_the_next_one_parses(worker):
    worker.partition(item("first.md"), SMALL)  # the child has started
    huge, began = slow_text(), time.monotonic()
    with pytest.raises(ParseError, match=r"parsing took longer than 5 s \(max_seconds_per_document\)"):
        worker.partition(item("huge.txt"), huge)
    assert time.monotonic() - began < 60  # stopped, not waited out

    text, elements = worker.partition(item("mirrors.md"), SMALL)
    assert text.startswith("Mirrors") and [e.kind for e in elements] == ["Title", "NarrativeText"]


def test_a_parsing_process_that_dies_fails_its_document_only(worker):
    worker.partition(item("first.md"), SMALL)  # a child is running
    victim, huge = worker._process.pid, slow_text()
    threading.Timer(1.0, os.kill, (victim, signal.SIGKILL)).start()
    with pytest.raises(ParseError, match=r"the parsing process died \(killed by signal 9\)"):
        worker.partition(item("huge.txt"), huge)

    text, _ = worker.partition(item("after.md"), SMALL)
    assert "hundreds of servers" in text and worker._process.pid != victim


def test_what_the_child_parses_equals_parsing_in_this_process(sample_data: Path):
    here, there = UnstructuredParser(), UnstructuredParser(max_seconds=120)
    try:
        for name in ("nodejs-path.md", "python-sorting-howto.docx", "debian-faq-pkgtools.html"):
            data = (sample_data / name).read_bytes()
            assert there.parse(item(name), data) == here.parse(item(name), data)
        broken = b"%PDF-1.7\nnot a pdf body\n"
        with pytest.raises(ParseError) as in_process:
            here.parse(item("broken.pdf"), broken)
        with pytest.raises(ParseError, match=re.escape(str(in_process.value))):
            there.parse(item("broken.pdf"), broken)
    finally:
        there.close()


SCRIPT = """
from pathlib import Path
import sys

from chunkwise.connectors.unstructured_parser import UnstructuredParser
from chunkwise.pipeline.source import SourceItem

with open(sys.argv[1], "a") as runs:  # no __main__ guard: a child that re-ran this would show here
    runs.write("ran\\n")
parser = UnstructuredParser(max_seconds=1e9)  # a limit too large for one wait on the pipe
document = parser.parse(SourceItem(uri="/docs/a.md", name="a.md"), b"# Title\\n\\nSome text here.\\n")
print(document.text)
"""


def test_a_script_without_a_main_guard_parses_in_a_child_that_never_reruns_it(tmp_path):
    script, runs = tmp_path / "ingest_my_docs.py", tmp_path / "runs.txt"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(runs)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Title", "", "Some text here."]
    assert runs.read_text() == "ran\n"
