"""Draw an evaluation's metrics per configuration as a PNG (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chunkwise.flows.evaluate import EvalRow, label


def plot_rows(rows: Sequence[EvalRow], path: str | Path, k: int, title: str = "") -> Path:
    """Horizontal bars, one group per configuration, one bar per metric; returns the file written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _series(rows, k)
    labels = [label(row.config) for row in rows]
    bar_height = 0.8 / max(1, len(series))
    figure, axes = plt.subplots(figsize=(10, 2.0 + 0.25 * len(rows) * len(series)))
    for offset, (name, values) in enumerate(series.items()):
        positions = [index + offset * bar_height for index in range(len(rows))]
        axes.barh(positions, values, height=bar_height, label=name)
    axes.set_yticks([index + 0.4 - bar_height / 2 for index in range(len(rows))], labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("score")
    axes.set_title(title or f"retrieval metrics at {k}")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(3, len(series)), fontsize="small")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output


def _series(rows: Sequence[EvalRow], k: int) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    if any(row.passage is not None for row in rows):
        for name in (f"ndcg@{k}", f"recall@{k}", f"mrr@{k}"):
            series[f"passage {name}"] = [(row.passage or {}).get(name, 0.0) for row in rows]
    for name in (f"ndcg@{k}", f"recall@{k}"):
        series[f"doc {name}"] = [row.doc.get(name, 0.0) for row in rows]
    return series
