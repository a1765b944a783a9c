"""Multi-vector (late interaction, ColBERT) embeddings: one L2-normalised vector per token, scored by MaxSim.

A ColBERT-style model is a transformer and a linear projection of its token vectors (768 -> 128 for
colbertv2.0, 384 -> 96 for answerai-colbert-small). A query's score against a chunk is MaxSim: the
sum, over the query's token vectors, of the best cosine among the chunk's token vectors. Qdrant
stores a chunk's vectors as one multivector and scores it so (``MultiVectorComparator.MaxSim``).

Two layouts of checkpoints load (:func:`read_layout`):

- **sentence-transformers / PyLate** (``answerdotai/answerai-colbert-small-v1``,
  ``jinaai/jina-colbert-v2``, ``lightonai/*``, every model PyLate saves): ``modules.json`` lists a
  ``Transformer`` and one or more ``Dense`` layers (``1_Dense/``: ``config.json`` and
  ``linear.weight``); ``config_sentence_transformers.json`` gives ``query_prefix``,
  ``document_prefix``, ``query_length``, ``do_query_expansion``, ``attend_to_expansion_tokens`` and
  ``skiplist_words``.
- **ColBERT** (Stanford's ``colbert-ir/colbertv2.0`` and checkpoints its trainer writes): a
  transformers folder whose weights hold the BERT (``bert.*``) and ``linear.weight``;
  ``artifact.metadata`` gives ``query_token_id``/``doc_token_id`` (``[unused0]``/``[unused1]``),
  ``query_maxlen``, ``attend_to_mask_tokens`` and ``mask_punctuation`` (ColBERT's defaults where
  it is missing).

A folder with neither projection stores its transformer's own token vectors. Queries are read as
``[CLS] <query marker> text [SEP]`` padded with ``[MASK]`` to the query length (ColBERT's query
augmentation; the masks' vectors are kept). A chunk keeps the vectors of its own tokens (not the
special tokens, not the marker, not the skip list's punctuation): with late chunking they come from
the document pass of :class:`~connectors.late_encoder.LateChunkingEncoder` (its windows), else
from the chunk read alone.

Storage: ``4 x size`` bytes per stored token vector (float32), so a 256-token chunk of a 128-d
model takes 128 KiB, 85 times a 384-d dense vector. ``pool_factor`` F stores the mean of each
run of F adjacent token vectors (renormalised: F times fewer), ``max_tokens`` N at most N
vectors per chunk (adjacent vectors merged into N groups when there are more).
"""

from __future__ import annotations

import functools
import json
import logging
import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chunkwise.connectors.devices import AskedPlacement, Placement, check_device, check_precision
from chunkwise.connectors.late_encoder import DEFAULT_LATE_OVERLAP, LateChunkingEncoder, TokenStates
from chunkwise.connectors.onnx_backend import torch_hidden_states
from chunkwise.connectors.qdrant_common import MULTIVECTOR_NAME
from chunkwise.connectors.sentence_transformer_encoder import SentenceTransformerEncoder
from chunkwise.pipeline.errors import ConfigurationError, EncodingError
from chunkwise.pipeline.late_chunking import token_range
from chunkwise.pipeline.types import Chunk, Document

logger = logging.getLogger(__name__)

COLBERT_QUERY_MARKER, COLBERT_DOCUMENT_MARKER = "[unused0]", "[unused1]"
COLBERT_QUERY_LENGTH = 32
IDENTITY = ("torch.nn.modules.linear.Identity", "Identity", "", None)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Projection:
    """One linear layer applied to token vectors: ``vectors @ weight.T + bias``.

    Example::

        Projection(np.ones((2, 4), dtype=np.float32))(np.ones((3, 4), dtype=np.float32)).shape   # (3, 2)
    """

    weight: np.ndarray
    bias: np.ndarray | None = None

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        out = vectors @ self.weight.T
        return out + self.bias if self.bias is not None else out


