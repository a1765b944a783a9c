"""Where an encoder runs (CPU, CUDA, MPS), at what precision, and how many texts it reads at once.

:func:`resolve_placement` turns the ``device`` and ``precision`` options into one
:class:`Placement`: ``auto`` picks CUDA, then MPS, then the CPU; a device asked for by name that
this machine lacks is a :class:`~pipeline.errors.ConfigurationError` naming those it has. Half
precision (fp16) runs on a GPU only, and ``precision="auto"`` takes it on CUDA. Neither is
recorded in a collection's fingerprint: fp32 vectors are the same on every device, fp16 ones
within cosine 0.999 of them.

:func:`plan_batches` cuts texts into batches by their token counts rather than by a fixed count:
the longest first, each batch as many rows as fit a budget of (padded) tokens, so a batch of short
texts is wide and one of long texts narrow. :func:`token_budget` sizes that budget from the free
memory of a GPU, and is a fixed :data:`CPU_TOKEN_BUDGET` on the CPU.

Example::

    placement = resolve_placement("auto", "auto")      # Placement(device='cpu', precision='fp32') here
    plan_batches([12, 250, 40], budget_tokens=300)     # [[1], [2, 0]]: 250 alone, then 40 + 12
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chunkwise.pipeline.errors import ConfigurationError

DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "fp32", "fp16")
CPU_TOKEN_BUDGET = 8192  # padded tokens per batch on the CPU: 32 full 256-token inputs
GPU_MAX_TOKENS = 262_144  # padded tokens per batch on a GPU at most (1,024 full 256-token inputs)
GPU_MEMORY_SHARE = 0.25  # of the GPU's free memory, for one batch's activations
DEFAULT_BYTES_PER_TOKEN = 65_536  # activation bytes per token of a model whose size is unknown
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True, slots=True)
class Placement:
    """The device an encoder runs on (``cpu``, ``cuda:0``, ``mps``) and its precision (``fp32``,
    ``fp16``).

    Example::

        Placement("cuda:0", "fp16").half   # True
    """

    device: str
    precision: str

    @property
    def half(self) -> bool:
        """Whether the model's weights and activations are fp16."""
        return self.precision == "fp16"

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"


def check_device(device: str | None) -> str:
    """``device`` lower-cased, if it is one of auto, cpu, cuda, cuda:N, mps (``None``: auto).

    Example::

        check_device("CUDA:1")   # "cuda:1"; check_device("gpu") raises ConfigurationError
    """
    name = (device or "auto").strip().lower()
    if not _DEVICE.match(name):
        raise ConfigurationError(f"device must be one of {DEVICES_HELP}, not {device!r}")
    return name


def check_precision(precision: str | None) -> str:
    """``precision`` lower-cased, if it is one of auto, fp32, fp16 (``None``: auto).

    Example::

        check_precision("FP16")   # "fp16"; check_precision("bf16") raises ConfigurationError
    """
    name = (precision or "auto").strip().lower()
    if name not in PRECISIONS:
        raise ConfigurationError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return name


