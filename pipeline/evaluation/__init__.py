"""Retrieval evaluation: the passage relevance rule of our evaluation sets and tie-aware ranking metrics."""