@dataclass(frozen=True)
class LateInteractionLayout:
    """What a late-interaction checkpoint holds beside its transformer (see :func:`read_layout`).

    ``transformer`` is the folder of the transformer; ``projections`` run in order on its token
    vectors; markers are token strings (``""``: none) read after ``[CLS]``; ``query_length``
    (``None``: no expansion) is the length queries are padded to with ``[MASK]``.

    Example::

        layout = read_layout("models/colbertv2.0")
        layout.kind, layout.query_length, layout.projections[-1].weight.shape   # ("colbert", 32, (128, 768))
    """

    transformer: str
    projections: tuple[Projection, ...] = ()
    query_marker: str = ""
    document_marker: str = ""
    query_length: int | None = None
    attend_to_expansion: bool = False
    skiplist: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "transformer"  # "sentence-transformers", "colbert" or "transformer"


def read_layout(folder: str | Path) -> LateInteractionLayout:
    """The layout of a local late-interaction checkpoint folder: sentence-transformers/PyLate
    (``modules.json``), ColBERT (``linear.weight`` beside the BERT), else a bare transformer.

    Example::

        read_layout("models/colbertv2.0").query_marker   # '[unused0]'
    """
    root = Path(folder)
    if (root / "modules.json").is_file():
        return _sentence_transformers_layout(root)
    linear = _read_tensors(root, ("linear.weight", "linear.bias"))
    if "linear.weight" not in linear:
        return LateInteractionLayout(transformer=str(root))
    metadata = _json(root / "artifact.metadata")
    return LateInteractionLayout(
        transformer=str(root),
        projections=(Projection(linear["linear.weight"], linear.get("linear.bias")),),
        query_marker=str(metadata.get("query_token_id", COLBERT_QUERY_MARKER)),
        document_marker=str(metadata.get("doc_token_id", COLBERT_DOCUMENT_MARKER)),
        query_length=int(metadata.get("query_maxlen", COLBERT_QUERY_LENGTH)),
        attend_to_expansion=bool(metadata.get("attend_to_mask_tokens", False)),
        skiplist=tuple(string.punctuation) if metadata.get("mask_punctuation", True) else (),
        kind="colbert",
    )


def _sentence_transformers_layout(root: Path) -> LateInteractionLayout:
    modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    transformer, projections = None, []
    for module in modules:
        kind, where = str(module.get("type", "")), root / str(module.get("path", ""))
        if kind.endswith("Transformer") and transformer is None:
            transformer = where
        elif kind.endswith("Dense"):
            projections.append(_dense(where))
        elif not kind.endswith(("Normalize", "Pooling")):
            raise ConfigurationError(f"{root}: module {kind} is not a late-interaction layer")
    if transformer is None:
        raise ConfigurationError(f"{root}: modules.json lists no Transformer module")
    config = _json(root / "config_sentence_transformers.json")
    expand = bool(config.get("do_query_expansion", True))
    length = config.get("query_length") if expand else None
    return LateInteractionLayout(
        transformer=str(transformer),
        projections=tuple(projections),
        query_marker=str(config.get("query_prefix") or "").strip(),
        document_marker=str(config.get("document_prefix") or "").strip(),
        query_length=int(length) if length else None,
        attend_to_expansion=bool(config.get("attend_to_expansion_tokens", False)),
        skiplist=tuple(config.get("skiplist_words") or ()),
        kind="sentence-transformers",
    )


def _dense(folder: Path) -> Projection:
    config = _json(folder / "config.json")
    activation = config.get("activation_function")
    if activation not in IDENTITY:
        raise ConfigurationError(
            f"{folder}: Dense activation {activation!r} is not supported (only Identity)"
        )
    tensors = _read_tensors(folder, ("linear.weight", "linear.bias"))
    if "linear.weight" not in tensors:
        raise ConfigurationError(f"{folder}: no linear.weight in {' or '.join(WEIGHT_FILES)}")
    return Projection(tensors["linear.weight"], tensors.get("linear.bias"))


