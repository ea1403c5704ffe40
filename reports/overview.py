"""The report's overview plots (seaborn), from cells.csv and training.csv alone: quality vs
NFE per method, quality vs sampling wall time with its Pareto front, quality vs steps per
solver, and the training loss curves of the simple and the complex interpolant objectives.

Each method has its colour of `reports.colours` in every figure, and every legend lies outside
the axes, so it never hides a point. `nfe_figure`, `time_figure` and `steps_grid` return the
figure unsaved (for a test to read what was drawn); `metric_vs_*` save it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from reports import tables  # noqa: E402
from reports.colours import method_colour, palette, sorted_methods  # noqa: E402

PLAIN = ticker.FuncFormatter(lambda value, _: f"{value:g}")
DPI = 90


def _log_axes(ax: plt.Axes, y: pd.Series, base: int = 2) -> None:
    ax.set_xscale("log", base=base)
    ax.xaxis.set_major_formatter(PLAIN)
    if (y > 0).all():
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(PLAIN)
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _legend_outside(ax: plt.Axes, **kwargs: object) -> None:
    """The axes' legend to the right of its data area, top-aligned."""
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", borderaxespad=0, **kwargs)


def _floor_line(ax: plt.Axes, floor: float | None) -> None:
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="floor (real vs real)")


def nfe_figure(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None) -> plt.Figure:
    """Per method, the best mean metric over its solvers at each NFE; log-log."""
    best = stats.groupby(["method", "nfe"], as_index=False)["mean"].min()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sns.lineplot(data=best, x="nfe", y="mean", hue="method", hue_order=sorted_methods(best.method),
                 palette=palette(best.method), marker="o", errorbar=None, ax=ax)  # fmt: skip
    _log_axes(ax, best["mean"])
    _floor_line(ax, floor)
    ax.set(xlabel="network evaluations (NFE)", ylabel=f"{metric} (best solver at that NFE)",
           title=f"{dataset}: {metric} vs NFE, per method")  # fmt: skip
    _legend_outside(ax, fontsize=7)
    return fig


def metric_vs_nfe(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path:
    """`nfe_figure`, saved to `path`."""
    return _save(nfe_figure(stats, dataset, metric, floor), path)


def time_figure(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None) -> plt.Figure:
    """Every cell's mean metric against its mean sampling seconds; the Pareto front joined and ringed."""
    data = stats[stats.sample_seconds > 0].copy()
    data["front"] = tables.pareto_front(data.sample_seconds, data["mean"])
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    sns.scatterplot(data=data, x="sample_seconds", y="mean", hue="method", hue_order=sorted_methods(data.method),
                    palette=palette(data.method), style="solver", s=36, ax=ax)  # fmt: skip
    front = data[data.front].sort_values("sample_seconds")
    ax.plot(front.sample_seconds, front["mean"], color="black", drawstyle="steps-post", linewidth=1,
            label="Pareto front")  # fmt: skip
    ax.scatter(front.sample_seconds, front["mean"], s=110, facecolors="none", edgecolors="black", linewidths=1)
    _log_axes(ax, data["mean"], base=10)
    _floor_line(ax, floor)
    ax.set(xlabel="sampling wall time (s, the solver loop)", ylabel=metric,
           title=f"{dataset}: {metric} vs sampling time; ringed: the Pareto front")  # fmt: skip
    _legend_outside(ax, fontsize=6, ncol=2)
    return fig


def metric_vs_time(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path:
    """`time_figure`, saved to `path`."""
    return _save(time_figure(stats, dataset, metric, floor), path)


def steps_grid(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None) -> sns.FacetGrid | None:
    """A panel per solver, hue = method, x = steps K (log); the legend right of the panels."""
    data = stats.dropna(subset=["steps"])
    if data.empty:
        return None
    grid = sns.relplot(data=data, x="steps", y="mean", hue="method", hue_order=sorted_methods(data.method),
                       palette=palette(data.method), col="solver", kind="line", marker="o",
                       col_wrap=min(4, data.solver.nunique()), height=2.6, aspect=1.1, errorbar=None)  # fmt: skip
    for ax in grid.axes.flat:
        _log_axes(ax, data["mean"])
        _floor_line(ax, floor)
    grid.set_axis_labels("steps K", metric)
    grid.figure.suptitle(f"{dataset}: {metric} vs steps, per solver", y=1.03)
    top_right = grid.axes.flat[min(4, data.solver.nunique()) - 1]  # seaborn's own place may clip a lone panel
    sns.move_legend(grid, "upper left", bbox_to_anchor=(1.02, 1), bbox_transform=top_right.transAxes, frameon=False)
    return grid


def metric_vs_steps(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path | None:
    """`steps_grid`, saved to `path` (None when no cell has a step count)."""
    grid = steps_grid(stats, dataset, metric, floor)
    return None if grid is None else _save(grid.figure, path)


def loss_curves(training: pd.DataFrame, dataset: str, offsets: dict[str, float], path: Path) -> Path | None:
    """For each interpolant with both objectives trained on `dataset`: the simple loss, the
    complex loss, and the complex loss plus the measured E|dI_t|^2 (which should lie on the simple one),
    each in its method's colour; one legend below the panels.

    offsets: {interpolant name ('linear', 'trig'): E|dI_t|^2 per dimension}.
    """
    data = training[training.dataset == dataset]
    panels = [name for name in offsets if {f"si-{name}-simple", f"si-{name}-complex"} <= set(data.method)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, name in zip(axes[0], panels):
        offset = offsets[name]
        first, second = f"si-{name}-simple", f"si-{name}-complex"
        simple = data[data.method == first].groupby("step").loss.mean()
        complex_ = data[data.method == second].groupby("step").loss.mean()
        ax.plot(simple.index, simple.values, label=f"{first}:  E|v - ∂I|²", color=method_colour(first), linewidth=1)
        ax.plot(complex_.index, complex_.values, label=f"{second}:  E[|v|² - 2 ∂I·v]", color=method_colour(second),
                linewidth=1)  # fmt: skip
        ax.plot(complex_.index, complex_.values + offset, label=f"{second} + E|∂I|²", color=method_colour(second),
                linewidth=1, linestyle="--")  # fmt: skip
        both = pd.concat([simple, complex_], axis=1, keys=["s", "c"]).dropna()
        late = both[both.index >= both.index.max() / 2]
        gap = late.s - late.c
        ax.set(xlabel="training step", ylabel="loss (per dimension)",
               title=f"{dataset}, {name} interpolant\nE|∂I|² = {offset:.4f}; "
                     f"simple − complex, 2nd half: {gap.mean():.4f} ± {gap.std():.4f}")  # fmt: skip
        ax.title.set_fontsize(8)
    fig.tight_layout()
    handles = [h for ax in axes[0] for h in ax.get_lines()]  # a column per panel, under the figure
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=len(panels), fontsize=7)
    return _save(fig, path)
