"""The report's answer, from cells.csv (and the figures' summaries) alone, with uncertainty.

- **Scores** are each cell's main metric over its dataset's floor (real data against real data
  at the same sample count, the same seed's floor when there is one): 1 is as good as a sampler
  can be expected to get, and datasets become comparable.
- **Intervals** are 95 % percentile bootstrap intervals over seeds (`scipy.stats.bootstrap`,
  RESAMPLES resamples from a fixed seed, so a report is reproducible); across datasets the
  bootstrap is stratified, as rliable's (Agarwal et al. 2021): each dataset's seeds are resampled
  within that dataset. With two or three seeds an interval shows how far the seeds spread, not a
  coverage guarantee. rliable's own bootstrap is not used: rliable 1.2 needs arch < 8, which does
  not import under pandas 3, and it draws from numpy's global random state whatever
  `random_state` it is given.
- **Aggregates** across datasets are rliable's interquartile mean (`metrics.aggregate_iqm`);
  within one dataset the statistic is the mean over seeds.
- **Rankings** are autorank's (Demšar 2006): per (dataset, seed) block each method's best score,
  ranked; the Friedman test and Nemenyi's critical difference when there are at least five
  blocks (autorank's minimum), plain mean ranks otherwise.
- **Solver pairs**: a higher-order solver against Euler at equal NFE on the same network (same
  method, dataset and seed), counted by rliable's `probability_of_improvement` with each pair its
  own task, which makes the count paired.
- **Identical methods** (bitwise-equal values in every cell, e.g. IADB and the linear interpolant
  with the simple objective, which train to the same weights) are shown once.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports import colours, tables
from reports.intervals import interval, iqm, paired_improvement, with_interval

ALPHA = 0.05
MIN_BLOCKS = 5
"""autorank's minimum number of (dataset, seed) blocks for its tests."""
HIGHER_ORDER = {"midpoint": 2, "heun": 2, "rk4": 4}
"""The fixed-step solvers of order two or more (bench.solvers declares their orders), compared with Euler."""
AGGREGATE = "all"
"""The column of a summary table that aggregates a group's datasets."""
FD_FLOOR_TARGET = 3.0
"""The claim on the best IADB cell's FD / floor (issue 19's target; the post reports an MNIST FD of about 3)."""
KEY = ["method", "solver", "steps", "tol"]
LABELS = {"w2": "2D datasets, W2 / floor", "fd": "image datasets, FD / floor"}
"""How the page names the datasets of one main metric and their score."""


# --------------------------------------------------------------------------------------------- identical methods


@dataclass
class Duplicates:
    """Methods whose every value equals, bit for bit, a value of a method shown instead."""

    of: dict[str, str] = field(default_factory=dict)
    """{duplicate: the method shown}."""
    cells: dict[str, int] = field(default_factory=dict)
    """{duplicate: how many values were compared}."""

    def shown_for(self, method: str) -> list[str]:
        return [d for d, m in self.of.items() if m == method]

    def sentence(self) -> str:
        if not self.of:
            return "No two methods gave identical results: every method is shown."
        parts = []
        for shown in colours.sorted_methods(set(self.of.values())):
            others = self.shown_for(shown)
            counts = ", ".join(f"{d} ({self.cells[d]} values)" for d in others)
            parts.append(f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} shown as {shown}: every value "
                         f"of theirs equals {shown}'s bit for bit, in every dataset, seed, solver and step count they "
                         f"share with it ({counts}), as the same network with the same weights gives.")  # fmt: skip
        return " ".join(parts) + " cells.csv keeps every row."


def duplicates(cells: pd.DataFrame) -> Duplicates:
    """Each method whose every value (every metric, dataset, seed, solver and setting) is present
    and bitwise equal in a method earlier in colours.sorted_methods order becomes its duplicate."""
    rows = cells[cells.method != tables.FLOOR_METHOD]
    index = ["dataset", "seed", "solver", "steps", "tol", "metric"]
    values = {m: g.set_index(index).value.sort_index() for m, g in rows.groupby("method")}
    found = Duplicates()
    kept: list[str] = []
    for method in colours.sorted_methods(values):
        mine = values[method]
        match = None
        for other in kept:
            theirs = values[other]
            if mine.index.isin(theirs.index).all() and len(mine):
                aligned = theirs.reindex(mine.index)
                if not aligned.index.has_duplicates and np.array_equal(aligned.to_numpy(), mine.to_numpy()):
                    match = other
                    break
        if match is None:
            kept.append(method)
        else:
            found.of[method], found.cells[method] = match, len(mine)
    return found