def _read_tensors(folder: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The tensors of ``names`` found in the folder's weights (float32 numpy)."""
    if (folder / WEIGHT_FILES[0]).is_file():
        from safetensors import safe_open

        with safe_open(str(folder / WEIGHT_FILES[0]), framework="pt") as weights:
            keys = set(weights.keys())
            return {n: weights.get_tensor(n).float().numpy() for n in names if n in keys}
    if (folder / WEIGHT_FILES[1]).is_file():
        import torch

        state = torch.load(folder / WEIGHT_FILES[1], map_location="cpu", weights_only=True)
        return {n: state[n].float().numpy() for n in names if n in state}
    return {}


def _json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def pool_tokens(vectors: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each run of ``factor`` adjacent rows (the last run may be shorter), renormalised.

    Example::

        pool_tokens(np.eye(4, dtype=np.float32), 2).shape   # (2, 4)
    """
    if factor <= 1 or len(vectors) <= 1:
        return vectors
    groups = np.array_split(vectors, range(factor, len(vectors), factor))
    return _normalize(np.stack([group.mean(axis=0) for group in groups]))


def cap_tokens(vectors: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` rows: more are merged into ``limit`` runs of adjacent rows (their means,
    renormalised), so that the whole chunk stays covered.

    Example::

        cap_tokens(np.eye(6, dtype=np.float32), 4).shape   # (4, 6); cap_tokens(vectors, None) is vectors
    """
    if limit is None or len(vectors) <= limit:
        return vectors
    return _normalize(np.stack([group.mean(axis=0) for group in np.array_split(vectors, limit)]))


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """ColBERT's late-interaction score: for each query token the best dot product among the
    document's token vectors, summed (what Qdrant's MaxSim comparator computes with cosine).

    Example::

        maxsim(encoder.encode_query("q"), stored_vectors)
    """
    return float(
        (np.asarray(query, dtype=np.float64) @ np.asarray(document, dtype=np.float64).T).max(axis=1).sum()
    )


class _TransformerEncoder(SentenceTransformerEncoder):
    """A sentence-transformers encoder of a checkpoint's transformer alone (no pooling or Dense):
    its tokenizer, input lengths and token states."""

    def __init__(self, layout: LateInteractionLayout, name: str, **options: Any) -> None:
        super().__init__(
            layout.transformer,
            query_prompt=_prompt(layout.query_marker),
            document_prompt=_prompt(layout.document_marker),
            **options,
        )
        self.model_name = name
        self.layout = layout

    @property
    def _cache_options(self) -> dict[str, Any]:
        return {**super()._cache_options, "late_interaction": True}

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Transformer

        placement = self.placement
        logger.info(
            "loading late-interaction model %s from %s on %s (%s)",
            self.model_name,
            self.layout.transformer,
            placement.device,
            placement.precision,
        )
        try:
            transformer = Transformer(self.layout.transformer)
            model = SentenceTransformer(modules=[transformer], device=placement.device)
        except Exception as error:
            raise ConfigurationError(
                f"cannot load multivector model {self.model_name!r} (--multivector-model): {error}"
            ) from error
        if placement.half:
            model.half()
        _register_markers(model.tokenizer, (self.layout.query_marker, self.layout.document_marker))
        return model


def _prompt(marker: str) -> str:
    return f"{marker} " if marker else ""


def _register_markers(tokenizer: Any, markers: Sequence[str]) -> None:
    """Make each marker that is one token of the vocabulary (``[unused0]``) read as that token."""
    vocabulary = tokenizer.get_vocab()
    known = [marker for marker in markers if marker and marker in vocabulary]
    if known:
        tokenizer.add_special_tokens({"additional_special_tokens": known}, replace_extra_special_tokens=False)


class MultivectorEncoder:
    """Token vectors of queries and chunks from a ColBERT-style model, for a Qdrant multivector.

    ``model`` is a hub name or a local folder in either layout the module docstring describes
    (``path``: load it from another folder, the collection still recording ``model``).
    ``late``: a chunk's token vectors come from its document's pass (windows of ``window`` tokens
    sharing ``overlap``, as :class:`~connectors.late_encoder.LateChunkingEncoder` reads them), else
    from the chunk read alone. ``pool_factor`` and ``max_tokens`` bound what a chunk stores.
    ``device`` and ``precision`` place the model as the dense encoder's options do (see
    :mod:`connectors.devices`: fp16 on a GPU only). It is a :class:`~pipeline.embedding.NamedEmbedder`
    (``vector_config`` and ``embed``); ``name`` is the named vector it fills.

    Example::

        colbert = MultivectorEncoder("answerdotai/answerai-colbert-small-v1", pool_factor=2)
        [vectors] = colbert.encode_documents(["Debian packages are built with dpkg-buildpackage."])
        vectors.shape                         # (tokens / 2, 96), each row of norm 1
        colbert.encode_query("how are packages built").shape   # (32, 96)
    """

    name = MULTIVECTOR_NAME

    def __init__(
        self,
        model: str,
        *,
        path: str | None = None,
        pool_factor: int = 1,
        max_tokens: int | None = None,
        late: bool = False,
        window: int | None = None,
        overlap: int = DEFAULT_LATE_OVERLAP,
        batch_size: int = 16,
        device: str | None = "auto",
        precision: str | None = "auto",
    ) -> None:
        if not model.strip():
            raise ConfigurationError("the multivector model is empty: give a model name or folder")
        if pool_factor < 1:
            raise ConfigurationError(f"multivector pool factor ({pool_factor}) must be >= 1")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigurationError(f"multivector max tokens ({max_tokens}) must be >= 1")
        self.model_name = model
        self.path = path or model
        self.pool_factor = pool_factor
        self.max_tokens = max_tokens
        self.late = late
        self.window = window
        self.overlap = overlap
        self.batch_size = batch_size
        self.asked_placement = AskedPlacement(device, precision)
        self._loaded: _TransformerEncoder | None = None  # a model another encoder loaded (``share``)
        self._reader: LateChunkingEncoder | None = None
        self._loading = threading.Lock()

    @property
    def reader(self) -> LateChunkingEncoder:
        """The window reader over the model's transformer (it loads the model on first use)."""
        with self._loading:
            if self._reader is None:
                base = self._loaded or self._load_base()
                self._reader = LateChunkingEncoder.from_encoder(
                    base, window=self.window, overlap=self.overlap, batch_size=self.batch_size
                )
        return self._reader

    def _load_base(self) -> _TransformerEncoder:
        placement = self.placement
        base = _TransformerEncoder(
            read_layout(self._folder()),
            self.model_name,
            device=placement.device,
            precision=placement.precision,
        )
        _ = base.model  # a folder that does not load stops here
        return base

    def share(
        self,
        *,
        pool_factor: int = 1,
        max_tokens: int | None = None,
        late: bool = False,
        window: int | None = None,
        overlap: int = DEFAULT_LATE_OVERLAP,
    ) -> MultivectorEncoder:
        """An encoder of the same model, path and placement with other storage and window options,
        sharing this one's loaded model (loaded now if it was not).

        Example::

            pooled = colbert.share(pool_factor=2, late=True)   # no second load of the model
        """
        shared = MultivectorEncoder(
            self.model_name,
            path=self.path,
            pool_factor=pool_factor,
            max_tokens=max_tokens,
            late=late,
            window=window,
            overlap=overlap,
            batch_size=self.batch_size,
            device=self.placement.device,
            precision=self.placement.precision,
        )
        shared._loaded = self._base
        return shared

    @property
    def placement(self) -> Placement:
        """The device and precision the model runs at (``auto`` is resolved on first use)."""
        return self.asked_placement.placement

    @property
    def device(self) -> str:
        """The device the model runs on: ``cpu``, ``cuda:N`` or ``mps``."""
        return self.placement.device

    @property
    def layout(self) -> LateInteractionLayout:
        return self._base.layout

    @property
    def size(self) -> int:
        """Components of each token vector (the last projection's outputs)."""
        projections = self.layout.projections
        return int(projections[-1].weight.shape[0]) if projections else self._base.description.dimension

    @property
    def vector_config(self) -> dict[str, Any]:
        """What the collection's fingerprint records under ``vectors["multivector"]``."""
        config: dict[str, Any] = {"kind": MULTIVECTOR_NAME, "size": self.size, "model": self.model_name}
        config["chunks"] = "late" if self.late else "alone"
        if self.pool_factor > 1:
            config["pool_factor"] = self.pool_factor
        if self.max_tokens is not None:
            config["max_tokens"] = self.max_tokens
        return config

    def encode_query(self, text: str) -> np.ndarray:
        """The query's token vectors (``[CLS]``, marker, text, ``[SEP]`` and expansion ``[MASK]``s),
        each of norm 1: (tokens, size)."""
        base, layout = self._base, self.layout
        tokenizer = base.model.tokenizer
        length = layout.query_length or base.max_seq_length or self.reader.window
        ids = list(tokenizer(base.prompt("query") + text, truncation=True, max_length=length)["input_ids"])
        mask = [1] * len(ids)
        if layout.query_length and len(ids) < length:
            padding = length - len(ids)
            ids += [tokenizer.mask_token_id] * padding
            mask += [1 if layout.attend_to_expansion else 0] * padding
        states = torch_hidden_states(base.token_model, np.array([ids]), np.array([mask]))[0]
        return self._project(states)

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token vectors, read alone (bounded by ``pool_factor`` and ``max_tokens``)."""
        return [self._chunk(text.ids, text.states) for text in self.reader.token_states_many(list(texts))]

    def embed(self, batch: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[list[np.ndarray]]:
        """Per document, one (tokens, size) array per chunk: slices of the document pass if ``late``."""
        if not self.late:
            vectors = iter(self.encode_documents([chunk.text for _, chunks in batch for chunk in chunks]))
            return [[next(vectors) for _ in chunks] for _, chunks in batch]
        passes = self.reader.token_states_many([document.text for document, _ in batch])
        return [
            [self._slice(text, chunk) for chunk in chunks]
            for text, (_, chunks) in zip(passes, batch, strict=True)
        ]

    def _slice(self, text: TokenStates, chunk: Chunk) -> np.ndarray:
        first, last = token_range(text.starts, chunk.start, chunk.end)
        return self._chunk(text.ids[first:last], text.states[first:last])

    def _chunk(self, ids: Sequence[int], states: np.ndarray) -> np.ndarray:
        """A chunk's stored vectors: its tokens but the skip list's, projected, normalised, bounded."""
        if not len(states):
            raise EncodingError("a chunk covers no token, so it has no token vectors")
        skipped = self._skip_ids()
        kept = [row for row, token in enumerate(ids) if token not in skipped]
        if kept and len(kept) < len(ids):  # a chunk of punctuation alone keeps it
            states = states[kept]
        vectors = pool_tokens(self._project(states), self.pool_factor)
        return cap_tokens(vectors, self.max_tokens).astype(np.float32)

    def _project(self, states: np.ndarray) -> np.ndarray:
        vectors = np.asarray(states, dtype=np.float32)
        for projection in self.layout.projections:
            vectors = projection(vectors)
        return _normalize(vectors)

    def _skip_ids(self) -> set[int]:
        tokenizer = self._base.model.tokenizer
        vocabulary = tokenizer.get_vocab()
        return {vocabulary[word] for word in self.layout.skiplist if word in vocabulary}

    @property
    def _base(self) -> _TransformerEncoder:
        return self.reader.base  # type: ignore[return-value]

    def _folder(self) -> str:
        """The local folder of the model (a hub name's snapshot, downloaded unless offline)."""
        if Path(self.path).is_dir():
            return self.path
        try:
            from huggingface_hub import snapshot_download

            return str(snapshot_download(repo_id=self.path))
        except Exception as error:
            raise ConfigurationError(
                f"cannot load multivector model {self.path!r} (--multivector-model): {error}"
            ) from error


def shared_multivector(
    model: str, path: str | None = None, device: str | None = "auto", precision: str | None = "auto"
) -> MultivectorEncoder:
    """One multivector encoder per model name, ``path``, ``device`` and ``precision`` in the process
    (queries of a collection's retrievers share it; it loads on first use).

    Example::

        tokens = shared_multivector(store.fingerprint("docs").vectors["multivector"]["model"], device="cpu")
    """
    return _shared(model, path, check_device(device), check_precision(precision))


@functools.lru_cache(maxsize=4)
def _shared(model: str, path: str | None, device: str, precision: str) -> MultivectorEncoder:
    return MultivectorEncoder(model, path=path, device=device, precision=precision)


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
