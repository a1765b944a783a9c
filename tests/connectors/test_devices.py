"""Device and precision resolution, token-budget batching, and the encoders on CPU and CUDA."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from chunkwise.connectors.devices import (
    CPU_TOKEN_BUDGET,
    GPU_MAX_TOKENS,
    AskedPlacement,
    Placement,
    available_devices,
    batch_rows,
    bytes_per_token,
    gpu_token_budget,
    plan_batches,
    resolve_device,
    resolve_placement,
    resolve_precision,
    token_budget,
)
from chunkwise.connectors.late_encoder import LateChunkingEncoder
from chunkwise.connectors.onnx_backend import cosines
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.flows.cli_options import validated_options
from chunkwise.pipeline.errors import ConfigurationError

CUDA = torch.cuda.is_available()
MPS = torch.backends.mps.is_available()
CHUNKWISE = str(Path(sys.executable).with_name("chunkwise"))
TEXTS = [
    "Berlin is the capital of Germany.",
    "dpkg --search tells which package a file came from. " * 6,
    "A short one.",
    "Python's sort is stable: equal keys keep their order. " * 3,
    "Late chunking pools token vectors per chunk. " * 9,
    "x",
]


def test_auto_picks_cuda_then_mps_then_the_cpu():
    expected = "cuda:0" if CUDA else "mps" if MPS else "cpu"
    assert resolve_device("auto") == resolve_device(None) == expected
    assert resolve_device("CPU") == "cpu"
    assert available_devices()[0] == "cpu"


def test_a_cuda_device_this_machine_lacks_is_refused_naming_those_it_has():
    absent = f"cuda:{torch.cuda.device_count()}"  # one past the last card: absent everywhere
    with pytest.raises(ConfigurationError, match=rf"device '{absent}' is not available.*sees cpu"):
        resolve_device(absent)
    if not CUDA:
        with pytest.raises(ConfigurationError, match=r"device 'cuda' is not available on this machine"):
            resolve_device("cuda")


@pytest.mark.skipif(MPS, reason="this machine has MPS, so asking for it is not refused")
def test_mps_absent_is_refused():
    with pytest.raises(ConfigurationError, match=r"device 'mps' is not available on this machine"):
        resolve_device("mps")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:", "tpu"])
def test_a_device_name_outside_the_choices_is_refused(device):
    with pytest.raises(ConfigurationError, match=r"device must be one of auto, cpu, cuda, cuda:N or mps"):
        resolve_device(device)
    with pytest.raises(ConfigurationError, match=r"device must be one of"):
        validated_options(device=device)


def test_precision_is_fp16_on_cuda_only_by_default_and_never_on_the_cpu():
    assert resolve_precision("auto", "cuda:1") == "fp16"
    assert resolve_precision("auto", "cpu") == resolve_precision("auto", "mps") == "fp32"
    assert resolve_precision("fp32", "cuda:0") == "fp32"
    assert resolve_precision("fp16", "mps") == "fp16"
    with pytest.raises(ConfigurationError, match="precision fp16 runs on a GPU only"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigurationError, match="precision must be one of auto, fp32, fp16, not 'bf16'"):
        resolve_precision("bf16", "cpu")
    assert resolve_placement("cpu", "auto") == Placement("cpu", "fp32")


def test_onnx_backends_run_on_the_cpu_at_fp32():
    assert resolve_placement("auto", "auto", backend="onnx") == Placement("cpu", "fp32")
    with pytest.raises(ConfigurationError, match="backend onnx runs on the CPU"):
        resolve_placement("cuda", backend="onnx")
    with pytest.raises(ConfigurationError, match="backend onnx-int8 runs at fp32"):
        resolve_placement("cpu", "fp16", backend="onnx-int8")


def test_an_asked_placement_resolves_auto_on_first_use_and_a_named_one_at_once():
    asked = AskedPlacement()
    assert (asked.device, asked.precision, asked._resolved) == ("auto", "auto", None)  # nothing probed
    assert asked.placement == resolve_placement("auto", "auto") and asked._resolved is not None
    assert AskedPlacement("CPU", None)._resolved == Placement("cpu", "fp32")
    assert AskedPlacement(backend="onnx")._resolved == Placement("cpu", "fp32")
    with pytest.raises(ConfigurationError, match="GPU only"):
        AskedPlacement("cpu", "fp16")
    with pytest.raises(ConfigurationError, match="device must be one of"):
        AskedPlacement("gpu")


def test_an_explicit_device_is_checked_when_the_encoder_is_made():
    if not CUDA:
        with pytest.raises(ConfigurationError, match="device 'cuda' is not available"):
            SentenceTransformerEncoder(device="cuda")
        with pytest.raises(ConfigurationError, match="device 'cuda' is not available"):
            LateChunkingEncoder(device="cuda")
    with pytest.raises(ConfigurationError, match="precision fp16 runs on a GPU only"):
        SentenceTransformerEncoder(device="cpu", precision="fp16")


def test_batch_rows_fill_the_budget_and_are_never_zero():
    assert batch_rows(256, 8192) == 32
    assert batch_rows(10, 8192) == 819
    assert batch_rows(9000, 8192) == 1
    assert batch_rows(0, 100) == 100


def test_batches_cover_every_text_once_longest_first_within_the_budget():
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.randint(1, 600) for _ in range(rng.randint(1, 80))]
        budget = rng.randint(50, 3000)
        batches = plan_batches(lengths, budget)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert all(batch for batch in batches)
        order = [lengths[i] for batch in batches for i in batch]
        assert order == sorted(lengths, reverse=True)
        for batch in batches:
            padded = max(lengths[i] for i in batch)
            assert len(batch) * padded <= budget or len(batch) == 1
            assert padded == lengths[batch[0]]  # the first text sets the padding
    assert plan_batches([10, 10, 5000, 10], budget_tokens=100) == [[2], [0, 1, 3]]  # the long one alone
    assert plan_batches([10, 10, 100, 10], rows=2) == [[2, 0], [1, 3]]
    assert plan_batches([], 100) == []


def test_the_gpu_budget_follows_free_memory_within_bounds():
    assert token_budget(Placement("cpu", "fp32")) == CPU_TOKEN_BUDGET
    assert gpu_token_budget(4 * 2**30, 36_864) == 29_127  # a quarter of 4 GiB at 36 KiB a token
    assert gpu_token_budget(80 * 2**30, 36_864) == GPU_MAX_TOKENS
    assert gpu_token_budget(2**20, 36_864) == CPU_TOKEN_BUDGET

    class Config:
        hidden_size, intermediate_size, num_attention_heads, max_position_embeddings = 384, 1536, 12, 512

    class Model:
        config = Config()

    assert bytes_per_token(Model(), 2) == 2 * 2 * (1536 + 4 * 384 + 12 * 512)
    assert bytes_per_token(object(), 2) > 0


@pytest.fixture(scope="module")
def late_documents():
    text = " ".join(f"Sentence {n} says something about packages and commits." for n in range(20))
    cut = [(0, 100), (101, 900), (901, len(text))]
    return [(text, cut), ("A short document about dpkg.", [(0, 28)]), (text[:400], [(0, 200), (201, 400)])]


def test_token_budget_batches_give_the_fixed_batches_vectors(encoder, monkeypatch):
    auto = encoder.encode_documents(TEXTS)
    plans: list[list[list[int]]] = []
    plan = encoder._plan

    def recorded_plan(*arguments, **options):
        plans.append(plan(*arguments, **options))
        return plans[-1]

    monkeypatch.setattr(encoder, "_plan", recorded_plan)
    monkeypatch.setattr(encoder, "batch_budget", lambda: 80)  # several batches of these texts
    tight = encoder.encode_documents(TEXTS)
    assert len(plans[-1]) > 2
    monkeypatch.setattr(encoder, "batch_size", 4)
    fixed = encoder.encode_documents(TEXTS)
    np.testing.assert_allclose(auto, fixed, atol=1e-5)
    np.testing.assert_allclose(tight, fixed, atol=1e-5)
    assert encoder.device == resolve_device("auto")


def test_late_chunking_with_token_budget_batches_gives_the_fixed_batches_vectors(
    encoder, late_documents, monkeypatch
):
    fixed = LateChunkingEncoder.from_encoder(encoder, window=64, overlap=8, batch_size=3)
    auto = LateChunkingEncoder.from_encoder(encoder, window=64, overlap=8)
    reference = fixed.encode_chunks_many(late_documents)
    for budget in (encoder.batch_budget(), 130):  # all windows in one batch; two windows a batch
        monkeypatch.setattr(encoder, "batch_budget", lambda budget=budget: budget)
        for mine, theirs in zip(auto.encode_chunks_many(late_documents), reference, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-5)


@pytest.mark.skipif(not CUDA, reason="no CUDA device here (torch.cuda.is_available() is False)")
def test_fp16_on_cuda_is_within_cosine_0_999_of_fp32_on_the_cpu(encoder, late_documents):
    gpu = SentenceTransformerEncoder(device="cuda")
    assert gpu.placement == Placement("cuda:0", "fp16")
    assert next(gpu.model.parameters()).dtype == torch.float16
    assert gpu.batch_budget() >= CPU_TOKEN_BUDGET
    cpu = SentenceTransformerEncoder(device="cpu")
    assert cosines(gpu.encode_documents(TEXTS), cpu.encode_documents(TEXTS)).min() > 0.999
    assert float(cosines(gpu.encode_query("dpkg")[None], cpu.encode_query("dpkg")[None])[0]) > 0.999
    late_gpu = LateChunkingEncoder.from_encoder(gpu, window=64, overlap=8)
    late_cpu = LateChunkingEncoder.from_encoder(cpu, window=64, overlap=8)
    for mine, theirs in zip(
        late_gpu.encode_chunks_many(late_documents), late_cpu.encode_chunks_many(late_documents), strict=True
    ):
        assert cosines(mine, theirs).min() > 0.999


def test_ingest_on_a_device_this_machine_lacks_fails_with_the_message(tmp_path, sample_data):
    device = f"cuda:{torch.cuda.device_count()}" if CUDA else "cuda"
    arguments = ["ingest", str(sample_data / "git-bisect.txt"), "--store", str(tmp_path / "s")]
    result = subprocess.run(
        [CHUNKWISE, *arguments, "--device", device],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 1, result.stderr
    assert f"device '{device}' is not available on this machine" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()  # refused before the store was made