def collapse(cells: pd.DataFrame, dups: Duplicates) -> pd.DataFrame:
    """The cells without the duplicates' rows."""
    return cells[~cells.method.isin(dups.of)]


# --------------------------------------------------------------------------------------------- scores


def scores(cells: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    """One row per finished cell of `dataset`: KEY, seed, nfe, value and score = value / floor (the
    same seed's floor, else the mean of the dataset's floors; nan without a floor)."""
    rows = cells[(cells.dataset == dataset) & (cells.metric == metric)]
    floors = rows[rows.method == tables.FLOOR_METHOD]
    by_seed = floors.groupby("seed").value.mean()
    mean_floor = floors.value.mean() if len(floors) else math.nan
    out = rows[rows.method != tables.FLOOR_METHOD][[*KEY, "seed", "nfe", "value"]].copy()
    out["floor"] = [by_seed.get(s, mean_floor) for s in out.seed]
    out["score"] = out.value / out.floor
    return out.reset_index(drop=True)


def settings(score_rows: pd.DataFrame) -> pd.DataFrame:
    """One row per setting (KEY) with every seed of the dataset: mean score, interval, seeds,
    mean NFE, and the per-seed scores ('values', a list in seed order)."""
    seeds = score_rows.seed.nunique()
    out = []
    for key, group in score_rows.groupby(KEY, dropna=False):
        if group.seed.nunique() < seeds or group.score.isna().any():
            continue  # a setting missing a seed would rank on fewer draws than the others
        group = group.sort_values("seed")
        values = group.score.to_numpy()
        low, high = interval([values])
        out.append({**dict(zip(KEY, key)), "score": values.mean(), "low": low, "high": high, "seeds": len(values),
                    "nfe": group.nfe.mean(), "metric": group.value.mean(), "values": list(values)})  # fmt: skip
    frame = pd.DataFrame(out)
    if not frame.empty:
        frame["setting"] = [tables.setting_label(s, t) for s, t in zip(frame.steps, frame.tol)]
    return frame


def best_within(frame: pd.DataFrame, budget: float) -> pd.Series | None:
    """The setting with the lowest score among those using at most `budget` evaluations."""
    within = frame[frame.nfe <= budget]
    return None if within.empty else within.loc[within.score.idxmin()]


def groups(cells: pd.DataFrame) -> dict[str, list[str]]:
    """{main metric: its datasets}: the datasets of one kind (the 2D track's W2, the images' FD),
    whose scores are aggregated together."""
    out: dict[str, list[str]] = {}
    for dataset in sorted(set(cells.dataset)):
        metric = tables.main_metric(cells, dataset)
        if metric is not None:
            out.setdefault(metric, []).append(dataset)
    return out


def aggregate_settings(per_dataset: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per setting present in every dataset: the IQM of its scores over datasets and
    seeds, the stratified interval, and the mean NFE."""
    frames = [f.set_index(KEY) for f in per_dataset.values() if not f.empty]
    if len(frames) != len(per_dataset) or not frames:
        return pd.DataFrame()
    common = frames[0].index
    for f in frames[1:]:
        common = common.intersection(f.index)
    out = []
    for key in common:
        samples = [f.loc[key, "values"] for f in frames]
        low, high = interval(samples, "iqm")
        out.append({**dict(zip(KEY, key)), "score": iqm(samples), "low": low, "high": high,
                    "nfe": float(np.mean([f.loc[key, "nfe"] for f in frames])),
                    "seeds": min(len(s) for s in samples)})  # fmt: skip
    frame = pd.DataFrame(out)
    if not frame.empty:
        frame["setting"] = [tables.setting_label(s, t) for s, t in zip(frame.steps, frame.tol)]
    return frame


def budget_table(per_dataset: Mapping[str, pd.DataFrame], aggregate: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows: NFE budgets; columns: each dataset (and AGGREGATE): 'method solver setting: score [interval]'."""
    top = max((f.nfe.max() for f in per_dataset.values() if not f.empty), default=1)
    columns = dict(per_dataset)
    if aggregate is not None and not aggregate.empty:
        columns[AGGREGATE] = aggregate
    rows = []
    for budget in tables.budgets(top):
        row: dict[str, object] = {"NFE ≤": budget}
        for name, frame in columns.items():
            best = None if frame.empty else best_within(frame, budget)
            row[name] = "–" if best is None else (f"{best.method} · {best.solver} {best.setting} (NFE {best.nfe:g}): "
                                                  + with_interval(best.score, best.low, best.high))  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- rankings


@dataclass
class Ranking:
    """Mean ranks of methods over (dataset, seed) blocks (1 = best), and autorank's result when
    there were enough blocks for its tests."""

    ranks: pd.DataFrame
    """Index: method; columns: mean rank, median score, blocks."""
    blocks: int
    result: object | None = None
    why_untested: str = ""

    def sentence(self) -> str:
        if self.result is None:
            return f"Mean ranks over {self.blocks} (dataset, seed) blocks, without a test: {self.why_untested}."
        r = self.result
        if r.pvalue is None:
            return f"Mean ranks over {self.blocks} (dataset, seed) blocks; autorank ran no test ({r.omnibus})."
        verdict = "differ" if r.pvalue < ALPHA else "do not differ detectably"
        if r.cd is None:  # two methods: autorank's Wilcoxon signed-rank test, no critical difference
            return (f"{r.omnibus.capitalize()} test over {self.blocks} (dataset, seed) blocks: p = {r.pvalue:.2g}, so "
                    f"the two methods {verdict} at α = {ALPHA}.")  # fmt: skip
        return (f"Friedman test over {self.blocks} (dataset, seed) blocks: p = {r.pvalue:.2g}, so the methods' ranks "
                f"{verdict} at α = {ALPHA}. Nemenyi's critical difference: {r.cd:.2f} ranks; methods whose mean "
                "ranks differ by less are joined by a bar in the diagram.")  # fmt: skip


def block_scores(cells: pd.DataFrame, datasets: Iterable[str], metric: str, methods: Sequence[str]) -> pd.DataFrame:
    """Rows (dataset, seed); columns the methods: each method's best score in that block (any
    solver and setting). Blocks missing a method are dropped."""
    parts = []
    for dataset in datasets:
        s = scores(cells, dataset, metric)
        s = s[s.method.isin(methods)]
        parts.append(s.groupby(["seed", "method"]).score.min().unstack("method").assign(dataset=dataset))
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts).reset_index().set_index(["dataset", "seed"])
    present = [m for m in methods if m in frame]
    return frame[present].dropna()


def rank(blocks: pd.DataFrame) -> Ranking:
    """autorank (Friedman + Nemenyi) on the blocks when there are at least MIN_BLOCKS of them and
    two methods; else the mean ranks alone."""
    ranks = blocks.rank(axis=1, method="average").mean().rename("mean rank").to_frame()
    ranks["median score"] = blocks.median()
    ranks = ranks.sort_values("mean rank")
    if len(blocks.columns) < 2:
        return Ranking(ranks, len(blocks), None, "only one method")
    if len(blocks) < MIN_BLOCKS:
        return Ranking(
            ranks, len(blocks), None, f"{len(blocks)} blocks, and autorank's tests need at least {MIN_BLOCKS}"
        )
    from autorank import autorank

    with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its choice of test
        result = autorank(blocks.reset_index(drop=True), alpha=ALPHA, verbose=False, order="ascending",
                          force_mode="nonparametric")  # fmt: skip
    return Ranking(ranks, len(blocks), result)


def draw_ranking(ranking: Ranking, title: str, path) -> object | None:
    """autorank's critical-difference diagram (drawn even when the Friedman test finds no difference)."""
    if ranking.result is None or getattr(ranking.result, "cd", None) is None:
        return None  # no test, or two methods (no critical difference to draw)
    import matplotlib

    matplotlib.use("Agg")
    from autorank import plot_stats
    from matplotlib import pyplot as plt

    ax = plot_stats(ranking.result, allow_insignificant=True)
    fig = ax.figure
    for text in ax.texts:  # the method names in their report-wide colours
        if text.get_text() in set(ranking.ranks.index):
            text.set_color(colours.method_colour(text.get_text()))
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------- solvers


def solver_pairs(cells: pd.DataFrame, datasets: Iterable[str], metric: str) -> pd.DataFrame:
    """Every (method, solver, dataset, seed, NFE) where a higher-order solver and Euler ran at the
    same NFE on the same network: their scores side by side."""
    rows = []
    for dataset in datasets:
        s = scores(cells, dataset, metric)
        s = s[s.steps.notna()]
        euler = s[s.solver == "euler"].set_index(["method", "seed", "nfe"]).score
        for solver in HIGHER_ORDER:
            other = s[s.solver == solver].set_index(["method", "seed", "nfe"]).score
            both = pd.concat([other.rename("solver_score"), euler.rename("euler_score")], axis=1, join="inner")
            for (method, seed, nfe), pair in both.iterrows():
                rows.append({"method": method, "solver": solver, "dataset": dataset, "seed": seed, "nfe": nfe,
                             "solver_score": pair.solver_score, "euler_score": pair.euler_score})  # fmt: skip
    return pd.DataFrame(rows)


def beats_euler(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per method and solver (and 'any' for the solvers together): P(the solver's score is lower
    than Euler's at equal NFE), paired by seed, with its interval (seeds resampled within each
    dataset, a seed's pairs together) and the number of pairs."""
    rows = []
    if pairs.empty:
        return pd.DataFrame()
    for method in colours.sorted_methods(set(pairs.method)):
        mine = pairs[pairs.method == method]
        for solver in [*[s for s in HIGHER_ORDER if s in set(mine.solver)], "any"]:
            sel = mine if solver == "any" else mine[mine.solver == solver]
            p = paired_improvement(sel.solver_score, sel.euler_score)
            per_seed = [[paired_improvement(g.solver_score, g.euler_score) for _, g in d.groupby("seed")]
                        for _, d in sel.groupby("dataset")]  # fmt: skip
            low, high = interval(per_seed) if all(len(x) > 1 for x in per_seed) else (math.nan, math.nan)
            rows.append({"method": method, "solver": "any of " + ", ".join(HIGHER_ORDER) if solver == "any" else solver,
                         "P(beats Euler)": p, "low": low, "high": high, "pairs": len(sel),
                         "NFE compared": ", ".join(f"{n:g}" for n in sorted(set(sel.nfe)))})  # fmt: skip
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- claims


@dataclass
class Claim:
    claim: str
    measured: str
    criterion: str
    verdict: str
    """'pass', 'FAIL' or 'not measured'."""

    def row(self) -> dict[str, str]:
        return {"claim": self.claim, "measured": self.measured, "criterion": self.criterion, "verdict": self.verdict}


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def claim_chain(chains: Sequence[Mapping]) -> Claim:
    """(a) The blend-deblend chain converges as N grows: the log-log slope of its endpoints' spread
    against N is below zero, over seeds."""
    name = "(a) the blend–deblend chain converges as N grows"
    criterion = "slope of the endpoints' spread against N (log–log) below 0, the whole interval"
    if not chains:
        return Claim(
            name, "no chain figure in this sweep (it needs triangle-square and iadb)", criterion, "not measured"
        )
    slopes = [c["spread_slope"] for c in chains]
    low, high = interval([slopes])
    top = high if not math.isnan(high) else max(slopes)
    first = np.mean([c["endpoint_spread"][0] for c in chains])
    last = np.mean([c["endpoint_spread"][-1] for c in chains])
    steps = chains[0]["steps"]
    measured = (f"slope {with_interval(float(np.mean(slopes)), low, high, 2)} over {len(slopes)} seed(s); spread "
                f"{first:.3f} at N = {steps[0]} → {last:.3f} at N = {steps[-1]}")  # fmt: skip
    return Claim(name, measured, criterion, _verdict(top < 0))


def claim_field(fields: Sequence[Mapping], method: str = "iadb") -> Claim:
    """(b) The learned field matches the grid estimate within the estimate's own noise: the mean
    angular disagreement is at most the disagreement of the estimate's two halves."""
    name = "(b) the learned field matches the grid estimate of D(x_1/2, 1/2)"
    criterion = ("mean angle between the network and the estimate ≤ the estimate's own noise (its two halves "
                 "against each other, twice the whole estimate's noise), the whole interval")  # fmt: skip
    found = [f for f in fields if method in f["methods"]]
    if not found:
        return Claim(name, f"no field figure with {method}", criterion, "not measured")
    angles = [f["methods"][method]["mean_deg"] for f in found]
    noise = [f["halves_mean_deg"] for f in found]
    low, high = interval([angles])
    top = high if not math.isnan(high) else max(angles)
    measured = (f"{method}: {with_interval(float(np.mean(angles)), low, high, 2)}° (median over bins "
                f"{np.mean([f['methods'][method]['median_deg'] for f in found]):.2f}°); the estimate's noise "
                f"{np.mean(noise):.2f}°, over {len(found)} seed(s)")  # fmt: skip
    return Claim(name, measured, criterion, _verdict(top <= min(noise)))


def claim_same_method(cells: pd.DataFrame, dups: Duplicates, a: str = "iadb", b: str = "si-linear-simple") -> Claim:
    """IADB and the linear interpolant with the simple objective are the same method: bitwise-equal values."""
    name = f"{a} and {b} (the linear interpolant, simple objective) are the same method"
    criterion = "every value bitwise equal, in every cell they share"
    methods = set(cells.method)
    if not {a, b} <= methods:
        return Claim(name, f"the sweep lacks {b if a in methods else a}", criterion, "not measured")
    if dups.of.get(b) == a:
        return Claim(name, f"{dups.cells[b]} of {dups.cells[b]} values equal", criterion, "pass")
    rows = cells[cells.method.isin([a, b])]
    wide = rows.pivot_table(index=["dataset", "seed", "solver", "steps", "tol", "metric"], columns="method",
                            values="value", dropna=False, aggfunc="first").dropna()  # fmt: skip
    equal = int((wide[a] == wide[b]).sum()) if len(wide) else 0
    return Claim(name, f"{equal} of {len(wide)} shared values equal", criterion, "FAIL")


def claim_objectives(objectives: Sequence[Mapping], tolerance: float = 1e-5) -> Claim:
    """(c) The simple and complex objectives have the same gradients and differ by E|dI|^2."""
    name = "(c) the simple and complex objectives have the same gradients and differ by E|∂I|²"
    criterion = (f"gradient cosine ≥ 1 − {tolerance:g} and relative difference ≤ {tolerance:g}; loss difference "
                 f"within {tolerance:g} (relative) of the batch's mean |∂I|²")  # fmt: skip
    nets = [m for o in objectives for m in o["networks"].values()]
    if not nets:
        return Claim(name, "no objectives figure in this sweep", criterion, "not measured")
    cosine = min(m["grad_cosine"] for m in nets)
    rel = max(m["grad_relative_difference"] for m in nets)
    offset = max(abs(m["loss_difference"] - m["batch_offset"]) / abs(m["batch_offset"]) for m in nets)
    measured = (f"over {len(nets)} (dataset, interpolant, network, seed) cases: cosine ≥ {cosine:.9f}, relative "
                f"difference ≤ {rel:.1e}; loss difference off the offset by ≤ {offset:.1e} (relative)")  # fmt: skip
    ok = cosine >= 1 - tolerance and rel <= tolerance and offset <= tolerance
    return Claim(name, measured, criterion, _verdict(ok))


def claim_beats(cells: pd.DataFrame, dataset: str, metric: str, a: str = "iadb", b: str = "ddpm") -> Claim:
    """`a` beats `b` at equal NFE: at each NFE budget both reach, a's best cell within it scores
    lower than b's, paired by seed."""
    name = f"{a} beats {b} at equal NFE on {dataset}"
    criterion = f"P({a}'s best cell within each NFE budget beats {b}'s, paired by seed): the whole interval above 0.5"
    s = scores(cells, dataset, metric)
    if not {a, b} <= set(s.method):
        return Claim(name, f"{dataset} lacks {a} or {b}", criterion, "not measured")
    mine, theirs, seeds_of = [], [], []
    ratios = []
    for budget in tables.budgets(s.nfe.max()):
        within = s[s.nfe <= budget]
        best = within.groupby(["method", "seed"]).score.min().unstack("method")
        if a not in best or b not in best or best[[a, b]].isna().any(axis=None):
            continue
        mine += list(best[a])
        theirs += list(best[b])
        seeds_of += list(best.index)
        ratios.append((budget, float(best[b].mean() / best[a].mean())))
    if not mine:
        return Claim(name, "no NFE budget that both reach", criterion, "not measured")
    p = paired_improvement(mine, theirs)
    frame = pd.DataFrame({"seed": seeds_of, "a": mine, "b": theirs})
    per_seed = [paired_improvement(g.a, g.b) for _, g in frame.groupby("seed")]
    low, high = interval([per_seed])
    bottom = low if not math.isnan(low) else p
    ratio_text = ", ".join(f"{r:.2f} at NFE ≤ {n}" for n, r in ratios)
    measured = (f"P = {with_interval(p, low, high, 2)} over {len(mine)} (budget, seed) pairs; {b} / {a} "
                f"{metric} / floor: {ratio_text}")  # fmt: skip
    return Claim(name, measured, criterion, _verdict(bottom > 0.5))


def claim_fd_floor(cells: pd.DataFrame, dataset: str, metric: str, method: str = "iadb",
                   target: float = FD_FLOOR_TARGET) -> Claim:  # fmt: skip
    """The best cell of `method` (lowest mean over seeds) has metric / floor at most `target`."""
    name = f"{metric.upper()} / floor of the best {method} cell on {dataset}"
    criterion = f"≤ {target:g} (the post: an MNIST FD of about 3), the whole interval"
    frame = settings(scores(cells, dataset, metric))
    frame = frame[frame.method == method] if not frame.empty else frame
    if frame.empty:
        return Claim(name, f"no {method} cell on {dataset}", criterion, "not measured")
    best = frame.loc[frame.score.idxmin()]
    top = best.high if not math.isnan(best.high) else best.score
    measured = (f"{best.solver} {best.setting}: {with_interval(best.score, best.low, best.high, 2)} "
                f"({metric} {best.metric:.2f}, over {best.seeds} seed(s))")  # fmt: skip
    return Claim(name, measured, criterion, _verdict(top <= target))


def claims(cells: pd.DataFrame, figures: Mapping[str, Sequence[Mapping]], dups: Duplicates) -> list[Claim]:
    """The background post's claims, each with its figure, criterion and verdict.

    cells: every finished cell (duplicates included); figures: {kind: [figure summaries]}.
    """
    out = [claim_chain(figures.get("chain", [])), claim_field(figures.get("field", [])),
           claim_same_method(cells, dups), claim_objectives(figures.get("objectives", []))]  # fmt: skip
    image_sets = groups(cells).get("fd", [])
    for dataset in image_sets or ["mnist5k"]:
        out.append(claim_beats(cells, dataset, "fd"))
        out.append(claim_fd_floor(cells, dataset, "fd"))
    return out


def budget_tables(shown: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{label: budget_table} for each kind of dataset (LABELS), the kind's datasets aggregated when
    there are several. `shown`: the cells with duplicates collapsed."""
    out = {}
    for metric, datasets in groups(shown).items():
        per = {d: settings(scores(shown, d, metric)) for d in datasets}
        aggregate = aggregate_settings(per) if len(datasets) > 1 else None
        out[LABELS.get(metric, f"{metric} / floor")] = budget_table(per, aggregate)
    return out


def figure_summaries(figs: Mapping[str, Sequence[object]]) -> dict[str, list[Mapping]]:
    """{kind: [summary]} from reports.background.load_figures' {kind: [Figure]}."""
    return {kind: [f.summary for f in found] for kind, found in figs.items()}  # type: ignore[attr-defined]
