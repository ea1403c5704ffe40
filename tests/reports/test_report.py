"""The report: built from results alone, every section filled, standing alone, and not rebuilt
when nothing changed; for a 2D-only sweep with two seeds and an image-only sweep with one."""

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from reports import tables
from reports.report import build


def images_of(index):
    return re.findall(r'<img src="([^"]+)"', index.read_text())


@pytest.fixture(scope="module")
def report_2d(sweep_2d, tmp_path_factory):
    root, spec = sweep_2d
    out = tmp_path_factory.mktemp("reports") / spec.name
    return build(root / spec.name, out), root / spec.name


def test_2d_report_has_every_section(report_2d):
    index, results = report_2d
    text = index.read_text()
    md = (index.parent / "report.md").read_text()
    for heading in ("triangle-square: w2", "gauss-moons: w2", "Best cell within each NFE budget",
                    "gauss-moons: samples and trajectories", "(a) The blend", "(b) The field", "(c) The simple",
                    "Closing note"):  # fmt: skip
        assert heading in text and heading in md, heading
    for header in ("profile", "machine", "libraries (runs)", "git revision", "wall time"):
        assert f"<td>{header}</td>" in text, header
    assert (
        re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", text) and "mean [interval] over 2 seeds" in text
    )  # two seeds
    assert re.search(r"\(b\) Mean angular disagreement .* iadb \d+\.\d\d°", text)
    assert re.search(r"\(a\) Convergence: .* slope of -?\d+\.\d\d", text)
    names = {src.split("/")[-1] for src in images_of(index)}
    for dataset in ("triangle-square", "gauss-moons"):
        for kind in ("nfe", "time", "steps", "losses"):
            assert f"report_{dataset}_{kind}.png" in names, (dataset, kind)
    assert {"report_chain.png", "report_field.png", "report_gauss-moons_samples.png",
            "report_gauss-moons_paths.png"} <= names  # fmt: skip


def test_report_stands_alone(report_2d, tmp_path):
    index, _ = report_2d
    copy = tmp_path / "elsewhere"
    shutil.copytree(index.parent, copy)
    for src in images_of(copy / "index.html"):
        assert not src.startswith(("/", "file:", "http")), src
        assert (copy / src).is_file(), src


def test_rebuild_with_nothing_changed_writes_nothing(report_2d):
    index, results = report_2d
    before = {p: p.stat().st_mtime_ns for p in index.parent.rglob("*") if p.is_file()}
    assert build(results, index.parent) == index
    assert {p: p.stat().st_mtime_ns for p in index.parent.rglob("*") if p.is_file()} == before


def test_image_only_report_with_one_seed(sweep_images, tmp_path):
    root, spec = sweep_images
    index = build(root / spec.name, tmp_path / spec.name)
    text = index.read_text()
    assert (
        "mnist5k: fd" in text
        and "one seed per cell: the value alone" in text
        and " [" not in text.split("mnist5k: fd")[1].split("</table>")[0]
    )
    assert "One seed per cell (mnist5k 1): no intervals anywhere in this report." in text  # said once, at the top
    assert "mnist5k: samples" in text and "(c) The simple" in text
    assert "(a) The blend" not in text and "samples and trajectories" not in text
    names = {src.split("/")[-1] for src in images_of(index)}
    assert {"report_mnist5k_grids.png", "report_mnist5k_losses.png", "report_mnist5k_nfe.png"} <= names
    assert all((index.parent / src).is_file() for src in images_of(index))


def test_best_per_budget_and_pareto_front_against_a_direct_reading():
    stats = pd.DataFrame({
        "method": ["a", "a", "b", "b"], "solver": ["euler", "rk4", "euler", "euler"], "steps": [1, 1, 2, 8],
        "tol": [None] * 4, "mean": [0.9, 0.5, 0.7, 0.2], "sd": [None] * 4, "low": [float("nan")] * 4,
        "high": [float("nan")] * 4, "seeds": [1] * 4,
        "nfe": [1.0, 4.0, 2.0, 8.0], "sample_seconds": [0.1, 0.4, 0.1, 0.8], "setting": ["K=1", "K=1", "K=2", "K=8"],
    })  # fmt: skip
    best = tables.best_per_budget(stats)
    assert list(best["NFE budget"]) == [1, 2, 4, 8]
    assert list(best.value) == ["0.900", "0.700", "0.500", "0.200"]
    front = tables.pareto_front(stats.sample_seconds, stats["mean"])
    assert list(front) == [False, True, True, True]  # (0.1, 0.9) is beaten by (0.1, 0.7)


