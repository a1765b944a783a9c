"""The example notebooks run, top to bottom, on a fresh kernel, as a reader would run them."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT_SECONDS = 600


def test_the_example_notebooks_are_all_here():
    assert [path.name for path in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_late_vs_fixed.ipynb",
        "03_rag_chain.ipynb",
        "04_scheduled_ingestion.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_is_stored_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_on_a_fresh_kernel(path: Path, record_property):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},  # run from examples/, as documented
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    record_property("seconds", round(time.perf_counter() - started, 1))
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
