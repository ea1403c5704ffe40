"""The report's overview plots (seaborn), from cells.csv and training.csv alone: quality vs
NFE per method, quality vs sampling wall time with its Pareto front, quality vs steps per
solver, and the training loss curves of the simple and the complex interpolant objectives."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from reports import tables  # noqa: E402

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


def _floor_line(ax: plt.Axes, floor: float | None) -> None:
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle="--", linewidth=1, label="floor (real vs real)")


def metric_vs_nfe(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path:
    """Per method, the best mean metric over its solvers at each NFE; log-log."""
    best = stats.groupby(["method", "nfe"], as_index=False)["mean"].min()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sns.lineplot(data=best, x="nfe", y="mean", hue="method", marker="o", errorbar=None, ax=ax)
    _log_axes(ax, best["mean"])
    _floor_line(ax, floor)
    ax.set(xlabel="network evaluations (NFE)", ylabel=f"{metric} (best solver at that NFE)",
           title=f"{dataset}: {metric} vs NFE, per method")  # fmt: skip
    ax.legend(fontsize=7)
    return _save(fig, path)


def metric_vs_time(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path:
    """Every cell's mean metric against its mean sampling seconds; the Pareto front joined and ringed."""
    data = stats[stats.sample_seconds > 0].copy()
    data["front"] = tables.pareto_front(data.sample_seconds, data["mean"])
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    sns.scatterplot(data=data, x="sample_seconds", y="mean", hue="method", style="solver", s=36, ax=ax)
    front = data[data.front].sort_values("sample_seconds")
    ax.plot(front.sample_seconds, front["mean"], color="black", drawstyle="steps-post", linewidth=1,
            label="Pareto front")  # fmt: skip
    ax.scatter(front.sample_seconds, front["mean"], s=110, facecolors="none", edgecolors="black", linewidths=1)
    _log_axes(ax, data["mean"], base=10)
    _floor_line(ax, floor)
    ax.set(xlabel="sampling wall time (s, the solver loop)", ylabel=metric,
           title=f"{dataset}: {metric} vs sampling time; ringed: the Pareto front")  # fmt: skip
    ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, path)


def metric_vs_steps(stats: pd.DataFrame, dataset: str, metric: str, floor: float | None, path: Path) -> Path | None:
    """A panel per solver, hue = method, x = steps K (log)."""
    data = stats.dropna(subset=["steps"])
    if data.empty:
        return None
    grid = sns.relplot(data=data, x="steps", y="mean", hue="method", col="solver", kind="line", marker="o",
                       col_wrap=min(4, data.solver.nunique()), height=2.6, aspect=1.1, errorbar=None)  # fmt: skip
    for ax in grid.axes.flat:
        _log_axes(ax, data["mean"])
        _floor_line(ax, floor)
    grid.set_axis_labels("steps K", metric)
    grid.figure.suptitle(f"{dataset}: {metric} vs steps, per solver", y=1.03)
    grid.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(grid.figure)
    return path


def loss_curves(training: pd.DataFrame, dataset: str, offsets: dict[str, float], path: Path) -> Path | None:
    """For each interpolant with both objectives trained on `dataset`: the simple loss, the
    complex loss, and the complex loss plus the measured E|dI_t|^2 (which should lie on the simple one).

    offsets: {interpolant name ('linear', 'trig'): E|dI_t|^2 per dimension}.
    """
    data = training[training.dataset == dataset]
    panels = [name for name in offsets if {f"si-{name}-simple", f"si-{name}-complex"} <= set(data.method)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, name in zip(axes[0], panels):
        offset = offsets[name]
        simple = data[data.method == f"si-{name}-simple"].groupby("step").loss.mean()
        complex_ = data[data.method == f"si-{name}-complex"].groupby("step").loss.mean()
        ax.plot(simple.index, simple.values, label="simple  E|v - ∂I|²", linewidth=1)
        ax.plot(complex_.index, complex_.values, label="complex  E[|v|² - 2 ∂I·v]", linewidth=1)
        ax.plot(complex_.index, complex_.values + offset, label="complex + E|∂I|²", linewidth=1, linestyle="--")
        both = pd.concat([simple, complex_], axis=1, keys=["s", "c"]).dropna()
        late = both[both.index >= both.index.max() / 2]
        gap = late.s - late.c
        ax.set(xlabel="training step", ylabel="loss (per dimension)",
               title=f"{dataset}, {name} interpolant\nE|∂I|² = {offset:.4f}; "
                     f"simple − complex, 2nd half: {gap.mean():.4f} ± {gap.std():.4f}")  # fmt: skip
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    return _save(fig, path)
