"""The plots and tables are made from the CSV alone, and not remade when it is unchanged."""

import subprocess
import sys

from bench.run.spec import load_profile
from bench.sweep import runner as sweep
from reports.plots import plot_sweep


def test_plots_and_summary_from_csv_then_cached(tmp_path):
    smoke = load_profile("smoke")
    spec = smoke.with_axes(methods=("iadb", "ddpm"), datasets=("gauss-moons",),
                               solvers=("euler", "rk4"), steps=(2, 4))  # fmt: skip
    sweep.run(spec, tmp_path / "results", progress=False)
    csv = tmp_path / "results" / "smoke" / "cells.csv"
    out = tmp_path / "reports"
    written = plot_sweep(csv, out)
    names = {p.name for p in written}
    for metric in ("w2", "energy"):
        assert {f"gauss-moons_{metric}_vs_steps.png", f"gauss-moons_{metric}_vs_nfe.png"} <= names
    summary = (out / "summary.md").read_text()
    assert "## gauss-moons: w2" in summary and "floor (two independent target draws)" in summary
    assert "K=4" in summary
    mtimes = {p: p.stat().st_mtime_ns for p in written}
    assert plot_sweep(csv, out) == written
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in written)


def test_reports_never_import_the_harness_or_the_methods():
    code = "import sys, reports.plots; print(sorted(m for m in sys.modules if m.split('.')[0] in ('bench', 'methods')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
