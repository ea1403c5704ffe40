"""Plots and tables of a sweep, from its CSV alone (this layer never imports a network)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

SOLVER_ORDER = ["euler", "midpoint", "heun", "rk4", "rk45", "ancestral", "ddim"]


def load_cells(csv_path: Path) -> pd.DataFrame:
    """The finished cells of a sweep: one row per cell and metric, status 'ok' only."""
    cells = pd.read_csv(csv_path)
    return cells[cells.status == "ok"].copy()


def plot_sweep(csv_path: Path, out_dir: Path) -> list[Path]:
    """Per dataset and metric: metric vs steps and metric vs NFE, hue = solver, a panel per method.

    Also writes `summary.md`: the metric at a few step counts, method x solver, per dataset.
    """
    cells = load_cells(csv_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    sns.set_theme(style="whitegrid", context="notebook")
    for (dataset, metric), frame in cells.groupby(["dataset", "metric"], sort=True):
        hue_order = [s for s in SOLVER_ORDER if s in set(frame.solver)]
        for x, label in (("steps", "steps K"), ("nfe", "network evaluations (NFE)")):
            data = frame.dropna(subset=[x])
            if data.empty:
                continue
            grid = sns.relplot(
                data=data, x=x, y="value", hue="solver", hue_order=hue_order, col="method",
                col_wrap=min(3, data.method.nunique()), kind="line", marker="o",
                height=3.0, aspect=1.2, errorbar="sd",
            )  # fmt: skip
            grid.set(xscale="log", yscale="log")
            grid.set_axis_labels(label, metric)
            grid.figure.suptitle(f"{dataset}: {metric} vs {x}", y=1.02)
            path = out_dir / f"{dataset}_{metric}_vs_{x}.png"
            grid.savefig(path, dpi=90, bbox_inches="tight")
            plt.close(grid.figure)
            written.append(path)
    summary = out_dir / "summary.md"
    summary.write_text(summary_markdown(cells))
    written.append(summary)
    return written


def summary_markdown(cells: pd.DataFrame, steps: tuple[int, ...] = (4, 16, 64)) -> str:
    """Markdown tables: mean metric over seeds by method x solver at the given step counts."""
    parts = []
    fixed = cells[cells.steps.isin(steps)]
    for (dataset, metric), frame in fixed.groupby(["dataset", "metric"], sort=True):
        table = frame.pivot_table(index=["method", "solver"], columns="steps", values="value", aggfunc="mean")
        table.columns = [f"K={int(k)}" for k in table.columns]
        parts.append(f"## {dataset}: {metric}\n\n{table.to_markdown(floatfmt='.3f')}\n")
    return "\n".join(parts)
