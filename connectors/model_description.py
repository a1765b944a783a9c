"""What the pipeline must know of an embedding model before running it, remembered between runs.

A collection's fingerprint needs the model's vector dimension and input lengths. Loading the
model to learn them costs seconds (torch, transformers and the weights), which a re-run that
finds every document unchanged would pay for nothing. So the values read from a loaded model
are kept in a small cache, keyed by the model folder's files (names, sizes, modification times)
and the library versions, and read back instead of loading while none of them changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_LIBRARIES = ("sentence-transformers", "transformers", "tokenizers")
_LENGTHS = ("dimension", "max_seq_length", "max_positions", "max_tokens")
_SCHEMA = 2  # 2: pooling and prompts described too; descriptions written before are not read


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """A model's output dimension and input lengths, as its loaded ``SentenceTransformer`` reports them.

    ``max_tokens`` is the room left for a document's text once special tokens and the document
    prompt are in (``None``, like ``max_seq_length``, when the model sets no input length);
    ``max_positions`` is the position limit of its transformer, ``None`` when the model has no
    token embeddings. ``pooling`` is how it pools token vectors (see
    :func:`connectors.model_traits.pooling_kind`); ``query_prompt`` and ``document_prompt`` are
    the prompts its configuration puts before queries and documents (``""``: none).

    Example::

        ModelDescription(dimension=384, max_seq_length=256, max_positions=512, max_tokens=254,
                         pooling="mean")
    """

    dimension: int
    max_seq_length: int | None
    max_positions: int | None
    max_tokens: int | None
    pooling: str | None = None
    query_prompt: str = ""
    document_prompt: str = ""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelDescription:
        """The description written as ``values``; ``ValueError`` unless every length is a positive int."""
        description = cls(**values)
        if not all(isinstance(text, str) for text in (description.query_prompt, description.document_prompt)):
            raise ValueError("the prompts must be text")
        if not isinstance(description.pooling, str):
            raise ValueError(f"pooling must be text, not {description.pooling!r}")
        for name in _LENGTHS:
            value = getattr(description, name)
            optional = name != "dimension"
            valid_int = isinstance(value, int) and not isinstance(value, bool) and value > 0
            if not (valid_int or (optional and value is None)):
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        return description


class ModelDescriptionCache:
    """Descriptions of local model folders, one small JSON file each, under ``folder``.

    ``folder`` defaults to ``$CHUNKWISE_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/chunkwise/models``,
    else ``~/.cache/chunkwise/models``. Models named on the Hugging Face hub (not a local folder)
    are not cached. A cache that cannot be read or written is ignored: the model is loaded instead.

    Example::

        cache = ModelDescriptionCache()
        description = cache.get(path, {"max_tokens": None})   # None until a loaded model was put
        cache.put(path, {"max_tokens": None}, description_of_loaded_model)
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_cache_folder() / "models"

    def get(self, model_path: str, options: dict[str, Any]) -> ModelDescription | None:
        entry = self._entry(model_path, options)
        if entry is None or not entry.is_file():
            return None
        try:
            return ModelDescription.from_dict(json.loads(entry.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            logger.debug("ignoring the unreadable model description %s: %s", entry, error)
            return None

    def put(self, model_path: str, options: dict[str, Any], description: ModelDescription) -> None:
        entry = self._entry(model_path, options)
        if entry is None:
            return
        partial = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(asdict(description)), encoding="utf-8")
            os.replace(partial, entry)
        except OSError as error:
            logger.debug("cannot cache the description of %s in %s: %s", model_path, entry, error)
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)

    def _entry(self, model_path: str, options: dict[str, Any]) -> Path | None:
        folder = Path(model_path)
        if not folder.is_dir():
            return None
        identity = {
            "folder": str(folder.resolve()),
            "files": _file_stamps(folder),
            "libraries": {name: _version(name) for name in _LIBRARIES},
            "options": options,
            "schema": _SCHEMA,
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
        return self.folder / f"{key[:32]}.json"


def default_cache_folder() -> Path:
    """``$CHUNKWISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/chunkwise``, else ``~/.cache/chunkwise``."""
    if os.environ.get("CHUNKWISE_CACHE_DIR"):
        return Path(os.environ["CHUNKWISE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "chunkwise"


def _file_stamps(folder: Path) -> list[tuple[str, int, int]]:
    """Every file under ``folder``: relative path, size and modification time (nanoseconds)."""
    stamps = []
    for path in folder.rglob("*"):
        if path.is_file():
            stat = path.stat()
            stamps.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(stamps)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
