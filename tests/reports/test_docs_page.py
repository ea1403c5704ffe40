"""`python -m bench docs`: docs/results.md and the README's pictures, written from a results folder
and its report, with numbers equal to a direct computation from cells.csv."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reports import docs
from reports.report import build


@pytest.fixture(scope="module")
def page_2d(sweep_2d, tmp_path_factory):
    root, spec = sweep_2d
    out = tmp_path_factory.mktemp("reports") / spec.name
    build(root / spec.name, out)
    perf = tmp_path_factory.mktemp("perf")
    pd.DataFrame([
        {"benchmark": "sample-mlp", "harness_s": 1.0, "reference_s": 1.0, "ratio": 1.5, "ratio_ci95": "1.4-1.6",
         "repeats": 21, "target": 1.03, "verdict": "FAIL", "git_rev": "old"},
        {"benchmark": "sample-mlp", "harness_s": 1.0, "reference_s": 1.0, "ratio": 1.011, "ratio_ci95": "1.005-1.02",
         "repeats": 21, "target": 1.03, "verdict": "ok", "git_rev": "new"},
    ]).to_csv(perf / "perf.csv", index=False)  # fmt: skip
    pd.DataFrame([
        {"network": "mlp", "what": "old", "flops_per_step": 1, "step_seconds": 1.0, "achieved_gflops": 1.0,
         "peak_gflops": 100.0, "ratio": 0.0111, "threads": 2, "git_rev": "old"},
        {"network": "mlp", "what": "new", "flops_per_step": 2, "step_seconds": 1.0, "achieved_gflops": 2.0,
         "peak_gflops": 100.0, "ratio": 0.0222, "threads": 2, "git_rev": "new"},
    ]).to_csv(perf / "throughput.csv", index=False)  # fmt: skip
    pd.DataFrame([
        {"candidate": "unet-compile", "per": "32 vs 32 samples", "eager_s": 1.0, "candidate_s": 1.0, "speedup": 0.777,
         "speedup_ci95": "0.7-0.8", "first_call_s": 40.0, "threads": 2, "git_rev": "old"},
        {"candidate": "unet-compile", "per": "32 vs 32 samples", "eager_s": 1.0, "candidate_s": 1.0, "speedup": 1.234,
         "speedup_ci95": "1.2-1.3", "first_call_s": 40.0, "threads": 2, "git_rev": "new"},
    ]).to_csv(perf / "speedups.csv", index=False)  # fmt: skip
    target = tmp_path_factory.mktemp("docs")
    written = docs.write(root / spec.name, out, target, perf)
    return target, written, root / spec.name, out


def best_by_hand(cells: pd.DataFrame, dataset: str, budget: int) -> tuple[set, float]:
    """The lowest mean W2 over seeds among the settings whose mean NFE is at most `budget`, and the
    (method, solver) pairs that reach it (methods that train to the same network tie)."""
    rows = cells[(cells.dataset == dataset) & (cells.metric == "w2") & (cells.method != "floor")
                 & (cells.status == "ok")]  # fmt: skip
    means = rows.groupby(["method", "solver", "steps", "tol"], dropna=False).agg(w2=("value", "mean"),
                                                                                nfe=("nfe", "mean"))  # fmt: skip
    within = means[means.nfe <= budget]
    best = within.w2.min()
    return {(m, s) for (m, s, _, _) in within.index[within.w2 == best]}, best


def test_results_page_shows_the_best_cell_per_budget_as_computed_from_cells_csv(page_2d):
    target, _, results, _ = page_2d
    text = (target / "results.md").read_text()
    cells = pd.read_csv(results / "cells.csv")
    assert text.startswith(docs.MARK)
    for rev in set(cells.git_rev):
        assert f"`{rev}`" in text
    section = text.split("## gauss-moons: best w2 within each NFE budget")[1].split("\n## ")[0]
    table = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("|")][2:]
    assert len(table) >= 3
    for budget, method, solver, _, _, value in (map(str.strip, row) for row in table):
        argmins, want = best_by_hand(cells, "gauss-moons", int(budget))
        assert (method, solver) in argmins, budget
        assert float(value.split(" [")[0]) == pytest.approx(want, abs=5e-4)
    assert "mean over 2 seeds [its 95 % percentile bootstrap interval" in section


def test_results_page_keeps_the_last_perf_row_of_each_benchmark(page_2d):
    text = (page_2d[0] / "results.md").read_text()
    # Only the perf sections: the runs table above them holds wall times, and a run of 1.5 s is real.
    costs = text.split("## What the harness costs")[1].split("\n## ")[0]
    rows = [line for line in costs.splitlines() if line.startswith("| sample-mlp")]
    assert len(rows) == 1 and "1.011" in rows[0] and "1.5 " not in rows[0] and "FAIL" not in costs
    section = text.split("## A training step against the machine's peak")[1].split("\n## ")[0]
    assert "0.0222" in section and "0.0111" not in section
    section = text.split("## Faster training steps")[1].split("\n## ")[0]
    assert "1.234" in section and "0.777" not in section


def test_pictures_are_the_reports_own_with_a_label_strip_under_them(page_2d):
    target, written, _, out = page_2d
    picture = target / "images" / "small2d-gauss-moons_nfe.png"
    assert picture in written
    with Image.open(out / "report_gauss-moons_nfe.png") as source, Image.open(picture) as copy:
        source, copy = np.asarray(source.convert("RGB")), np.asarray(copy.convert("RGB"))
    assert copy.shape[0] == source.shape[0] + 18 and copy.shape[1] == source.shape[1]
    assert np.array_equal(copy[: source.shape[0]], source)
    assert (copy[source.shape[0] :] < 200).any()  # the label's text is drawn in the strip
    assert "![gauss-moons](images/small2d-gauss-moons_nfe.png)" in (target / "results.md").read_text()


def test_the_command_refuses_a_sweep_that_has_not_run(tmp_path):
    argv = [sys.executable, "-m", "bench", "docs", "--profile", "nosuch", "--results", str(tmp_path / "results"),
            "--docs", str(tmp_path / "docs")]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: no results in") and "python -m bench sweep --profile nosuch" in done.stderr
    assert not (tmp_path / "docs").exists()


def test_results_page_shows_each_image_methods_best_cell_with_its_metrics_from_cells_csv(sweep_images, tmp_path):
    """The image track's table: per method the lowest FD over its cells, and that cell's confidence
    and class entropy / log 10, read back from the page against cells.csv directly."""
    root, spec = sweep_images
    out = tmp_path / "reports"
    build(root / spec.name, out)
    docs.write(root / spec.name, out, tmp_path / "docs")
    text = (tmp_path / "docs" / "results.md").read_text()
    section = text.split("## mnist5k: each method's best cell")[1].split("\n## ")[0]
    header, _, *rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line[:1] == "|"]
    cells = pd.read_csv(root / spec.name / "cells.csv")
    fd = cells[(cells.metric == "fd") & (cells.method != "floor") & (cells.status == "ok")]
    assert sorted(r[header.index("method")] for r in rows) == sorted(set(fd.method))
    for row in rows:
        mine = fd[fd.method == row[header.index("method")]]
        best = mine.loc[mine.value.idxmin()]
        assert float(row[header.index("FD")]) == pytest.approx(best.value, abs=0.005)
        of_best = cells[cells.key == best.key].set_index("metric").value
        assert float(row[header.index("confidence")]) == pytest.approx(of_best["confidence"], abs=5e-4)
        entropy = float(row[header.index("class entropy / log 10")])
        assert entropy == pytest.approx(of_best["class_entropy"] / np.log(10), abs=5e-4)
