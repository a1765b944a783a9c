"""``pipeline`` is plain Python: importing it loads no model, store, parser or orchestrator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = [
    "prefect",
    "qdrant_client",
    "qdrant_edge",
    "unstructured",
    "torch",
    "transformers",
    "sentence_transformers",
    "langchain_core",
    "tiktoken",
    "typer",
]


def test_importing_pipeline_loads_no_heavy_module():
    probe = (
        "import json, sys, pipeline, pipeline.indexing, pipeline.batching, pipeline.chunking.token_chunker; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_importing_connectors_defers_heavy_libraries():
    probe = f"import json, sys, connectors; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_command_line_loads_prefect_and_the_model_only_when_a_command_needs_them():
    probe = (
        "import json, sys, flows.cli; "
        "print(json.dumps([m for m in ['prefect', 'torch', 'langchain_core'] if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []
