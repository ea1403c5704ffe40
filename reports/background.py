"""The background post's figures and the 2D and MNIST pictures, drawn from the data files the
harness wrote under results/<sweep>/figures/ (JSON + npz) and grids/ (npy): never a network.

(a) the blend-deblend chain for several N and its convergence; (b) the grid estimate of
D(x_{1/2}, 1/2) beside the trained fields; (c) the simple vs complex objective comparison;
2D samples over the target density and trajectories from noise to data; MNIST grids at a
few NFE budgets.

The figures use constrained layout, so no title, label or colour bar runs into a neighbouring
panel, and keep their legends outside the axes; panels and rows of methods come in
`reports.colours.sorted_methods` order, as in every other figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colors, ticker  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from reports import grids, tables  # noqa: E402
from reports.colours import sorted_methods  # noqa: E402
from reports.intervals import with_interval  # noqa: E402

DPI = 90
TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
SQUARE = np.array([[1.5, 0.0], [2.5, 0.0], [2.5, 1.0], [1.5, 1.0], [1.5, 0.0]])
"""The outlines of triangle-square's source and target (bench.data.datasets.TRIANGLE, SQUARE)."""


@dataclass
class Figure:
    record: dict
    folder: Path

    def arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.folder / self.record["arrays"]) as data:
            return dict(data)

    @property
    def summary(self) -> dict:
        return self.record["summary"]


def load_figures(results: Path) -> dict[str, list[Figure]]:
    """{kind: figures}, the newest of each (kind, dataset, seed, method/interpolant) only."""
    folder = results / "figures"
    newest: dict[tuple, dict] = {}
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        record = json.loads(path.read_text())
        ident = (record["kind"], record["dataset"], record["seed"], record.get("method"), record.get("interpolant"))
        if ident not in newest or record["created"] > newest[ident]["created"]:
            newest[ident] = record
    out: dict[str, list[Figure]] = {}
    for ident in sorted(newest, key=lambda k: tuple(str(p) for p in k)):
        out.setdefault(ident[0], []).append(Figure(newest[ident], folder))
    return out


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _outlines(ax: plt.Axes) -> None:
    ax.plot(*TRIANGLE.T, color="black", linewidth=0.8)
    ax.plot(*SQUARE.T, color="black", linewidth=0.8)


