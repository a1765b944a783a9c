"""``chunkwise.pipeline`` is plain Python: importing it loads no model, store, parser or orchestrator;
``import chunkwise`` is cheap, and chunkwise never imports a top-level name but its own."""

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


def test_importing_pipeline_loads_no_heavy_module(tmp_path):
    probe = (
        "import json, sys, chunkwise.pipeline, chunkwise.pipeline.indexing, chunkwise.pipeline.batching, "
        "chunkwise.pipeline.chunking.token_chunker; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_importing_connectors_defers_heavy_libraries(tmp_path):
    probe = (
        "import json, sys, chunkwise, chunkwise.connectors; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_the_command_line_loads_prefect_and_the_model_only_when_a_command_needs_them(tmp_path):
    probe = (
        "import json, sys, chunkwise.flows.cli; "
        "print(json.dumps([m for m in ['prefect', 'torch', 'langchain_core'] if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_every_module_lives_under_the_one_import_name(tmp_path):
    """Importing each of chunkwise's modules, even from a folder holding a ``pipeline.py``, loads no
    top-level ``pipeline``, ``connectors`` or ``flows``: the package never reaches outside itself."""
    (tmp_path / "pipeline.py").write_text("raise ImportError('the user\\'s own pipeline.py')\n")
    probe = (
        "import json, pkgutil, sys, importlib; "
        "parts = [importlib.import_module(f'chunkwise.{p}') for p in ('pipeline', 'connectors', 'flows')]; "
        "names = [m.name for p in parts for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]; "
        "[importlib.import_module(name) for name in names]; "
        "print(json.dumps([len(names), [m for m in sys.modules if m.split('.')[0] in "
        "('pipeline', 'connectors', 'flows')]]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    modules, outside = json.loads(result.stdout)
    assert modules > 50
    assert outside == []
