"""Process-wide environment defaults for the command line and flows (never overriding the user's)."""

from __future__ import annotations

import os

from chunkwise.connectors.offline import quiet_telemetry

_DEFAULTS = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def quiet_libraries() -> None:
    """Turn off telemetry, download progress bars and chatty warnings of the libraries used."""
    quiet_telemetry()
    for name, value in _DEFAULTS.items():
        os.environ.setdefault(name, value)
