"""One report per sweep, `reports/<sweep>/index.html` and `report.md`, from results/<sweep>/ alone.

The HTML stands alone: every picture is a PNG beside it under a relative link, so the folder
can be copied anywhere. Sections: a header (profile, machine, library versions, revision,
wall time); the summary, which answers the harness's question with intervals over seeds (the
best cell per NFE budget, the ranking of the methods, higher-order solvers against Euler, the
background post's claims with their verdicts, the regression status: reports.summary); then per
dataset the tables and plots of the main metric, the training losses of the two interpolant
objectives, MNIST grids, 2D samples and trajectories, the background post's figures (a)-(c),
and a closing note with their measured numbers. Methods with identical results are shown once.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from reports import background, colours, overview, plots, regression, summary, tables
from reports.intervals import INTERVAL, with_interval
from reports.stamp import WORK, inputs_digest, is_current, records, working_runs


@dataclass
class Document:
    """Blocks rendered to both HTML and Markdown: ('h', level, text), ('p', text),
    ('table', DataFrame), ('img', relative path, caption)."""

    out_dir: Path
    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame, index: bool = False) -> None:
        self.blocks.append(("table", frame.reset_index() if index else frame))

    def img(self, path: Path | None, caption: str = "") -> None:
        if path is not None:
            self.blocks.append(("img", path.relative_to(self.out_dir).as_posix(), caption))

    def markdown(self) -> str:
        parts = []
        for block in self.blocks:
            if block[0] == "h":
                parts.append("#" * block[1] + " " + block[2])
            elif block[0] == "p":
                parts.append(block[1])
            elif block[0] == "table":  # a | inside a cell (E|∂I|²) would end the cell: escaped
                escaped = block[1].map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)
                parts.append(escaped.to_markdown(index=False))
            else:
                parts.append(f"![{block[2]}]({block[1]})" + (f"\n\n*{block[2]}*" if block[2] else ""))
        return "\n\n".join(parts) + "\n"

    def html(self, title: str) -> str:
        parts = []
        for block in self.blocks:
            if block[0] == "h":
                parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
            elif block[0] == "p":
                parts.append(f"<p>{html.escape(block[1])}</p>")
            elif block[0] == "table":
                parts.append(block[1].to_html(index=False, border=0, classes="t"))
            else:
                parts.append(f'<figure><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}">'
                             f"<figcaption>{html.escape(block[2])}</figcaption></figure>")  # fmt: skip
        style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
                 "table.t{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}"
                 "table.t td,table.t th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}"
                 "img{max-width:100%}figcaption{font-size:12px;color:#555}"
                 "h2{border-bottom:2px solid #ccc}")  # fmt: skip
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f'<link rel="icon" href="data:,"><style>{style}</style></head><body>\n'
                + "\n".join(parts) + "\n</body></html>\n")  # fmt: skip


def build(results: Path, out_dir: Path) -> Path:
    """Write out_dir/index.html and report.md (and their PNGs) from the sweep folder `results`.

    Does nothing when neither the results nor this code changed since the last build (a rerun
    that did no work leaves the results as they were: see `working_runs`).
    """
    results, out_dir = Path(results), Path(out_dir)
    index = out_dir / "index.html"
    stamp = out_dir / "report.sha256"
    if is_current(results, out_dir):
        return index
    digest = inputs_digest(results)
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    plots.plot_sweep(results / "cells.csv", out_dir)  # the per-method detail plots, grids and summary.md
    doc = Document(out_dir)
    cells = plots.load_cells(results / "cells.csv")
    training = pd.read_csv(results / "training.csv") if (results / "training.csv").exists() else pd.DataFrame()
    if not training.empty:  # the loss curves of the networks behind the cells (not of code since replaced)
        training = training[training.train_key.isin(cells.train_key)]
    all_figs = background.load_figures(results)
    figs = first_seed(all_figs)  # the pictures show one seed; the claims read every seed
    notes: list[str] = []
    _header(doc, results, cells)
    dups = summary.duplicates(cells)
    _summary(doc, cells, dups, all_figs, out_dir)
    regression.add_block(doc, results)
    shown = summary.collapse(cells, dups)
    hidden = {d: [f"{m} (identical to {dups.of[m]})" for m in colours.sorted_methods(set(g.method) & set(dups.of))]
              for d, g in cells.groupby("dataset")}  # fmt: skip
    _datasets(doc, shown, training, figs, out_dir, hidden)
    _images(doc, shown, results, out_dir)
    _two_d(doc, shown, figs, out_dir)
    _background(doc, cells, figs, out_dir, notes)
    doc.h(2, "Closing note")
    for note in notes or ["This sweep has none of the background post's figures (they need triangle-square)."]:
        doc.p(note)
    doc.p(f"Report built in {time.perf_counter() - start:.1f} s from {results} alone.")
    (out_dir / "report.md").write_text(doc.markdown())
    index.write_text(doc.html(f"blendbench report: {results.name}"))
    stamp.write_text(digest)
    return index


def first_seed(figs: dict[str, list[background.Figure]]) -> dict[str, list[background.Figure]]:
    """Of each kind of figure, those of the lowest seed that has one."""
    out = {}
    for kind, found in figs.items():
        lowest = min(f.record["seed"] for f in found)
        out[kind] = [f for f in found if f.record["seed"] == lowest]
    return out


def _summary(doc: Document, cells: pd.DataFrame, dups: summary.Duplicates, figs: dict, out_dir: Path) -> None:
    """The answer first: the best cell per NFE budget, rankings, solvers against Euler, the claims."""
    doc.h(2, "Summary")
    shown = summary.collapse(cells, dups)
    rows = shown[shown.method != tables.FLOOR_METHOD]
    seeds = rows.groupby("dataset").seed.nunique()
    counts = ", ".join(f"{d} {n}" for d, n in seeds.items())
    if seeds.max() > 1:
        doc.p(f"Seeds per dataset: {counts}. Every number that ranks something is the mean over seeds with its "
              f"{INTERVAL}, written value [low, high]. Scores are the main metric over the dataset's floor (1 = as "
              "close as two draws of real data); lower is better.")  # fmt: skip
    else:
        doc.p(f"One seed per cell ({counts}): no intervals anywhere in this report. Scores are the main metric over "
              "the dataset's floor (1 = as close as two draws of real data); lower is better.")  # fmt: skip
    doc.p(dups.sentence())
    tables_ = summary.budget_tables(shown)
    groups = summary.groups(shown)
    for metric, datasets in groups.items():
        label = summary.LABELS.get(metric, f"{metric} / floor")
        doc.h(3, f"The best cell within each NFE budget ({label})")
        doc.p("Per budget, the method, solver and setting with the lowest mean score among the cells that use at most "
              "that many network evaluations (a setting counts only with every seed)."
              + (f" Column '{summary.AGGREGATE}': the settings run on every one of these datasets, ranked by "
                 "rliable's interquartile mean over datasets and seeds." if len(datasets) > 1 else ""))  # fmt: skip
        doc.table(tables_[label])
    doc.h(3, "The background post's claims")
    doc.p("Each claim with its measured figure (with an interval over seeds where there is more than one), the "
          "criterion it is judged by, and the verdict. A failed claim stays in the list.")  # fmt: skip
    doc.table(pd.DataFrame([c.row() for c in summary.claims(cells, summary.figure_summaries(figs), dups)]))
    for metric, datasets in groups.items():
        label = summary.LABELS.get(metric, f"{metric} / floor")
        methods = colours.sorted_methods(set(rows[rows.dataset.isin(datasets)].method))
        _ranking(
            doc, summary.block_scores(shown, datasets, metric, methods), label, out_dir / f"report_rank_{metric}.png"
        )
    if len(groups) > 1:  # one ranking over every dataset
        # the methods of every kind of dataset, on the blocks where each of them ran
        everywhere = set.intersection(*(set(rows[rows.dataset.isin(g)].method) for g in groups.values()))
        parts = [summary.block_scores(shown, g, m, colours.sorted_methods(everywhere)) for m, g in groups.items()]
        _ranking(doc, pd.concat(parts).dropna(), "every dataset", out_dir / "report_rank_all.png")
    for metric, datasets in groups.items():
        label = summary.LABELS.get(metric, f"{metric} / floor")
        doc.h(3, f"Higher-order solvers against Euler at equal NFE ({label})")
        beats = summary.beats_euler(summary.solver_pairs(shown, datasets, metric))
        if beats.empty:
            doc.p("No solver ran at the same NFE as Euler on the same network.")
            continue
        doc.p("P(the solver's score is lower than Euler's at the same number of network evaluations, on the same "
              "network), over every such pair; the interval resamples seeds (a seed's pairs together).")  # fmt: skip
        beats["P(beats Euler)"] = [with_interval(p, lo, hi, 2) for p, lo, hi
                                   in zip(beats["P(beats Euler)"], beats.low, beats.high)]  # fmt: skip
        doc.table(beats.drop(columns=["low", "high"]))


def _ranking(doc: Document, blocks: pd.DataFrame, label: str, path: Path) -> None:
    doc.h(3, f"Ranking of the methods ({label})")
    if blocks.empty or len(blocks.columns) < 2:
        doc.p("Fewer than two methods ran on every block: nothing to rank.")
        return
    ranking = summary.rank(blocks)
    doc.p("Per (dataset, seed) block, each method's best score at any NFE, ranked (1 = best). " + ranking.sentence())
    doc.table(ranking.ranks.round(3), index=True)
    doc.img(summary.draw_ranking(ranking, f"mean rank ({label}); a bar joins methods within the critical difference",
                                 path), f"critical-difference diagram ({label})")  # fmt: skip


def command_walls(results: Path) -> list[float]:
    """The wall seconds of each command that computed something, oldest first. A command's runs
    are the run records before its command record (the runs after the last one belong to the
    command building this report); they overlap on a process pool, so a command counts its longest."""
    walls, group = [], []
    for record in [*records(results), {"record": "command"}]:
        if record.get("record") != "command":
            group.append(record)
            continue
        working = [r for r in group if any(r.get("summary", {}).get(k, 1) for k in WORK)]
        if working:
            walls.append(max(float(r.get("wall_seconds", 0)) for r in working))
        group = []
    return walls


def _header(doc: Document, results: Path, cells: pd.DataFrame) -> None:
    runs = working_runs(results)
    doc.h(1, f"blendbench report: profile {results.name}")
    last = runs[-1] if runs else {}
    revs = sorted({str(r) for r in cells.git_rev.dropna()}) if "git_rev" in cells else []
    libs = ", ".join(f"{name} {metadata.version(name)}" for name in ("pandas", "matplotlib", "seaborn"))
    walls = command_walls(results)
    wall = sum(walls)
    rows = [
        ("profile", results.name),
        ("machine", f"{last.get('device', 'unknown')}, {last.get('threads', '?')} torch threads"),
        ("libraries (runs)", f"torch {last.get('torch_version', '?')}, numpy {last.get('numpy_version', '?')}, "
                             f"python {last.get('python_version', '?')}"),
        ("libraries (report)", libs),
        ("git revision", f"last run {last.get('git_rev', '?')}; rows from {', '.join(revs) or '?'}"),
        ("wall time", f"{wall:.0f} s ({wall / 60:.1f} min) over {len(walls)} command{'' if len(walls) == 1 else 's'} "
                      "of this sweep that computed "
                      f"something (a process pool's runs overlap: a command counts its longest); the last "
                      f"{walls[-1] if walls else 0:.0f} s"),
        ("cells", f"{cells.key.nunique()} finished cells, {cells.dataset.nunique()} datasets"),
    ]  # fmt: skip
    doc.table(pd.DataFrame(rows, columns=["", "value"]))
    doc.p("Lower is better for every metric shown. A floor is the metric between two independent sets of real "
          "data of the same size: no sampler can be expected to score below it.")  # fmt: skip


def _datasets(doc: Document, cells: pd.DataFrame, training: pd.DataFrame, figs: dict, out_dir: Path,
              hidden: dict[str, list[str]]) -> None:  # fmt: skip
    floors = cells[cells.method == tables.FLOOR_METHOD].groupby(["dataset", "metric"]).value.mean()
    offsets: dict[str, dict[str, float]] = {}
    for f in figs.get("objectives", []):
        offsets.setdefault(f.record["dataset"], {})[f.record["interpolant"]] = f.summary["offset"]
    for dataset in sorted(set(cells.dataset)):
        metric = tables.main_metric(cells, dataset)
        if metric is None:
            continue
        stats = tables.over_seeds(cells, dataset, metric)
        if stats.empty:
            continue
        floor = floors.get((dataset, metric))
        doc.h(2, f"{dataset}: {metric}")
        seeds = int(stats.seeds.max())
        spread = f"mean [interval] over {seeds} seeds" if seeds > 1 else "one seed per cell: the value alone"
        floor_text = f" Floor: {floor:.3f}." if floor is not None else ""
        why = cells[(cells.method == tables.FLOOR_METHOD) & (cells.dataset == dataset)].reason.dropna().unique()
        if floor is not None and len(why) == 1 and "accuracy" in str(why[0]):  # images: the extractor's accuracy
            floor_text = f" Floor: {floor:.3f} ({why[0]})."
        same_text = f" Not shown: {', '.join(hidden[dataset])}." if hidden.get(dataset) else ""
        doc.p(f"{metric} by method × solver × setting ({spread}).{floor_text}{same_text}")
        doc.table(tables.method_solver_table(stats), index=True)
        doc.h(3, "Best cell within each NFE budget")
        doc.p("The lowest mean metric among the cells that use at most that many network evaluations.")
        doc.table(tables.best_per_budget(stats))
        stem = out_dir / f"report_{dataset}"
        doc.img(overview.metric_vs_nfe(stats, dataset, metric, floor, Path(f"{stem}_nfe.png")),
                f"{metric} vs NFE per method (best solver at each NFE), log–log")  # fmt: skip
        doc.img(overview.metric_vs_time(stats, dataset, metric, floor, Path(f"{stem}_time.png")),
                f"{metric} vs sampling wall time; ringed: the Pareto front (none both faster and better)")  # fmt: skip
        doc.img(overview.metric_vs_steps(stats, dataset, metric, floor, Path(f"{stem}_steps.png")),
                f"{metric} vs steps K, one panel per solver")  # fmt: skip
        if not training.empty and dataset in offsets:
            doc.img(overview.loss_curves(training, dataset, offsets[dataset], Path(f"{stem}_losses.png")),
                    "training losses of the simple and the complex objective; dashed: complex + E|∂I|², the "
                    "constant between them, measured by the harness from a large draw")  # fmt: skip


def _images(doc: Document, cells: pd.DataFrame, results: Path, out_dir: Path) -> None:
    image_sets = sorted(set(cells[cells.metric == "fd"].dataset))
    for dataset in image_sets:
        doc.h(2, f"{dataset}: samples")
        path = out_dir / f"report_{dataset}_grids.png"
        doc.img(background.draw_budget_grids(cells, results / "grids", dataset, path),
                "each method's best cell at a few NFE budgets")  # fmt: skip
        best = out_dir / f"{dataset}_best_grids.png"
        if best.exists():
            doc.img(best, "each method's best cell overall")


def _two_d(doc: Document, cells: pd.DataFrame, figs: dict, out_dir: Path) -> None:
    w2 = cells[cells.metric == "w2"].set_index("key").value.to_dict()
    density = {f.record["dataset"]: f for f in figs.get("density", [])}
    by_dataset: dict[str, list] = {}
    for f in figs.get("samples", []):
        if f.record["dataset"] in density and f.summary.get("missing") is None:
            by_dataset.setdefault(f.record["dataset"], []).append(f)
    for dataset, samples in sorted(by_dataset.items()):
        doc.h(2, f"{dataset}: samples and trajectories")
        doc.p("Samples are the cell's own (the same source points, solver and steps), so the W2 in each title is "
              "the cell's. Trajectories: the first points' paths from noise to data.")  # fmt: skip
        doc.img(background.draw_samples(samples, density[dataset], w2, out_dir / f"report_{dataset}_samples.png"),
                f"{dataset}: samples over the target density")  # fmt: skip
        doc.img(background.draw_samples(samples, density[dataset], w2, out_dir / f"report_{dataset}_paths.png",
                                        trajectories=True), f"{dataset}: trajectories")  # fmt: skip


def _background(doc: Document, cells: pd.DataFrame, figs: dict, out_dir: Path, notes: list[str]) -> None:
    doc.h(2, "The background post's figures")
    for f in figs.get("chain", []):
        s = f.summary
        doc.h(3, "(a) The blend–deblend chain converges as N grows")
        doc.p(f"The post's chain (deblend by rejection sampling, blend at a + 1/N) from {s['starts']} triangle "
              f"points, {s['repeats']} independent chains from each, for N in {s['steps']}. Convergence: the RMS "
              "spread of the chains' endpoints around their mean, for the same start.")  # fmt: skip
        doc.img(background.draw_chain(f, out_dir / "report_chain.png"), "(a) chains and their convergence")
        frame = pd.DataFrame({"N": s["steps"], "endpoint spread": s["endpoint_spread"],
                              "mean endpoint to N max": s["mean_endpoint_to_largest_n"]})  # fmt: skip
        if "mean_endpoint_to_ode" in s:
            frame["mean endpoint to iadb ODE"] = s["mean_endpoint_to_ode"]
        doc.table(frame.round(4))
        note = (
            f"(a) Convergence: the endpoint spread of chains from the same start falls from "
            f"{s['endpoint_spread'][0]:.3f} at N = {s['steps'][0]} to {s['endpoint_spread'][-1]:.3f} at "
            f"N = {s['steps'][-1]}, a log–log slope of {s['spread_slope']:.2f} (N^-1/2 would be -0.5)."
        )
        if "mean_endpoint_to_ode" in s:
            note += (
                f" The chains' mean endpoint lies {s['mean_endpoint_to_ode'][-1]:.3f} from the trained iadb "
                f"network's RK4 endpoint at N = {s['steps'][-1]} ({s['mean_endpoint_to_ode'][0]:.3f} at "
                f"N = {s['steps'][0]})."
            )
        notes.append(note)
    for f in figs.get("field", []):
        s = f.summary
        doc.h(3, "(b) The field D(x_1/2, 1/2): grid estimate vs the trained network")
        doc.img(background.draw_field(f, out_dir / "report_field.png"), "(b) angle maps and their difference")
        doc.table(background.field_table(f))
        if s["methods"]:
            parts = ", ".join(f"{name} {m['mean_deg']:.2f}°" for name, m in s["methods"].items())
            notes.append(f"(b) Mean angular disagreement between the grid estimate of D(x_1/2, 1/2) and the trained "
                         f"field over the {s['defined_bins']} defined bins: {parts}; the estimate's own noise (one "
                         f"half of the pairs against the other) is {s['halves_mean_deg']:.2f}°.")  # fmt: skip
    objectives = figs.get("objectives", [])
    if objectives:
        doc.h(3, "(c) The simple vs the complex objective")
        doc.p("Both objectives on one batch through one network (at initialisation and after training): they differ "
              "by the constant mean |∂I|² on the batch, so their gradients agree. Loss curves are in each dataset's "
              "section above.")  # fmt: skip
        agreement = background.objectives_table(objectives)
        doc.table(agreement)
        doc.p("Final metrics: the best cell trained with each objective.")
        doc.table(background.objectives_metrics(cells, objectives))
        cosines = [m["grad_cosine"] for f in objectives for m in f.summary["networks"].values()]
        rel = [m["grad_relative_difference"] for f in objectives for m in f.summary["networks"].values()]
        notes.append(f"(c) Gradient agreement of the simple and the complex objective over {len(cosines)} "
                     f"(dataset, interpolant, network) cases: cosine similarity ≥ {min(cosines):.9f}, relative "
                     f"difference ≤ {max(rel):.1e}.")  # fmt: skip
