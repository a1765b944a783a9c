"""Wiring from settings: the store location and the API key come from the environment."""

from __future__ import annotations

from flows.components import build_store
from flows.settings import DEFAULT_STORE, Settings


def test_a_url_means_a_server_with_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    monkeypatch.delenv("CHUNKWISE_STORE", raising=False)
    store = build_store("https://qdrant.example.invalid:6333", Settings())
    assert store.is_server and store.api_key == "s3cret"
    client = store.client  # qdrant-client connects lazily: building it sends nothing
    assert type(client._client).__name__ == "QdrantRemote"
    assert "s3cret" not in repr(Settings())


def test_the_store_defaults_to_the_embedded_folder_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("CHUNKWISE_STORE", raising=False)
    monkeypatch.delenv("QDRANT_API_KEY", raising=False)
    assert build_store(None, Settings()).location == DEFAULT_STORE
    monkeypatch.setenv("CHUNKWISE_STORE", ":memory:")
    store = build_store(None, Settings())
    assert store.location == ":memory:" and not store.is_server and store.api_key is None