def test_report_never_imports_the_harness_or_the_methods():
    code = (
        "import sys, reports.report; print(sorted(m for m in sys.modules if m.split('.')[0] in ('bench', 'methods')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_rerun_that_does_no_work_leaves_the_report_current(report_2d, sweep_2d, tmp_path):
    """A warm rerun appends its provenance record but changes nothing the report shows: no rebuild."""
    from bench.sweep import runner as sweep
    from reports.report import is_current

    index, results = report_2d
    _, spec = sweep_2d
    root = tmp_path / "results"
    shutil.copytree(results, root / spec.name)
    report = tmp_path / "reports" / spec.name
    shutil.copytree(index.parent, report)
    again = sweep.run(spec, root, progress=False)
    assert (again.trained, again.loaded, again.sampled, again.figures) == (0, 0, 0, 0)
    assert is_current(root / spec.name, report)
    before = {p: p.stat().st_mtime_ns for p in report.rglob("*") if p.is_file()}
    assert build(root / spec.name, report) == report / "index.html"
    assert {p: p.stat().st_mtime_ns for p in report.rglob("*") if p.is_file()} == before
    training = root / spec.name / "training.csv"
    training.write_text(training.read_text() + "\n")  # a changed input: rebuilt
    assert not is_current(root / spec.name, report)


def md_table_after(md: str, heading: str, occurrence: int = 0) -> pd.DataFrame:
    """The first markdown table after the `occurrence`-th line equal to `heading`, as strings."""
    lines = md.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    i = starts[occurrence] + 1
    while not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", lines[i].strip()[1:-1])])
        i += 1
    return pd.DataFrame(rows[2:], columns=rows[0])  # rows[1] is the |---| line


def test_the_reports_numbers_are_those_of_cells_csv(report_2d):
    """gauss-moons' floor, and its best cell within each NFE budget, read from report.md, equal a
    direct computation from cells.csv: the mean over seeds of each cell's w2 and its interval (with
    two seeds, the 95 % percentile bootstrap interval of the mean is the two values' range: each of
    the four resamples has probability 1/4 > 2.5 %), the lowest mean among the cells using at most
    that many evaluations."""
    index, results = report_2d
    md = (index.parent / "report.md").read_text()
    cells = pd.read_csv(results / "cells.csv", keep_default_na=False)
    rows = cells[(cells.dataset == "gauss-moons") & (cells.metric == "w2") & (cells.status == "ok")]
    floor = rows[rows.method == "floor"].value.astype(float).mean()
    assert (
        f"## gauss-moons: w2\n\nw2 by method × solver × setting (mean [interval] over 2 seeds). Floor: {floor:.3f}."
        in md
    )
    runs = rows[rows.method != "floor"].assign(value=lambda f: f.value.astype(float), nfe=lambda f: f.nfe.astype(float))
    stats = runs.groupby(["method", "solver", "steps", "tol"]).agg(
        mean=("value", "mean"), low=("value", "min"), high=("value", "max"), nfe=("nfe", "mean")
    )
    stats = stats.reset_index()
    shown = md_table_after(md, "### Best cell within each NFE budget", occurrence=0)  # gauss-moons: first by name
    assert len(shown) >= 3
    for row in shown.itertuples():
        budget = float(row[1])
        within = stats[stats.nfe <= budget]
        if within.empty:
            assert row.value == "nothing within this budget"
            continue
        best = within.loc[within["mean"].idxmin()]
        assert (row.method, row.solver, float(row.NFE)) == (best.method, best.solver, best.nfe)
        assert row.value == f"{best['mean']:.3f} [{best.low:.3f}, {best.high:.3f}]"


def test_the_summary_of_a_real_sweep_equals_a_direct_computation(report_2d):
    """The summary's best cell per NFE budget on gauss-moons, read from report.md, against cells.csv
    read by hand: w2 over the same seed's floor, the mean over the two seeds, the lowest mean within
    the budget, and its interval (two seeds: their range)."""
    index, results = report_2d
    md = (index.parent / "report.md").read_text()
    cells = pd.read_csv(results / "cells.csv")
    rows = cells[(cells.dataset == "gauss-moons") & (cells.metric == "w2") & (cells.status == "ok")]
    floor = rows[rows.method == "floor"].set_index("seed").value
    runs = rows[rows.method.isin(["iadb", "ddpm"])].copy()  # si-linear-* equal iadb: shown as iadb
    runs["score"] = runs.value / runs.seed.map(floor)
    setting = ["method", "solver", "steps", "tol"]
    stats = runs.groupby(setting, dropna=False).agg(score=("score", "mean"), low=("score", "min"),
                                                    high=("score", "max"), nfe=("nfe", "mean"))  # fmt: skip
    stats = stats.reset_index()
    shown = md_table_after(md, "### The best cell within each NFE budget (2D datasets, W2 / floor)")
    assert len(shown) >= 3
    for _, row in shown.iterrows():
        within = stats[stats.nfe <= float(row["NFE ≤"])]
        best = within.loc[within.score.idxmin()]
        setting_text = f"K={int(best.steps)}" if pd.notna(best.steps) else f"tol={best.tol:g}"
        want = (f"{best.method} · {best.solver} {setting_text} (NFE {best.nfe:g}): "
                f"{best.score:.3f} [{best.low:.3f}, {best.high:.3f}]")  # fmt: skip
        assert row["gauss-moons"] == want


def test_identical_methods_are_shown_once_in_a_real_sweep(report_2d):
    """iadb, si-linear-simple and si-linear-complex train to the same weights: the page shows iadb
    and names the other two; ddpm, which differs, stays; cells.csv keeps all four."""
    index, results = report_2d
    md = (index.parent / "report.md").read_text()
    assert "si-linear-simple, si-linear-complex are shown as iadb" in md
    section = md.split("## gauss-moons: w2")[1].split("\n## ")[0]
    assert "Not shown: si-linear-simple (identical to iadb), si-linear-complex (identical to iadb)." in section
    methods = {line.split("|")[1].strip() for line in section.split("### Best cell")[0].splitlines()
               if line.startswith("|")} - {"method", ""}  # fmt: skip
    assert {m for m in methods if not m.startswith(":")} == {"iadb", "ddpm"}
    assert {"iadb", "si-linear-simple", "si-linear-complex", "ddpm"} <= set(pd.read_csv(results / "cells.csv").method)
    claims = md_table_after(md, "### The background post's claims")
    assert set(claims.verdict) <= {"pass", "FAIL", "not measured"} and len(claims) == 6


def test_the_header_counts_a_pools_overlapping_runs_once(tmp_path):
    """Two pool workers of one command ran 638 s side by side: the command took 638 s, not 1,276;
    a warm rerun (nothing computed) does not count; the runs after the last command record are the
    command now building the report."""
    import json

    from reports.report import command_walls

    work = {"trained": 1}
    lines = [{"wall_seconds": 7.6, "summary": work}, {"wall_seconds": 638.4, "summary": work},
             {"wall_seconds": 638.6, "summary": work}, {"record": "command", "wall_seconds": 679.1},
             {"wall_seconds": 7.2, "summary": {"trained": 0, "loaded": 0, "sampled": 0, "skipped": 0, "failed": 0,
                                               "references": 0, "figures": 0}},
             {"record": "command", "wall_seconds": 7.0}, {"wall_seconds": 12.5, "summary": work}]  # fmt: skip
    (tmp_path / "provenance.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert command_walls(tmp_path) == [638.6, 12.5]
