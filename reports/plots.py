"""Plots and tables of a sweep, from its CSV alone (this layer never imports a network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from reports import colours, grids, groundtruth  # noqa: E402

FLOOR_METHOD = "floor"  # the reference rows of a sweep (bench.sweep.runner.FLOOR_METHOD)
PLAIN = ticker.FuncFormatter(lambda value, _: f"{value:g}")  # no mathtext: it dominates drawing time
SOLVER_ORDER = ["euler", "midpoint", "heun", "rk4", "rk45", "ancestral", "ddim"]
PLOTTED = ["w2", "energy", "fd"]  # against steps and NFE; the other image metrics are in summary.md


def solver_order(solvers: pd.Series) -> list[str]:
    """The built-in solvers in their usual order, then any other (a plugin's, the SDE samplers) by name."""
    present = set(solvers.dropna())
    return [*SOLVER_ORDER, *sorted(present - set(SOLVER_ORDER))]


def load_cells(csv_path: Path) -> pd.DataFrame:
    """The finished cells of a sweep: one row per cell and metric, status 'ok' only. A network
    trained elsewhere (`python -m bench evaluate`; its row's `weights` names the file) is shown as
    a method of its own, `<method> (weights <file> <first 8 digits of its sha256>)`, beside the
    networks the sweep trained."""
    cells = pd.read_csv(csv_path, dtype={"seed": "Int64"})
    cells = cells[cells.status == "ok"].copy()
    if "weights" in cells:
        external = cells.weights.notna() & (cells.weights.astype(str) != "")
        parts = cells.weights[external].astype(str).str.split(" sha256:")
        label = " (weights " + parts.str[0] + " " + parts.str[1].str[:8] + ")"
        cells.loc[external, "method"] = cells.method[external] + label
    return cells


def plot_sweep(csv_path: Path, out_dir: Path) -> list[Path]:
    """Per dataset and metric: metric vs steps and metric vs NFE, hue = solver, a panel per method.

    Also writes `summary.md`: the metric at a few step counts, method x solver, per dataset.
    Does nothing when the CSV (and this module) are unchanged since the last call.
    """
    stamp = out_dir / "plots.sha256"
    inputs = [Path(csv_path), Path(__file__), Path(grids.__file__), Path(groundtruth.__file__), Path(colours.__file__),
              *sorted((Path(csv_path).parent / "groundtruth").glob("*/*.csv"))]  # fmt: skip
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    if stamp.exists():
        previous, *files = stamp.read_text().splitlines()
        if previous == digest and all(Path(f).exists() for f in files):
            return [Path(f) for f in files]  # nothing changed since these were drawn
    cells = load_cells(csv_path)
    floors = cells[cells.method == FLOOR_METHOD].groupby(["dataset", "metric"]).value.mean()
    cells = cells[cells.method != FLOOR_METHOD]
    cells = cells[cells.metric.isin(PLOTTED)]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    sns.set_theme(style="whitegrid", context="notebook")
    solvers = solver_order(cells.solver)
    palette = dict(zip(solvers, sns.color_palette(n_colors=len(solvers))))  # same colour everywhere
    for (dataset, metric), frame in cells.groupby(["dataset", "metric"], sort=True):
        for x, label in (("steps", "steps K"), ("nfe", "network evaluations (NFE)")):
            data = frame.dropna(subset=[x])
            if data.empty:
                continue
            grid = sns.relplot(
                data=data, x=x, y="value", hue="solver", col="method", col_order=colours.sorted_methods(data.method),
                hue_order=[s for s in solvers if s in set(data.solver)], palette=palette,
                col_wrap=min(3, data.method.nunique()), kind="line", marker="o",
                height=3.0, aspect=1.2, errorbar="sd",
            )  # fmt: skip
            columns = min(3, data.method.nunique())
            positive = bool((data.value > 0).all())
            for i, ax in enumerate(grid.axes.flat):
                ax.set_xscale("log", base=2)
                if not positive:  # KID can dip below 0: a log axis would hide those cells
                    ax.xaxis.set_major_formatter(PLAIN)
                    continue
                ax.set_yscale("log")
                ax.xaxis.set_major_formatter(PLAIN)
                ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(PLAIN)
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())
                ax.tick_params(axis="y", which="both", labelleft=i % columns == 0, labelsize=8)
            if (dataset, metric) in floors.index:
                for ax in grid.axes.flat:
                    ax.axhline(floors[dataset, metric], color="grey", linestyle="--", linewidth=1)
                grid.figure.text(0.01, -0.02, f"dashed: {metric} between two independent target draws "
                                 f"(the floor for this sample size) = {floors[dataset, metric]:.3g}",
                                 fontsize=8)  # fmt: skip
            grid.set_axis_labels(label, metric)
            grid.figure.suptitle(f"{dataset}: {metric} vs {x}", y=1.02)
            path = out_dir / f"{dataset}_{metric}_vs_{x}.png"
            grid.savefig(path, dpi=90, bbox_inches="tight")
            plt.close(grid.figure)
            written.append(path)
    all_cells = load_cells(csv_path)
    written += grids.draw_grids(all_cells, Path(csv_path).parent / "grids", out_dir)
    summary = out_dir / "summary.md"
    summary.write_text(summary_markdown(cells, floors) + grids.image_summary(all_cells)
                       + groundtruth.section(Path(csv_path).parent))  # fmt: skip
    written.append(summary)
    stamp.write_text("\n".join([digest, *map(str, written)]) + "\n")
    return written


def summary_markdown(cells: pd.DataFrame, floors: pd.Series, steps: tuple[int, ...] = (4, 16, 64)) -> str:
    """Markdown tables: mean metric over seeds by method x solver at the given step counts,
    each with its floor (the metric between two independent target draws)."""
    parts = []
    fixed = cells[cells.steps.isin(steps) & cells.metric.isin(["w2", "energy"])]
    for (dataset, metric), frame in fixed.groupby(["dataset", "metric"], sort=True):
        table = frame.pivot_table(index=["method", "solver"], columns="steps", values="value", aggfunc="mean")
        table.columns = [f"K={int(k)}" for k in table.columns]
        floor = f"floor (two independent target draws): {floors[dataset, metric]:.3f}\n\n" if (
            dataset, metric) in floors.index else ""  # fmt: skip
        parts.append(f"## {dataset}: {metric}\n\n{floor}{table.to_markdown(floatfmt='.3f')}\n")
    return "\n".join(parts)
