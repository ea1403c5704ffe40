"""The report's tables, from cells.csv alone: the main metric by method x solver x setting
(mean and its interval over seeds, reports.intervals) and the best cell within each NFE budget."""

from __future__ import annotations

import math

import pandas as pd

from reports.intervals import interval, with_interval

FLOOR_METHOD = "floor"
MAIN_METRIC = {"points": "w2", "images": "fd"}
"""The metric a dataset's tables and plots rank by, by the kind of its rows' metrics."""
SETTING = ["method", "solver", "steps", "tol"]


def main_metric(cells: pd.DataFrame, dataset: str) -> str | None:
    """w2 for a 2D dataset, fd for an image dataset (whichever its rows have), else None."""
    metrics = set(cells[cells.dataset == dataset].metric)
    return next((m for m in MAIN_METRIC.values() if m in metrics), None)


def setting_label(steps: object, tol: object) -> str:
    return f"K={int(steps)}" if pd.notna(steps) else f"tol={tol:g}"


def over_seeds(cells: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    """One row per (method, solver, steps, tol): mean, sd and the interval (low, high) over seeds
    (NaN with one seed), seeds, mean NFE and mean sampling seconds of the finished cells of
    `dataset` and `metric`."""
    rows = cells[(cells.dataset == dataset) & (cells.metric == metric) & (cells.method != FLOOR_METHOD)]
    grouped = rows.groupby(SETTING, dropna=False)
    table = grouped.agg(mean=("value", "mean"), sd=("value", "std"), seeds=("value", "size"),
                        nfe=("nfe", "mean"), sample_seconds=("sample_seconds", "mean"))  # fmt: skip
    bounds = [interval([group.value.to_numpy()]) for _, group in grouped]
    table["low"], table["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    table = table.reset_index()
    table["setting"] = [setting_label(s, t) for s, t in zip(table.steps, table.tol)]
    return table


def method_solver_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Rows (method, solver), columns the settings (K=1, ... then tolerances): mean [interval]
    (the mean alone with one seed)."""
    stats = stats.assign(text=[with_interval(m, lo, hi) for m, lo, hi in zip(stats["mean"], stats.low, stats.high)])
    order = sorted(stats.setting.unique(), key=lambda s: (s.startswith("tol"), float(s.split("=")[1])
                                                          * (-1 if s.startswith("tol") else 1)))  # fmt: skip
    table = stats.pivot(index=["method", "solver"], columns="setting", values="text")
    return table[order].fillna("")


def budgets(max_nfe: float) -> list[int]:
    """1, 2, 4, ... up to the first power of two at or above max_nfe."""
    top = max(0, math.ceil(math.log2(max(max_nfe, 1))))
    return [2**k for k in range(top + 1)]


def best_per_budget(stats: pd.DataFrame) -> pd.DataFrame:
    """For each NFE budget B: the cell with the lowest mean metric among those using at most B
    network evaluations (mean NFE over seeds), one row per budget."""
    rows = []
    finite = stats[stats["mean"].notna()]
    for budget in budgets(finite.nfe.max() if len(finite) else 1):
        within = finite[finite.nfe <= budget]
        if within.empty:
            rows.append({"NFE budget": budget, "method": "", "solver": "", "setting": "", "NFE": "",
                         "value": "nothing within this budget"})  # fmt: skip
            continue
        best = within.loc[within["mean"].idxmin()]
        rows.append({"NFE budget": budget, "method": best.method, "solver": best.solver, "setting": best.setting,
                     "NFE": f"{best.nfe:g}", "value": with_interval(best["mean"], best.low, best.high)})  # fmt: skip
    return pd.DataFrame(rows)


def pareto_front(x: pd.Series, y: pd.Series) -> pd.Series:
    """True for the points no other point beats in both x and y (lower is better in both)."""
    order = sorted(range(len(x)), key=lambda i: (x.iloc[i], y.iloc[i]))
    front = pd.Series(False, index=x.index)
    best = math.inf
    for i in order:
        if y.iloc[i] < best:
            front.iloc[i] = True
            best = y.iloc[i]
    return front