def available_devices() -> list[str]:
    """The devices PyTorch can run on here: ``cpu``, then ``cuda:0``... and ``mps`` if present.

    Example::

        available_devices()   # ["cpu", "cuda:0"] on a one-GPU machine, ["cpu"] without one
    """
    torch = _torch()
    cuda = (
        [f"cuda:{index}" for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    mps = ["mps"] if _mps_available(torch) else []
    return ["cpu", *cuda, *mps]


def resolve_device(device: str | None = "auto") -> str:
    """The device to run on: ``auto`` takes CUDA (its first card), else MPS, else the CPU; ``cuda``
    is ``cuda:0``; a device this machine lacks is refused, naming those it has.

    Example::

        resolve_device("auto")   # "cuda:0" on a CUDA machine, "cpu" on one without GPU
    """
    name = check_device(device)
    if name == "cpu":
        return "cpu"
    available = available_devices()
    if name == "auto":
        return next((d for d in available if d.startswith("cuda")), "mps" if "mps" in available else "cpu")
    wanted = "cuda:0" if name == "cuda" else name
    if wanted not in available:
        raise ConfigurationError(
            f"device {device!r} is not available on this machine (PyTorch sees {', '.join(available)}"
            f"{_cpu_build_hint()}): use --device auto or one of those"
        )
    return wanted


def resolve_precision(precision: str | None, device: str) -> str:
    """``fp32`` or ``fp16`` on the resolved ``device``: ``auto`` is fp16 on CUDA, fp32 elsewhere;
    fp16 on the CPU is refused (PyTorch runs it slower there, and the vectors would differ).

    Example::

        resolve_precision("auto", "cuda:0")   # "fp16"; resolve_precision("fp16", "cpu") raises
    """
    name = check_precision(precision)
    if name == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    if name == "fp16" and device == "cpu":
        raise ConfigurationError("precision fp16 runs on a GPU only: use fp32 (or auto) on the CPU")
    return name


def resolve_placement(
    device: str | None = "auto", precision: str | None = "auto", backend: str = "torch"
) -> Placement:
    """The device and precision an encoder of ``backend`` runs at. The ONNX backends run on the
    CPU at fp32: another device or fp16 is refused for them.

    Example::

        resolve_placement("cuda", "auto")       # Placement("cuda:0", "fp16") on a CUDA machine
        resolve_placement("auto", backend="onnx")   # Placement("cpu", "fp32")
    """
    if backend != "torch":
        if check_device(device) not in ("auto", "cpu"):
            raise ConfigurationError(f"backend {backend} runs on the CPU: leave device out, not {device!r}")
        if check_precision(precision) == "fp16":
            raise ConfigurationError(f"backend {backend} runs at fp32: leave precision out, not fp16")
        return Placement("cpu", "fp32")
    resolved = resolve_device(device)
    return Placement(resolved, resolve_precision(precision, resolved))


class AskedPlacement:
    """An encoder's ``device`` and ``precision`` options: checked when given, and resolved at once
    when either names something (a device this machine lacks fails then), else on first use (so
    that making an encoder does not probe the GPU).

    Example::

        asked = AskedPlacement("CPU")
        asked.device, asked.precision   # ("cpu", "auto"): as asked
        asked.placement                 # Placement(device="cpu", precision="fp32")
    """

    __slots__ = ("_resolved", "backend", "device", "precision")

    def __init__(
        self, device: str | None = "auto", precision: str | None = "auto", backend: str = "torch"
    ) -> None:
        self.device, self.precision = check_device(device), check_precision(precision)
        self.backend = backend
        self._resolved: Placement | None = None
        if (self.device, self.precision) != ("auto", "auto") or backend != "torch":
            self._resolved = resolve_placement(self.device, self.precision, backend)

    @property
    def placement(self) -> Placement:
        """The device and precision to run at."""
        if self._resolved is None:
            self._resolved = resolve_placement(self.device, self.precision, self.backend)
        return self._resolved


def batch_rows(padded_length: int, budget_tokens: int) -> int:
    """How many texts of ``padded_length`` tokens (special tokens included) a batch of
    ``budget_tokens`` holds: at least one, however long the text.

    Example::

        batch_rows(256, 8192)   # 32; batch_rows(10_000, 8192) is 1
    """
    return max(1, budget_tokens // max(1, padded_length))


def plan_batches(
    lengths: Sequence[int], budget_tokens: int = CPU_TOKEN_BUDGET, rows: int | None = None
) -> list[list[int]]:
    """The positions of ``lengths`` (token counts) in batches, longest first: each batch padded to
    its first (longest) text holds :func:`batch_rows` texts of that length, so rows × padded length
    never exceeds ``budget_tokens`` but for a single text longer than it, which goes alone.
    ``rows`` fixes the batch size instead (an explicit ``batch_size``).

    Example::

        plan_batches([10, 10, 100, 10], budget_tokens=100)   # [[2], [0, 1, 3]]
        plan_batches([10, 10, 100, 10], rows=2)              # [[2, 0], [1, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    first = 0
    while first < len(order):
        size = rows if rows is not None else batch_rows(lengths[order[first]], budget_tokens)
        batches.append(order[first : first + size])
        first += size
    return batches


def token_budget(placement: Placement, token_model: Any = None) -> int:
    """Padded tokens per batch on ``placement``'s device: :data:`CPU_TOKEN_BUDGET` on the CPU; on a
    GPU, :data:`GPU_MEMORY_SHARE` of its free memory over the activation bytes a token of
    ``token_model`` takes (:func:`bytes_per_token`), between the CPU's budget and
    :data:`GPU_MAX_TOKENS`.

    Example::

        token_budget(Placement("cpu", "fp32"))   # CPU_TOKEN_BUDGET (8192)
    """
    if not placement.gpu:
        return CPU_TOKEN_BUDGET
    free = free_memory(placement.device)
    if free is None:
        return CPU_TOKEN_BUDGET
    return gpu_token_budget(free, bytes_per_token(token_model, 2 if placement.half else 4))


def gpu_token_budget(free_bytes: int, per_token: int) -> int:
    """:data:`GPU_MEMORY_SHARE` of ``free_bytes`` in tokens of ``per_token`` bytes, bounded below by
    :data:`CPU_TOKEN_BUDGET` and above by :data:`GPU_MAX_TOKENS`.

    Example::

        gpu_token_budget(8 * 2**30, 2**20)   # 2048 tokens, raised to CPU_TOKEN_BUDGET (8192)
    """
    tokens = int(free_bytes * GPU_MEMORY_SHARE) // max(1, per_token)
    return min(GPU_MAX_TOKENS, max(CPU_TOKEN_BUDGET, tokens))


def bytes_per_token(token_model: Any, element_size: int) -> int:
    """Peak activation bytes of one token in a layer of a transformer (its feed-forward layer, a few
    hidden states, and its row of attention scores at the model's full input), doubled for safety;
    :data:`DEFAULT_BYTES_PER_TOKEN` when its configuration does not say its sizes.

    Example::

        bytes_per_token(encoder.token_model, 2)   # fp16 activations: half of the fp32 count
    """
    config = getattr(token_model, "config", None)
    hidden = getattr(config, "hidden_size", None)
    if not hidden:
        return DEFAULT_BYTES_PER_TOKEN
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    heads = getattr(config, "num_attention_heads", None) or 16
    positions = getattr(config, "max_position_embeddings", None) or 512
    return 2 * element_size * (intermediate + 4 * hidden + heads * min(positions, 8192))


def free_memory(device: str) -> int | None:
    """Free bytes on a GPU device (``None`` when PyTorch cannot tell).

    Example::

        free_memory("cuda:0")   # e.g. 80_000_000_000; free_memory("cpu") is None
    """
    torch = _torch()
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "mps":
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        used = getattr(torch.mps, "driver_allocated_memory", None)
        if recommended is None or used is None:
            return None
        return max(0, int(recommended()) - int(used()))
    return None


def _torch() -> Any:
    import torch

    return torch


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _cpu_build_hint() -> str:
    version = getattr(_torch(), "version", None)
    return "; this PyTorch is a CPU-only build" if getattr(version, "cuda", None) is None else ""
