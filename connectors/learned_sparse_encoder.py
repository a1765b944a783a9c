"""Learned sparse term weights (SPLADE and the like) from sentence-transformers' ``SparseEncoder``."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import Any

from chunkwise.connectors.bm25_encoder import Bm25Encoder
from chunkwise.connectors.devices import AskedPlacement, Placement, check_device, check_precision
from chunkwise.pipeline.errors import ConfigurationError
from chunkwise.pipeline.fingerprint import LEARNED_SPARSE
from chunkwise.pipeline.types import SparseVector

logger = logging.getLogger(__name__)


class LearnedSparseEncoder:
    """Term weights over a model's vocabulary, from a sentence-transformers ``SparseEncoder``.

    ``model`` is a hub name or a local folder of a SPLADE-style model (a masked-language model
    under SPLADE pooling; a plain ``BertForMaskedLM`` folder gets that pooling by default), or any
    model that sentence-transformers loads as a ``SparseEncoder`` (BGE-M3's sparse head, where its
    checkpoint provides one). Documents go through ``encode_document`` and queries through
    ``encode_query``, so models with distinct query and document sides use each. Weights are
    non-negative and already carry each term's importance: the collection stores them without
    Qdrant's IDF modifier. Texts longer than the model's input are truncated by the model. The model
    loads on first use, once however many threads ask; ``path`` loads ``model`` from another folder
    (a copy of the model a collection was built with), the collection still recording ``model``.
    ``device`` and ``precision`` place the model as the dense encoder's options do (see
    :mod:`connectors.devices`: ``auto`` takes a GPU where there is one, fp16 runs on a GPU only).

    Example::

        splade = LearnedSparseEncoder("naver/splade-cocondenser-ensembledistil")
        [vector] = splade.encode_documents(["Debian packages are built with dpkg-buildpackage."])
        query = splade.encode_query("how are packages built")
    """

    def __init__(
        self,
        model: str,
        *,
        path: str | None = None,
        device: str | None = "auto",
        precision: str | None = "auto",
        batch_size: int = 32,
    ) -> None:
        if not model.strip():
            raise ConfigurationError("the sparse model is empty: give a model name or folder")
        self.model_name = model
        self.path = path or model  # where it loads from: the recorded name, or a copy elsewhere
        self.asked_placement = AskedPlacement(device, precision)
        self.batch_size = batch_size
        self._model: Any = None
        self._loading = threading.Lock()

    @property
    def config(self) -> dict[str, Any]:
        """What the collection's fingerprint records: the kind of weights and the model."""
        return {"kind": LEARNED_SPARSE, "model": self.model_name}

    @property
    def placement(self) -> Placement:
        """The device and precision the model runs at (``auto`` is resolved on first use)."""
        return self.asked_placement.placement

    @property
    def model(self) -> Any:
        """The loaded ``SparseEncoder``."""
        with self._loading:
            if self._model is None:
                self._model = self._load()
        return self._model

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        if not texts:
            return []
        encode = getattr(self.model, "encode_document", self.model.encode)
        return _sparse_vectors(encode(list(texts), batch_size=self.batch_size, convert_to_sparse_tensor=True))

    def encode_query(self, text: str) -> SparseVector:
        encode = getattr(self.model, "encode_query", self.model.encode)
        [vector] = _sparse_vectors(encode([text], convert_to_sparse_tensor=True))
        return vector

    def _load(self) -> Any:
        from sentence_transformers import SparseEncoder

        placement = self.placement
        logger.info(
            "loading sparse model %s from %s on %s (%s)",
            self.model_name,
            self.path,
            placement.device,
            placement.precision,
        )
        try:
            model = SparseEncoder(self.path, device=placement.device)
        except Exception as error:  # a missing folder, no network, not a sparse model
            raise ConfigurationError(
                f"cannot load sparse model {self.path!r} (--sparse-model): {error}"
            ) from error
        return model.half() if placement.half else model


def sparse_encoder_from_config(
    config: dict[str, Any],
    path: str | None = None,
    device: str | None = "auto",
    precision: str | None = "auto",
) -> Bm25Encoder | LearnedSparseEncoder:
    """The sparse encoder a collection's fingerprint describes (its ``sparse`` part): BM25 or learned
    (one loaded model per name, ``path``, ``device`` and ``precision`` in the process; ``path``:
    where to load it from).

    Example::

        encoder = sparse_encoder_from_config(store.fingerprint("docs").sparse, device="cpu")
    """
    if config.get("kind") == LEARNED_SPARSE:
        return _shared_learned(str(config["model"]), path, check_device(device), check_precision(precision))
    if path is not None:
        raise ConfigurationError(
            f"the collection's term weights are BM25 ({config.get('model')}): it has no sparse model to "
            f"load from {path!r}; leave --sparse-model out"
        )
    return Bm25Encoder.from_config(config)


@functools.lru_cache(maxsize=4)
def _shared_learned(model: str, path: str | None, device: str, precision: str) -> LearnedSparseEncoder:
    return LearnedSparseEncoder(model, path=path, device=device, precision=precision)


def build_sparse(
    model: str | None, device: str | None = "auto", precision: str | None = "auto"
) -> Bm25Encoder | LearnedSparseEncoder:
    """BM25 when ``model`` is ``None`` (or ``bm25``), else the learned sparse ``model`` on
    ``device`` at ``precision``, loaded now: a name or folder that does not load stops a run before
    it writes anything.

    Example::

        build_sparse(None).config["model"]   # 'qdrant-bm25'
        build_sparse("naver/splade-v3", device="cuda")   # on the first GPU, fp16
    """
    if model is None or model.lower() == "bm25":
        return Bm25Encoder()
    encoder = LearnedSparseEncoder(model, device=device, precision=precision)
    _ = encoder.model
    return encoder


def _sparse_vectors(tensor: Any) -> list[SparseVector]:
    """One :class:`SparseVector` per row of a (batch, vocabulary) sparse tensor, its terms in id order."""
    tensor = tensor.coalesce().cpu()
    indices, values = tensor.indices().numpy(), tensor.values().numpy()
    vectors = []
    for row in range(tensor.shape[0]):
        mask = (indices[0] == row) & (values > 0)
        vectors.append(
            SparseVector(
                indices=tuple(int(i) for i in indices[1][mask]), values=tuple(float(v) for v in values[mask])
            )
        )
    return vectors