def draw_chain(fig_data: Figure, path: Path) -> Path:
    """(a) Chains from the same starts at three N (every repeat drawn), the trained iadb ODE
    path dashed, and the spread of the chains' endpoints against N (log-log)."""
    arrays, s = fig_data.arrays(), fig_data.summary
    steps = list(s["steps"])
    shown = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4.6 * (len(shown) + 1), 3.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1.6] * len(shown) + [1]})  # fmt: skip
    palette = plt.get_cmap("tab10")
    for ax, n in zip(axes, shown):
        paths = arrays[f"path_{n}"]  # [N + 1, repeats, starts, 2]
        for j in range(min(paths.shape[2], 6)):
            for r in range(paths.shape[1]):
                ax.plot(paths[:, r, j, 0], paths[:, r, j, 1], color=palette(j % 10), linewidth=0.6, alpha=0.5)
            if "ode_path" in arrays:
                ax.plot(*arrays["ode_path"][:, j].T, color="black", linewidth=1.0, linestyle="--")
        _outlines(ax)
        ax.set(title=f"N = {n}: {paths.shape[1]} chains per start", aspect="equal")
        ax.title.set_fontsize(9)
    ax = axes[-1]
    ax.loglog(steps, s["endpoint_spread"], "o-", label="endpoint spread (RMS over repeats)")
    ref = np.array(s["endpoint_spread"][0]) * (np.array(steps) / steps[0]) ** -0.5
    ax.loglog(steps, ref, ":", color="grey", label="∝ N^(-1/2)")
    if "mean_endpoint_to_ode" in s:
        ax.loglog(steps, s["mean_endpoint_to_ode"], "s-", label="mean endpoint to the iadb ODE's")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))  # no mathtext: it overlaps
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set(xlabel="N (steps)", ylabel="distance", title=f"convergence: slope {s['spread_slope']:.2f}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0)
    fig.suptitle("(a) blend–deblend chains on triangle → square (dashed: the trained iadb network's RK4 path)",
                 fontsize=10)  # fmt: skip
    return _save(fig, path)


def draw_field(fig_data: Figure, path: Path) -> Path:
    """(b) The angle of the grid estimate of D(x_{1/2}, 1/2), of each trained field on the
    same grid (where the estimate is defined), and the iadb field's angular difference."""
    arrays, s = fig_data.arrays(), fig_data.summary
    defined = arrays["defined"]
    extent = (arrays["edges_x"][0], arrays["edges_x"][-1], arrays["edges_y"][0], arrays["edges_y"][-1])
    nets = [m for m in s["methods"]]
    maps = [("grid estimate", arrays["estimate"])] + [(m, arrays[f"net_{m}"]) for m in nets[:1]]
    fig, axes = plt.subplots(1, len(maps) + (1 if nets else 0), figsize=(4.2 * (len(maps) + 1), 3.8), squeeze=False,
                             layout="constrained")  # fmt: skip
    angle = lambda f: np.degrees(np.arctan2(f[..., 1], f[..., 0]))  # noqa: E731
    lo, hi = np.percentile(angle(arrays["estimate"])[defined], [1, 99])  # the angles there are, not all 360
    for ax, (label, field) in zip(axes[0], maps):
        shown = np.ma.masked_where(~defined, angle(field))
        image = ax.imshow(shown.T, origin="lower", extent=extent, cmap="coolwarm", vmin=lo, vmax=hi)
        ax.set(title=f"{label}: angle of D (deg)", xlabel="x", ylabel="y")
        fig.colorbar(image, ax=ax, shrink=0.8)
    if nets:
        first = nets[0]
        diff = np.abs((angle(arrays["estimate"]) - angle(arrays[f"net_{first}"]) + 180) % 360 - 180)
        ax = axes[0][-1]
        image = ax.imshow(np.ma.masked_where(~defined, diff).T, origin="lower", extent=extent, cmap="magma",
                          norm=colors.PowerNorm(0.5, vmin=0, vmax=max(1.0, float(diff[defined].max()))))  # fmt: skip
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set(title=f"|difference| (deg): mean {s['methods'][first]['mean_deg']:.2f}", xlabel="x", ylabel="y")
    for ax in axes[0]:
        ax.title.set_fontsize(9)
        ax.grid(False)
    fig.suptitle(f"(b) D(x_1/2, 1/2) on triangle-square: {s['pairs']}² pairs, {s['bins']}² bins, "
                 f"defined where a bin has ≥ {s['min_count']} pairs ({s['defined_bins']} bins)",
                 fontsize=10)  # fmt: skip
    return _save(fig, path)


def field_table(fig_data: Figure) -> pd.DataFrame:
    s = fig_data.summary
    rows = [{"field": "grid estimate, one half of the pairs vs the other (its own noise)",
             "mean (deg)": f"{s['halves_mean_deg']:.2f}", "median (deg)": "", "pair-weighted mean (deg)": "",
             "max (deg)": ""}]  # fmt: skip
    for name, m in s["methods"].items():
        rows.append({"field": f"{name} network vs the grid estimate", "mean (deg)": f"{m['mean_deg']:.2f}",
                     "median (deg)": f"{m['median_deg']:.2f}",
                     "pair-weighted mean (deg)": f"{m['count_weighted_mean_deg']:.2f}",
                     "max (deg)": f"{m['max_deg']:.1f}"})  # fmt: skip
    return pd.DataFrame(rows)


def objectives_table(figs: list[Figure]) -> pd.DataFrame:
    """(c) Per dataset, interpolant and network: gradient agreement and the loss gap vs E|dI|^2."""
    rows = []
    for f in figs:
        s = f.summary
        for label, m in s["networks"].items():
            rows.append({
                "dataset": f.record["dataset"], "interpolant": f.record["interpolant"], "network": label,
                "grad cosine": f"{m['grad_cosine']:.9f}", "|g_s − g_c| / |g_s|": f"{m['grad_relative_difference']:.1e}",
                "simple − complex (batch)": f"{m['loss_difference']:.5f}",
                "mean |∂I|² (batch)": f"{m['batch_offset']:.5f}",
                "E|∂I|² (large draw)": f"{s['offset']:.5f}",
            })  # fmt: skip
    return pd.DataFrame(rows)


def objectives_metrics(cells: pd.DataFrame, figs: list[Figure]) -> pd.DataFrame:
    """(c) Final metrics: the best cell of the simple and of the complex objective, per dataset."""
    rows = []
    for f in figs:
        dataset = f.record["dataset"]
        metric = tables.main_metric(cells, dataset)
        if metric is None:
            continue
        stats = tables.over_seeds(cells, dataset, metric)
        row = {"dataset": dataset, "metric": metric, "interpolant": f.record["interpolant"]}
        for objective in ("simple", "complex"):
            mine = stats[stats.method == f.record[objective]]
            if mine.empty:
                row[f"best {objective}"] = ""
                continue
            best = mine.loc[mine["mean"].idxmin()]
            row[f"best {objective}"] = (f"{with_interval(best['mean'], best.low, best.high)} "
                                        f"({best.solver} {best.setting}, NFE {best.nfe:g})")  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def _density_extent(arrays: dict) -> tuple[float, float, float, float]:
    return (arrays["edges_x"][0], arrays["edges_x"][-1], arrays["edges_y"][0], arrays["edges_y"][-1])


def draw_samples(samples: list[Figure], density: Figure, w2: dict[str, float], path: Path,
                 trajectories: bool = False) -> Path:  # fmt: skip
    """A panel per method (in `sorted_methods` order): its samples (or trajectories) over the target density."""
    dens = density.arrays()
    extent = _density_extent(dens)
    order = {m: i for i, m in enumerate(sorted_methods(f.record["method"] for f in samples))}
    samples = sorted(samples, key=lambda f: order[f.record["method"]])
    cols = min(3, len(samples))
    rows = -(-len(samples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax, fig_data in zip(axes.flat, samples):
        r, arrays = fig_data.record, fig_data.arrays()
        ax.imshow(np.log1p(dens["target"]).T, origin="lower", extent=extent, cmap="Greys", aspect="auto")
        if trajectories:
            ax.imshow(np.ma.masked_equal(np.log1p(dens["source"]), 0).T, origin="lower", extent=extent,
                      cmap="Blues", aspect="auto", alpha=0.35)  # fmt: skip
            paths = arrays["paths"]
            ax.add_collection(LineCollection(paths.transpose(1, 0, 2), colors="tab:blue", linewidths=0.5, alpha=0.6))
            ax.scatter(*paths[0].T, s=4, color="tab:blue", label="noise (t=0)")
            ax.scatter(*paths[-1].T, s=4, color="tab:red", label="sample (t=1)")
        else:
            ax.scatter(*arrays["samples"].T, s=2, color="tab:red", alpha=0.7)
        score = w2.get(r.get("cell_key") or "", None)
        quality = f", W2 {score:.3f}" if score is not None else ""
        ax.set(xlim=extent[:2], ylim=extent[2:], title=f"{r['method']}\n{r['solver']} K={r['steps']}{quality}")
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(samples) :]:
        ax.axis("off")
    what = "trajectories from noise (blue) to samples (red)" if trajectories else "samples (red)"
    fig.suptitle(f"{density.record['dataset']}: {what} over the target density (grey)", fontsize=10)
    return _save(fig, path)


def draw_budget_grids(cells: pd.DataFrame, grid_folder: Path, dataset: str, path: Path,
                      budgets: int = 3) -> Path | None:  # fmt: skip
    """Rows: methods; columns: a few NFE budgets; each tile the method's best cell (lowest FD)
    at that NFE, drawn from the same noise."""
    fd = cells[(cells.dataset == dataset) & (cells.metric == "fd") & (cells.method != "floor")]
    fd = fd[[(grid_folder / f"{k}.npy").exists() for k in fd.key]]
    if fd.empty:
        return None
    nfes = sorted(fd.nfe.unique())
    chosen = sorted({nfes[0], nfes[len(nfes) // 2], nfes[-1]})[:budgets]
    methods = sorted_methods(fd.method)
    fig, axes = plt.subplots(len(methods), len(chosen), figsize=(2.4 * len(chosen), 2.6 * len(methods)),
                             squeeze=False, layout="constrained")  # fmt: skip
    for i, method in enumerate(methods):
        for j, nfe in enumerate(chosen):
            ax = axes[i][j]
            ax.axis("off")
            mine = fd[(fd.method == method) & (fd.nfe == nfe)]
            if mine.empty:
                ax.set_title(f"{method}\nno cell at NFE {nfe:g}", fontsize=7)
                continue
            best = mine.loc[mine.value.idxmin()]
            ax.imshow(grids.tile(np.load(grid_folder / f"{best.key}.npy"), scale=1), cmap="gray", vmin=0, vmax=255)
            setting = tables.setting_label(best.steps, best.tol)
            ax.set_title(f"{method}\nNFE {nfe:g}: {best.solver} {setting}, FD {best.value:.3g}", fontsize=7)
    fig.suptitle(f"{dataset}: each method's best cell at a few NFE budgets (same noise everywhere)", fontsize=9)
    return _save(fig, path)
