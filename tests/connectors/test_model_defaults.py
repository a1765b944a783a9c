"""The model defaults table and how ingest options take it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner

from chunkwise.connectors.model_defaults import MEASURED, ROBUST, defaults_for
from chunkwise.connectors.offline import DEFAULT_MODEL
from chunkwise.flows.cli_options import MODEL_DECIDES, validated_options, with_ingest_options
from chunkwise.flows.settings import IngestOptions
from chunkwise.pipeline.errors import ConfigurationError


def test_every_row_says_what_measurement_justifies_it() -> None:
    for row in [*MEASURED.values(), ROBUST]:
        assert "benchmarks/RESULTS.md" in row.evidence and "sets" in row.evidence


def test_a_measured_model_gets_its_row_by_hub_name_or_short_name_and_others_the_robust_one() -> None:
    assert defaults_for(DEFAULT_MODEL) is MEASURED[DEFAULT_MODEL]
    assert defaults_for(DEFAULT_MODEL.rsplit("/", 1)[-1]) is MEASURED[DEFAULT_MODEL]
    assert defaults_for("someone/unmeasured-model") is ROBUST


def test_options_left_out_take_the_models_defaults_and_given_ones_win() -> None:
    row = defaults_for(DEFAULT_MODEL)

    options = IngestOptions()
    assert {name: getattr(options, name) for name in MODEL_DECIDES} == row.options()
    assert IngestOptions(chunk_size=96, chunk_overlap=8).chunk_size == 96
    assert IngestOptions(model="someone/unmeasured-model").headers == ROBUST.headers


def test_a_mix_default_never_lands_on_fixed_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MEASURED, "mixing/model", replace(ROBUST, chunking="late", late_mix=0.5))

    assert IngestOptions(model="mixing/model").late_mix == 0.5
    assert IngestOptions(model="mixing/model", chunking="fixed").late_mix is None
    with pytest.raises(ConfigurationError, match="needs chunking 'late'"):
        validated_options(chunking="fixed", late_mix=0.5)


def test_the_command_line_leaves_unset_options_to_the_model() -> None:
    app, seen = typer.Typer(), {}

    @app.command()
    @with_ingest_options
    def ingest(paths: list[str], options: IngestOptions) -> None:
        seen["options"] = options

    result = CliRunner().invoke(app, ["docs", "--chunk-size", "64", "--chunk-overlap", "8"])

    assert result.exit_code == 0, result.output
    row = defaults_for(DEFAULT_MODEL)
    assert (seen["options"].chunk_size, seen["options"].chunk_overlap) == (64, 8)
    assert (seen["options"].chunking, seen["options"].headers) == (row.chunking, row.headers)
    CliRunner().invoke(app, ["docs", "--no-headers", "--model", "someone/unmeasured-model"])
    assert seen["options"].headers is False and seen["options"].chunk_size == ROBUST.chunk_size
