"""The report's summary: its numbers against a direct computation from the cells (the best cell
per budget, the interval, the aggregate, the ranking and its test, solvers against Euler), a
failed claim shown as failed, and identical methods collapsed while different ones are not."""

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from reports import summary
from reports.intervals import interval, paired_improvement
from reports.report import Document, _summary


def cells_frame(values: dict, floors: dict) -> pd.DataFrame:
    """cells.csv rows: values {(method, dataset, seed, solver, steps): w2}, floors {(dataset, seed): w2}."""
    nfe_per_step = {"euler": 1, "heun": 2, "midpoint": 2, "rk4": 4}
    rows = [{"method": m, "dataset": d, "seed": s, "solver": so, "steps": float(k), "tol": math.nan,
             "nfe": float(k * nfe_per_step[so]), "metric": "w2", "value": v, "status": "ok"}
            for (m, d, s, so, k), v in values.items()]  # fmt: skip
    rows += [{"method": "floor", "dataset": d, "seed": s, "solver": math.nan, "steps": math.nan, "tol": math.nan,
              "nfe": 0.0, "metric": "w2", "value": v, "status": "ok"} for (d, s), v in floors.items()]  # fmt: skip
    return pd.DataFrame(rows)


def synthetic(seed: int = 0, seeds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values, floors = {}, {}
    for d in ("moons", "rings"):
        for s in range(seeds):
            floors[d, s] = 0.1 + 0.01 * rng.random()
            for m, so, k in itertools.product(("a", "b", "c"), ("euler", "heun"), (1, 2, 4)):
                level = {"a": 0.3, "b": 0.35, "c": 0.5}[m] + (0.05 if so == "euler" else 0)
                values[m, d, s, so, k] = level / k**0.5 + 0.03 * rng.random()
    return cells_frame(values, floors)


# ------------------------------------------------------------------------------------- intervals


@pytest.mark.parametrize("n", [2, 3])
def test_interval_of_two_or_three_seeds_is_their_range(n):
    """Every resample of n ≤ 3 values has probability at least 1/27 > 2.5 %, so the 95 % percentile
    bootstrap interval of the mean is exactly [min, max]."""
    values = np.random.default_rng(n).random(n)
    assert interval([values]) == (values.min(), values.max())


def test_interval_of_many_seeds_against_an_independent_bootstrap():
    values = np.random.default_rng(1).normal(size=12)
    draws = np.random.default_rng(99).choice(values, size=(40000, values.size)).mean(axis=1)
    want = np.percentile(draws, [2.5, 97.5])
    got = interval([values])
    assert got == pytest.approx(tuple(want), abs=0.03 * values.std())
    assert got[1] - got[0] < values.max() - values.min()  # no longer the range


def test_interval_needs_two_seeds():
    assert all(math.isnan(x) for x in interval([[0.5]]))
    assert all(math.isnan(x) for x in interval([[0.5, 0.6], [0.7]]))


def test_interval_across_datasets_is_stratified():
    """Each dataset's seeds are resampled within it: the mean over two datasets of very different
    levels stays between the two within-dataset extremes; a pooled bootstrap would reach 3.4 or 6.7."""
    low, high = interval([[0.0, 0.1, 0.2], [10.0, 10.1, 10.2]])
    assert 5.0 - 1e-9 <= low and high <= 5.2 + 1e-9


def test_iqm_interval_across_datasets_against_an_independent_stratified_bootstrap():
    """rliable's recipe written out: resample each dataset's seeds within it, take the 25 %-trimmed
    mean of everything, read the 2.5 and 97.5 percentiles."""
    rng = np.random.default_rng(3)
    samples = [rng.lognormal(size=6), 3 + rng.lognormal(size=6)]
    draws = [scipy.stats.trim_mean(np.concatenate([rng.choice(s, s.size) for s in samples]), 0.25)
             for _ in range(20000)]  # fmt: skip
    want = np.percentile(draws, [2.5, 97.5])
    assert interval(samples, "iqm") == pytest.approx(tuple(want), rel=0.05)  # 2,000 resamples: Monte Carlo noise
    assert interval(samples, "mean") != pytest.approx(tuple(want), rel=0.05)  # a tail of 30: the statistic matters


def test_paired_improvement_counts_pairs():
    assert paired_improvement([1, 2, 3, 4], [2, 1, 5, 4]) == pytest.approx((1 + 0 + 1 + 0.5) / 4)


# ------------------------------------------------------------------------------------- best per budget


def test_best_per_budget_equals_a_direct_computation():
    cells = synthetic()
    floors = cells[cells.method == "floor"].set_index(["dataset", "seed"]).value
    runs = cells[cells.method != "floor"].copy()
    runs["score"] = [v / floors[d, s] for v, d, s in zip(runs.value, runs.dataset, runs.seed)]
    per = {d: summary.settings(summary.scores(cells, d, "w2")) for d in ("moons", "rings")}
    aggregate = summary.aggregate_settings(per)
    table = summary.budget_table(per, aggregate)
    assert list(table["NFE ≤"]) == [1, 2, 4, 8]
    for row in table.itertuples(index=False):
        budget = row[0]
        for d in ("moons", "rings"):
            mine = runs[(runs.dataset == d) & (runs.nfe <= budget)]
            means = mine.groupby(["method", "solver", "steps"]).score.mean()
            method, solver, steps = means.idxmin()
            seeds = mine.set_index(["method", "solver", "steps"]).loc[(method, solver, steps)].score
            want = (f"{method} · {solver} K={int(steps)} (NFE {steps * (1 if solver == 'euler' else 2):g}): "
                    f"{means.min():.3f} [{seeds.min():.3f}, {seeds.max():.3f}]")  # fmt: skip
            assert getattr(row, d) == want
        within = runs[runs.nfe <= budget]
        iqms = within.groupby(["method", "solver", "steps"]).score.apply(lambda x: scipy.stats.trim_mean(x, 0.25))
        method, solver, steps = iqms.idxmin()
        assert row.all.startswith(f"{method} · {solver} K={int(steps)} ")
        assert re.search(rf": {iqms.min():.3f} \[", row.all)


def test_a_setting_missing_a_seed_does_not_rank():
    cells = synthetic()
    lucky = cells.index[(cells.method == "c") & (cells.solver == "heun") & (cells.steps == 4) & (cells.seed > 0)]
    cells = cells.drop(lucky)
    cells.loc[(cells.method == "c") & (cells.solver == "heun") & (cells.steps == 4), "value"] = 1e-6
    frame = summary.settings(summary.scores(cells, "moons", "w2"))
    assert not ((frame.method == "c") & (frame.solver == "heun") & (frame.steps == 4)).any()


# ------------------------------------------------------------------------------------- rankings


def test_ranking_and_its_test_against_demsar():
    """Mean ranks by hand, Friedman's statistic written out (Demšar 2006, eq. 1) and Nemenyi's
    critical difference with q_0.05 = 2.343 for three methods."""
    cells = synthetic(seeds=3)
    blocks = summary.block_scores(cells, ["moons", "rings"], "w2", ["a", "b", "c"])
    assert len(blocks) == 6
    ranking = summary.rank(blocks)
    by_hand = {m: 0.0 for m in "abc"}
    for _, block in blocks.iterrows():
        for position, method in enumerate(block.sort_values().index, start=1):
            by_hand[method] += position / len(blocks)
    assert ranking.ranks["mean rank"].to_dict() == pytest.approx(by_hand)
    assert ranking.result.rankdf.meanrank.to_dict() == pytest.approx(by_hand)  # the diagram's ranks, lowest best
    n, k = len(blocks), 3
    chi2 = 12 * n / (k * (k + 1)) * (sum(r**2 for r in by_hand.values()) - k * (k + 1) ** 2 / 4)
    assert ranking.result.pvalue == pytest.approx(scipy.stats.chi2.sf(chi2, k - 1))
    assert ranking.result.cd == pytest.approx(2.343 * math.sqrt(k * (k + 1) / (6 * n)), rel=1e-3)
    assert list(ranking.ranks.index) == ["a", "b", "c"]


def test_too_few_blocks_are_ranked_without_a_test():
    cells = synthetic(seeds=2)
    ranking = summary.rank(summary.block_scores(cells, ["moons"], "w2", ["a", "b", "c"]))
    assert ranking.result is None and "need at least 5" in ranking.sentence()


# ------------------------------------------------------------------------------------- solvers


def test_higher_order_against_euler_pairs_equal_nfe_on_the_same_seed():
    values = {}
    for s, (euler2, heun1, heun2) in enumerate([(0.5, 0.4, 0.1), (0.5, 0.6, 0.1), (0.5, 0.3, 0.1)]):
        values["a", "moons", s, "euler", 2] = euler2
        values["a", "moons", s, "heun", 1] = heun1  # NFE 2: against euler K=2
        values["a", "moons", s, "heun", 2] = heun2  # NFE 4: no Euler cell at NFE 4, so no pair
    cells = cells_frame(values, {("moons", s): 0.1 for s in range(3)})
    pairs = summary.solver_pairs(cells, ["moons"], "w2")
    assert len(pairs) == 3 and set(pairs.nfe) == {2.0}
    table = summary.beats_euler(pairs).set_index("solver")
    assert table.loc["heun", "P(beats Euler)"] == pytest.approx(2 / 3)
    assert (table.loc["heun", "low"], table.loc["heun", "high"]) == (0.0, 1.0)  # the seeds' range
    assert table.loc["heun", "pairs"] == 3


# ------------------------------------------------------------------------------------- identical methods


def test_identical_methods_are_collapsed_and_different_ones_are_not():
    cells = synthetic()
    base = cells[cells.method == "a"]
    same = base.assign(method="si-linear-simple")
    almost = base.assign(method="si-trig-simple")
    almost.loc[almost.index[5], "value"] = np.nextafter(almost.value.iloc[5], 1.0)  # one value, one ulp off
    both = pd.concat([cells.replace({"method": {"a": "iadb"}}), same, almost], ignore_index=True)
    dups = summary.duplicates(both)
    assert dups.of == {"si-linear-simple": "iadb"}
    assert dups.cells["si-linear-simple"] == len(base)
    shown = summary.collapse(both, dups)
    assert "si-linear-simple" not in set(shown.method) and {"iadb", "si-trig-simple", "b", "c"} <= set(shown.method)
    assert "si-linear-simple is shown as iadb" in dups.sentence()
    assert summary.duplicates(cells).of == {}


# ------------------------------------------------------------------------------------- claims


GOOD = {
    "chain": [{"spread_slope": -0.4, "endpoint_spread": [0.3, 0.1], "steps": [2, 128]}],
    "field": [{"methods": {"iadb": {"mean_deg": 0.5, "median_deg": 0.4}}, "halves_mean_deg": 0.7}],
    "objectives": [
        {
            "networks": {
                "initial": {
                    "grad_cosine": 1.0,
                    "grad_relative_difference": 1e-7,
                    "loss_difference": 3.0,
                    "batch_offset": 3.0,
                }
            }
        }
    ],  # fmt: skip
}


def mnist_cells(iadb_fd: float, ddpm_fd: float) -> pd.DataFrame:
    values = {(m, "mnist5k", s, "euler", k): fd * (1 + 0.01 * s) / k**0.1
              for m, fd in (("iadb", iadb_fd), ("ddpm", ddpm_fd)) for s in (0, 1) for k in (8, 16)}  # fmt: skip
    cells = cells_frame(values, {("mnist5k", s): 2.0 for s in (0, 1)})
    cells["metric"] = cells.metric.replace({"w2": "fd"})
    return cells


def verdicts(cells: pd.DataFrame, figures: dict) -> dict[str, str]:
    return {c.claim: c.verdict for c in summary.claims(cells, figures, summary.duplicates(cells))}


def test_claims_pass_when_the_figures_hold():
    found = verdicts(mnist_cells(4.0, 8.0), GOOD)
    assert found["(a) the blend–deblend chain converges as N grows"] == "pass"
    assert found["(b) the learned field matches the grid estimate of D(x_1/2, 1/2)"] == "pass"
    assert found["(c) the simple and complex objectives have the same gradients and differ by E|∂I|²"] == "pass"
    assert found["iadb beats ddpm at equal NFE on mnist5k"] == "pass"
    assert found["FD / floor of the best iadb cell on mnist5k"] == "pass"  # 4 / 2 / 16^0.1 < 3
    assert found["iadb and si-linear-simple (the linear interpolant, simple objective) are the same method"] == (
        "not measured")  # fmt: skip


@pytest.mark.parametrize(
    "claim, figures, fds",
    [
        ("(a) the blend–deblend chain converges as N grows",
         {**GOOD, "chain": [{**GOOD["chain"][0], "spread_slope": 0.01}]}, (4.0, 8.0)),
        ("(b) the learned field matches the grid estimate of D(x_1/2, 1/2)",
         {**GOOD, "field": [{**GOOD["field"][0], "halves_mean_deg": 0.3}]}, (4.0, 8.0)),
        ("(c) the simple and complex objectives have the same gradients and differ by E|∂I|²",
         {**GOOD, "objectives": [{"networks": {"n": {**GOOD["objectives"][0]["networks"]["initial"],
                                                     "loss_difference": 3.1}}}]}, (4.0, 8.0)),
        ("iadb beats ddpm at equal NFE on mnist5k", GOOD, (8.0, 4.0)),
        ("FD / floor of the best iadb cell on mnist5k", GOOD, (9.0, 10.0)),
    ],
)  # fmt: skip
def test_a_failed_claim_shows_as_failed(claim, figures, fds):
    cells = mnist_cells(*fds)
    assert verdicts(cells, figures)[claim] == "FAIL"
    doc = Document(out_dir=Path("."))
    _summary(doc, cells, summary.duplicates(cells), {k: [_Fig(s) for s in v] for k, v in figures.items()},
             Path("/nonexistent"))  # fmt: skip
    md = doc.markdown()
    escaped = claim.replace("|", "\\|")  # as the markdown table writes it
    line = next(line for line in md.splitlines() if line.startswith(f"| {escaped}"))
    assert line.rstrip(" |").endswith("FAIL")


def test_two_methods_that_differ_fail_the_same_method_claim():
    cells = synthetic().replace({"method": {"a": "iadb", "b": "si-linear-simple"}})
    assert (
        verdicts(cells, GOOD)[
            "iadb and si-linear-simple (the linear interpolant, simple objective) are the same method"
        ]
        == "FAIL"
    )


class _Fig:
    """A stand-in for reports.background.Figure: its summary."""

    def __init__(self, summary_: dict) -> None:
        self.summary = summary_
