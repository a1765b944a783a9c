"""Run a sentence-transformers model's transformer with ONNX Runtime instead of PyTorch.

The transformer (the module under the model's pooling) is exported once, locally, from the loaded
model with ``torch.onnx.export`` and kept under ``default_cache_folder()/onnx``, keyed by the model
folder's files (names, sizes, modification times), the library versions and the export options;
later runs load the exported file. The exported graph outputs the last hidden state (token
vectors), so both fixed chunks (pooled here, in numpy, as sentence-transformers pools them) and
late chunking run on it.

Every export is checked against PyTorch before it is kept: token vectors of a padded batch of
mixed lengths must agree within cosine ``MIN_EXPORT_COSINE``; a model whose export does not is
refused with a :class:`ConfigurationError`. ``onnx-int8`` quantizes the exported weights to int8
(``onnxruntime.quantization.quantize_dynamic``): faster, but its vectors differ from PyTorch's, so
it is recorded in the collection's fingerprint.

Example::

    runner = OnnxTransformer.for_model(token_model, tokenizer, "/path/to/model", name="all-MiniLM-L6-v2")
    hidden = runner(input_ids, attention_mask)   # (batch, tokens, dimension), float32
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from chunkwise.connectors.model_description import default_cache_folder
from chunkwise.pipeline.errors import ConfigurationError

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_BACKENDS = ("onnx", "onnx-int8")
MIN_EXPORT_COSINE = 0.9999  # token vectors of the export against PyTorch's, worst token of the probe
MIN_INT8_COSINE = 0.9  # mean-pooled vectors of the probe: below this int8 is broken, not merely approximate

# Bumped whenever the export changes, so that exports made the old way are not reused.
EXPORT_FORMAT = 1
OPSET = 17
_LIBRARIES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")
_FP32_FILE = "model.onnx"
_INT8_FILE = "model-int8.onnx"
_INFO_FILE = "export.json"

# Texts the export is traced with and checked on: several lengths, so that each batch is padded.
_TRACE_TEXTS = ("Late chunking pools token vectors.", "A short one.")
PROBE_TEXTS = (
    "Hi.",
    "Berlin is the capital of Germany and its largest city by population.",
    "To find out which package a file came from, run dpkg -S with the path of the file; apt-file "
    "searches packages that are not installed, once its index was updated. Both print the package "
    "name before a colon, then the matching paths, one a line.",
)


def check_backend(backend: str) -> str:
    """``backend`` when it is one of :data:`BACKENDS`, else a :class:`ConfigurationError`."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return backend


