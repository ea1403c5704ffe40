"""The plots and tables are made from the CSV alone, and not remade when it is unchanged; a method
has one colour in every figure, and a legend never covers the data."""

import ast
import itertools
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
from matplotlib import colors
from matplotlib import pyplot as plt

from bench.run.spec import load_profile
from bench.sweep import runner as sweep
from reports.colours import KNOWN, method_colour
from reports.overview import nfe_figure, steps_grid, time_figure
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


def toy_stats(methods: list[str]) -> pd.DataFrame:
    """tables.over_seeds' shape: every method with euler at K = 1, 2, 4; the i-th method's means
    lie in [i, i + 1), so a drawn point's height names its method."""
    rows = [{"method": method, "solver": "euler", "steps": steps, "tol": math.nan, "mean": level + 0.1 * k,
             "sd": math.nan, "seeds": 1, "nfe": float(steps), "sample_seconds": 0.001 * level * (k + 1),
             "setting": f"K={steps}"}
            for level, method in enumerate(methods, start=1) for k, steps in enumerate((1, 2, 4))]  # fmt: skip
    return pd.DataFrame(rows)


def rgb(colour) -> tuple[float, ...]:
    return tuple(round(c, 4) for c in colors.to_rgb(colour))


def line_colours(ax: plt.Axes, methods: list[str]) -> dict[str, tuple[float, ...]]:
    """{method: colour} of the lines whose every point lies in one method's band of `toy_stats`."""
    found = {}
    for line in ax.get_lines():
        levels = {math.floor(y) for y in line.get_ydata()}
        if len(levels) == 1 and 1 <= (level := levels.pop()) <= len(methods):
            found[methods[level - 1]] = rgb(line.get_color())
    return found


def point_colours(ax: plt.Axes, methods: list[str]) -> dict[str, tuple[float, ...]]:
    """{method: colour} of the filled markers, by the band of `toy_stats` each one lies in."""
    found: dict[str, set] = {}
    for points in ax.collections:
        faces = points.get_facecolors()
        if len(faces) != len(points.get_offsets()):
            continue  # the rings of the Pareto front: no face colour
        for (_, y), face in zip(points.get_offsets(), faces):
            found.setdefault(methods[math.floor(y) - 1], set()).add(rgb(face))
    assert all(len(c) == 1 for c in found.values()), found
    return {m: c.pop() for m, c in found.items()}


def test_a_method_has_the_same_colour_in_every_figure():
    everything = [*KNOWN, "my-plugin"]
    some = [*KNOWN[::-2], "another-plugin"]  # other methods, in another order: seaborn's own colours would move
    drawn = []
    fig = nfe_figure(toy_stats(everything), "toy", "w2", None)
    drawn.append((everything, line_colours(fig.axes[0], everything)))
    fig = time_figure(toy_stats(some), "toy", "w2", None)
    drawn.append((some, point_colours(fig.axes[0], some)))
    grid = steps_grid(toy_stats(some), "toy", "w2", None)
    drawn.append((some, line_colours(grid.axes.flat[0], some)))
    plt.close("all")
    for methods, found in drawn:
        assert set(found) == set(methods)
        assert found == {m: rgb(method_colour(m)) for m in methods}
    assert len({method_colour(m) for m in KNOWN}) == len(KNOWN)  # no two built-in methods share a colour


def test_an_unknown_method_keeps_its_colour_and_two_of_them_seldom_share_one():
    names = [f"plugin-{i}" for i in range(100)]
    code = f"from reports.colours import method_colour; print([tuple(method_colour(n)) for n in {names!r}])"
    for seed in ("1", "2"):  # another process, another str hash: the colour must not depend on it
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed})  # fmt: skip
        assert ast.literal_eval(out.stdout) == [tuple(method_colour(n)) for n in names]
    pairs = list(itertools.combinations(map(method_colour, names), 2))
    assert sum(a != b for a, b in pairs) / len(pairs) > 0.9  # 19 spare colours: 1 pair in 19 shares one by chance
    assert not set(map(method_colour, names)) & {method_colour(m) for m in KNOWN}
    assert method_colour("plugin-3 (weights net.pt 0123abcd)") == method_colour("plugin-3")
    assert method_colour("iadb (weights net.pt 0123abcd)") == method_colour("iadb")


@pytest.mark.parametrize("figure", [nfe_figure, time_figure, lambda *args: steps_grid(*args).figure],
                         ids=["nfe", "time", "steps"])  # fmt: skip
def test_the_legend_lies_outside_every_panel(figure):
    fig = figure(toy_stats(KNOWN[:6]), "toy", "w2", 1.5)
    fig.canvas.draw()
    legends = [legend for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if legend is not None]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    plt.close(fig)
