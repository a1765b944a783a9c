"""Wiring and orchestration: the CLI, settings from the environment, and (soon) Prefect flows."""