def onnxruntime_module() -> Any:
    """``onnxruntime``, or a :class:`ConfigurationError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ConfigurationError(
            "the onnx backends need onnxruntime and onnx: pip install 'chunkwise[onnx]'"
        ) from error
    return onnxruntime


class OnnxTransformer:
    """An exported transformer in an ONNX Runtime session: input ids and mask in, last hidden state out.

    The session uses ``threads`` intra-op threads (default: PyTorch's thread count) and every
    graph optimization ONNX Runtime has.
    """

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise here
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def for_model(
        cls,
        token_model: Any,
        tokenizer: Any,
        folder: str | Path,
        *,
        name: str,
        int8: bool = False,
        cache_folder: Path | None = None,
        threads: int | None = None,
    ) -> OnnxTransformer:
        """The session of ``token_model``'s export (made now unless cached: see :func:`exported_model`)."""
        path = exported_model(token_model, tokenizer, folder, name=name, int8=int8, cache_folder=cache_folder)
        return cls(path, threads=threads)

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def export_folder(folder: str | Path, cache_folder: Path | None = None) -> Path:
    """Where the exports of the model in ``folder`` live: one folder per model state, library versions
    and export options."""
    folder = Path(folder)
    identity = {
        "folder": str(folder.resolve()),
        "files": _file_stamps(folder),
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "options": {"format": EXPORT_FORMAT, "opset": OPSET},
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
    return (cache_folder or default_cache_folder() / "onnx") / key[:32]


def exported_model(
    token_model: Any,
    tokenizer: Any,
    folder: str | Path,
    *,
    name: str,
    int8: bool = False,
    cache_folder: Path | None = None,
) -> Path:
    """The ONNX file of ``token_model`` (loaded from ``folder``): exported and checked now unless cached.

    ``int8``: its int8 dynamic quantization, made from the fp32 export (and cached beside it).
    """
    onnxruntime_module()
    target = export_folder(folder, cache_folder)
    fp32 = target / _FP32_FILE
    if not fp32.is_file():
        logger.info("exporting %s to ONNX (once: it is kept in %s)", name, target)
        _export(token_model, tokenizer, target, name)
    if not int8:
        return fp32
    quantized = target / _INT8_FILE
    if not quantized.is_file():
        logger.info("quantizing %s's ONNX export to int8 (once: it is kept in %s)", name, target)
        _quantize(fp32, quantized, token_model, tokenizer, name)
    return quantized


def _export(token_model: Any, tokenizer: Any, target: Path, name: str) -> None:
    started = time.perf_counter()
    target.mkdir(parents=True, exist_ok=True)
    plain = _partial(target / "plain.onnx")
    try:
        _trace(token_model, tokenizer, plain, name)
        # ONNX Runtime's transformer fusions when they keep PyTorch's vectors, else the plain graph
        chosen, fused, cosine = plain, False, 0.0
        fused_path = _fuse(plain, token_model)
        if fused_path is not None:
            cosine = _check(fused_path, token_model, tokenizer)[0]
            if cosine >= MIN_EXPORT_COSINE:
                chosen, fused = fused_path, True
            else:
                logger.info(
                    "the fused graph of %s differs from PyTorch (%.5f): trying the plain one", name, cosine
                )
        if not fused:
            cosine = _check(plain, token_model, tokenizer)[0]
            if cosine < MIN_EXPORT_COSINE:
                raise ConfigurationError(
                    f"{name} cannot be exported to ONNX faithfully: its token vectors differ from PyTorch's "
                    f"(cosine {cosine:.4f} < {MIN_EXPORT_COSINE}); use backend 'torch'"
                )
        info = {
            "model": name,
            "format": EXPORT_FORMAT,
            "opset": OPSET,
            "fused": fused,
            "min_token_cosine": cosine,
            "seconds": round(time.perf_counter() - started, 2),
        }
        _write_text(target / _INFO_FILE, json.dumps(info, indent=2))
        os.replace(chosen, target / _FP32_FILE)
        logger.info(
            "exported %s in %.1f s (token cosine to PyTorch >= %.6f)",
            name,
            info["seconds"],
            info["min_token_cosine"],
        )
    finally:
        for leftover in target.glob(f"*.{os.getpid()}.partial*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _trace(token_model: Any, tokenizer: Any, path: Path, name: str) -> None:
    """Export a copy of ``token_model`` (exporting alters the module it traces) to ``path``."""
    import torch

    model = copy.deepcopy(token_model).eval()
    with contextlib.suppress(Exception):  # eager attention: plain ops that ONNX Runtime fuses
        model.set_attn_implementation("eager")
    ids, mask = _batch(tokenizer, _TRACE_TEXTS)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]

    wrapper = LastHiddenState(model)
    dynamic = {
        axis: {0: "batch", 1: "sequence"} for axis in ("input_ids", "attention_mask", "last_hidden_state")
    }
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (torch.from_numpy(ids), torch.from_numpy(mask)),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as error:
        raise ConfigurationError(
            f"{name} cannot be exported to ONNX ({error}); use backend 'torch'"
        ) from error
    finally:
        del wrapper, model


def _fuse(path: Path, token_model: Any) -> Path | None:
    """ONNX Runtime's transformer fusions (attention, layer norms, GELU) of ``path``, or ``None``."""
    config = getattr(token_model, "config", None)
    try:
        from onnxruntime.transformers import optimizer

        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            optimized = optimizer.optimize_model(
                str(path),
                model_type="bert",
                num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                hidden_size=int(getattr(config, "hidden_size", 0) or 0),
                opt_level=1,
            )
            fused = optimized.get_fused_operator_statistics()
            if not any(fused.values()):
                return None
            target = _partial(path.with_name("fused.onnx"))
            optimized.save_model_to_file(str(target))
    except Exception as error:  # noqa: BLE001 - fusion is an optimization: the plain export serves without it
        logger.debug("no transformer fusion for %s: %s", path, error)
        return None
    return target


def _quantize(fp32: Path, target: Path, token_model: Any, tokenizer: Any, name: str) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = _partial(target)
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(fp32),
                str(partial),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],  # the dense layers: attention itself stays fp32
                per_channel=True,  # a scale per output column: much closer to fp32 than one per matrix
                reduce_range=True,  # 7-bit weights: no saturation in AVX2's u8 x s8 products
                # the fused graph's contrib operators leave some outputs untyped for shape inference
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        cosine = _check(partial, token_model, tokenizer)[1]
        if cosine < MIN_INT8_COSINE:
            raise ConfigurationError(
                f"{name}'s int8 quantization is broken (mean-pooled cosine {cosine:.3f} to PyTorch): "
                "use backend 'onnx'"
            )
        os.replace(partial, target)
        logger.info("quantized %s to int8 (mean-pooled cosine to PyTorch >= %.4f)", name, cosine)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def _check(path: Path, token_model: Any, tokenizer: Any) -> tuple[float, float]:
    """The smallest cosines between ``path``'s outputs and PyTorch's on a padded batch of mixed
    lengths (and on one text alone): of token vectors (real tokens only), and of their means."""
    runner = OnnxTransformer(path, threads=1)
    tokens = pooled = 1.0
    mean = Pooling(("mean",))
    for texts in (PROBE_TEXTS, PROBE_TEXTS[1:2]):
        ids, mask = _batch(tokenizer, texts)
        exported = runner(ids, mask)
        reference = torch_hidden_states(token_model, ids, mask)
        real = mask.astype(bool)
        tokens = min(tokens, float(cosines(exported[real], reference[real]).min()))
        pooled = min(pooled, float(cosines(mean(exported, mask), mean(reference, mask)).min()))
    return tokens, pooled


def torch_hidden_states(token_model: Any, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The last hidden state of ``token_model`` (PyTorch) for a padded batch."""
    import torch

    device = next(token_model.parameters()).device
    with torch.inference_mode():
        output = token_model(
            input_ids=torch.from_numpy(input_ids.astype(np.int64)).to(device),
            attention_mask=torch.from_numpy(attention_mask.astype(np.int64)).to(device),
        )
    return np.asarray(output[0].float().cpu().numpy(), dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.asarray((a * b).sum(axis=-1) / norms)


def pad(inputs: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists padded on the right to the longest: (input ids, attention mask), int64."""
    longest = max(len(ids) for ids in inputs)
    input_ids = np.full((len(inputs), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(inputs), longest), dtype=np.int64)
    for row, ids in enumerate(inputs):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask


def _batch(tokenizer: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
    return pad(ids, tokenizer.pad_token_id or 0)


@dataclass(frozen=True, slots=True)
class Pooling:
    """A sentence-transformers ``Pooling`` module (and a ``Normalize`` after it), applied in numpy.

    Example::

        Pooling(modes=("mean",), include_prompt=True, normalize=True)(hidden, mask)   # (batch, dim)
    """

    modes: tuple[str, ...]
    include_prompt: bool = True
    normalize: bool = False

    SUPPORTED = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")

    @classmethod
    def of(cls, model: Any, name: str) -> Pooling:
        """The pooling of a loaded ``SentenceTransformer``: its modules must be a transformer, a
        ``Pooling`` and optionally a ``Normalize`` (anything else runs on backend ``torch`` only)."""
        modules = list(model)
        kinds = [type(module).__name__ for module in modules]
        normalize = kinds[2:] == ["Normalize"]
        if len(modules) < 2 or kinds[1] != "Pooling" or not (len(modules) == 2 or normalize):
            raise ConfigurationError(
                f"the onnx backends run a transformer, a Pooling and a Normalize module; {name} has "
                f"{' -> '.join(kinds)}: use backend 'torch'"
            )
        pooling = modules[1]
        modes = pooling_modes(pooling)
        unsupported = [mode for mode in modes if mode not in cls.SUPPORTED]
        if unsupported:
            raise ConfigurationError(
                f"{name} pools with {unsupported}, which the onnx backends do not: use 'torch'"
            )
        return cls(
            modes=modes, include_prompt=bool(getattr(pooling, "include_prompt", True)), normalize=normalize
        )

    def __call__(self, hidden: np.ndarray, mask: np.ndarray, prompt_length: int | None = None) -> np.ndarray:
        """Sentence vectors of a padded batch, as sentence-transformers' ``Pooling`` computes them."""
        original = mask
        if prompt_length and not self.include_prompt:
            mask = _without_prompt(mask, prompt_length)
        weights = mask.astype(np.float32)[..., None]
        vectors = []
        for mode in self.modes:
            if mode == "cls":
                vectors.append(hidden[np.arange(len(hidden)), mask.argmax(axis=1)])
            elif mode == "max":
                vectors.append(np.where(weights > 0, hidden, -np.inf).max(axis=1))
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                count = np.maximum(weights.sum(axis=1), 1e-9)
                total = (hidden * weights).sum(axis=1)
                vectors.append(total / (count if mode == "mean" else np.sqrt(count)))
            elif mode == "weightedmean":
                positions = np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
                positions = positions - original.argmax(axis=1).astype(np.float32)[:, None, None]
                weighted = weights * positions
                vectors.append((hidden * weighted).sum(axis=1) / np.maximum(weighted.sum(axis=1), 1e-9))
            else:  # lasttoken: the last real token of each row
                last = hidden.shape[1] - 1 - np.flip(mask, axis=1).argmax(axis=1)
                vectors.append((hidden * weights)[np.arange(len(hidden)), last])
        pooled = np.concatenate(vectors, axis=-1).astype(np.float32)
        return normalize_rows(pooled) if self.normalize else pooled


def pooling_modes(pooling: Any) -> tuple[str, ...]:
    """The modes of a sentence-transformers ``Pooling`` module ('mean', 'cls', 'lasttoken', ...)."""
    mode = getattr(pooling, "pooling_mode", None)
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, (tuple, list)):
        return tuple(str(m) for m in mode)
    # older sentence-transformers: one flag per mode
    flags = {
        "cls": "pooling_mode_cls_token",
        "max": "pooling_mode_max_tokens",
        "mean": "pooling_mode_mean_tokens",
        "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
        "weightedmean": "pooling_mode_weightedmean_tokens",
        "lasttoken": "pooling_mode_lasttoken",
    }
    return tuple(mode for mode, flag in flags.items() if getattr(pooling, flag, False))


def _without_prompt(mask: np.ndarray, prompt_length: int) -> np.ndarray:
    """``mask`` with the prompt's tokens (after any left padding) left out of pooling."""
    mask = mask.copy()
    starts = mask.argmax(axis=1)
    positions = np.arange(mask.shape[1])[None, :]
    mask[positions < (starts + prompt_length)[:, None]] = 0
    return mask


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (as ``torch.nn.functional.normalize``: norms floored at 1e-12)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _default_threads() -> int:
    try:
        import torch

        return max(1, torch.get_num_threads())
    except ImportError:
        return max(1, os.cpu_count() or 1)


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.{os.getpid()}.partial{path.suffix}")


def _write_text(path: Path, text: str) -> None:
    partial = _partial(path)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


_CHATTY = ("fusion", "onnx_model", "onnxruntime")


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence ONNX Runtime's fusion and quantization loggers meanwhile: they log every step at INFO
    (quantization on the root logger, so that one is quieted too, for the few seconds it takes)."""
    names = [name for name in logging.root.manager.loggerDict if name.startswith(_CHATTY)]
    chatty = [logging.root, *(logging.getLogger(name) for name in names)]
    levels = [log.level for log in chatty]
    for log in chatty:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(chatty, levels, strict=True):
            log.setLevel(level)


def _file_stamps(folder: Path) -> list[tuple[str, int, int]]:
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
