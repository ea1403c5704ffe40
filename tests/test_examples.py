"""The worked example in examples/, end to end, as a user runs it.

The packaged plugin is discovered through real entry-point metadata: its own pyproject.toml's
`[project.entry-points]` written as a `*.dist-info` folder (what pip writes) on the path of a
fresh process, never a mock of importlib.metadata. It passes `check`; a broken copy fails with
the named checks; it sweeps beside the built-ins with its rows and origins in cells.csv and the
report; an edit to its solver reruns only that solver's cells and an edit to its network
factory retrains every network it builds. The single-file plugin, named from its sweep file,
does the same for its method: an edit to its loss retrains exactly its networks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "blendbench-example"
SINGLE = ROOT / "examples" / "single_file"
NAMES = ["smoothstep", "ab2", "gauss-spiral", "resmlp"]


def install_metadata(site: Path) -> None:
    """The example's distribution metadata, from its pyproject.toml, in `site` (as pip installs it)."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, points in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in points.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))


def installed_copy(site: Path) -> Path:
    """A copy of the example package's source with its metadata beside it, in `site` (a folder for the path)."""
    shutil.copytree(PACKAGE / "src" / "blendbench_example", site / "blendbench_example",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    install_metadata(site)
    return site


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The example package installed, unedited (tests that edit it make their own copy)."""
    return installed_copy(tmp_path_factory.mktemp("site"))


def bench(*argv: str, site: Path | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m bench ARGV` in a fresh process, with `site` on its path (the harness from ROOT)."""
    path = [str(ROOT), *([str(site)] if site else []), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    env.pop("BLENDBENCH_NO_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "bench", *argv], cwd=cwd, env=env, capture_output=True, text=True)


def last_summary(results: Path, name: str) -> dict:
    lines = (results / name / "provenance.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "summary" in r and "spec" in r][-1]["summary"]


def counts(summary: dict) -> tuple[int, int]:
    return summary["trained"], summary["sampled"]


def cells(results: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(results / name / "cells.csv", dtype=str, keep_default_na=False)


def keys(frame: pd.DataFrame) -> dict[tuple, str]:
    return {(r.method, r.dataset, r.solver, r.steps): r.key for r in frame.itertuples() if r.method != "floor"}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} once"
    path.write_text(text.replace(old, new))


def test_the_installed_example_is_listed_and_passes_check(package):
    listed = bench("list", site=package)
    assert listed.returncode == 0, listed.stderr
    mine = [line.split()[:4] for line in listed.stdout.splitlines() if "blendbench-example" in line]
    assert mine == [[kind, name, "blendbench-example", "0.1.0"]
                    for kind, name in zip(["method", "solver", "dataset", "net"], NAMES)]  # fmt: skip
    checked = bench("check", *NAMES, site=package)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[-1] == "check: 14 passed, 0 failed, 0 skipped"
    assert "PASS solver ab2: order: observed 1.89, declared 2" in checked.stdout
    assert bench("list", "--no-plugins", site=package).stdout.count("blendbench-example") == 0


def test_a_broken_copy_of_the_example_fails_its_named_checks(tmp_path):
    site = installed_copy(tmp_path / "site")
    edit(site / "blendbench_example" / "solvers.py", 'Solver("ab2", "fixed", 2,', 'Solver("ab2", "fixed", 3,')
    edit(site / "blendbench_example" / "datasets.py", "JITTER * torch.randn(n, 2, generator=g)",
         "JITTER * torch.randn(n, 2)")  # fmt: skip
    edit(site / "blendbench_example" / "methods.py", "return broadcast(smoothstep_rate(times), x) * net(x, times)",
         "return (broadcast(smoothstep_rate(times), x) * net(x, times))[:, :1]")  # fmt: skip
    checked = bench("check", *NAMES, site=site)
    assert checked.returncode == 1
    failed = [line.split(":")[0] + ":" + line.split(":")[1] for line in checked.stdout.splitlines()
              if line.startswith("FAIL")]  # fmt: skip
    assert failed == ["FAIL method smoothstep: velocity", "FAIL solver ab2: order",
                      "FAIL dataset gauss-spiral: target determinism"]  # fmt: skip
    assert checked.stdout.splitlines()[-1] == "check: 11 passed, 3 failed, 0 skipped"


def test_the_package_sweeps_beside_the_built_ins_and_edits_rerun_exactly_their_cells(tmp_path):
    package = installed_copy(tmp_path / "site")
    results, reports = tmp_path / "results", tmp_path / "reports"
    spec = tmp_path / "sweep.toml"
    shutil.copy(PACKAGE / "sweep.toml", spec)
    run = bench("sweep", "--spec", str(spec), "--results", str(results), "--reports", str(reports), site=package)
    assert run.returncode == 0, run.stderr
    assert counts(last_summary(results, "example-package")) == (4, 24)
    rows = cells(results, "example-package")
    origin = "blendbench-example 0.1.0"
    by_method = rows[rows.method != "floor"].groupby("method").method_origin.unique().to_dict()
    assert {m: list(v) for m, v in by_method.items()} == {"iadb": ["built-in"], "smoothstep": [origin]}
    assert set(rows.solver_origin[rows.solver == "ab2"]) == {origin}
    assert set(rows.dataset_origin[rows.dataset == "gauss-spiral"]) == {origin}
    trained = rows[rows.method != "floor"]
    assert set(zip(trained.net, trained.net_origin)) == {("resmlp", origin)} and set(trained.weights) == {""}
    ab2 = rows[rows.solver == "ab2"]
    assert (ab2.nfe.astype(int) == ab2.steps.astype(int) + 1).all()  # K steps: K + 1 evaluations (Heun first)
    report = (reports / "example-package" / "report.md").read_text()
    assert "## gauss-spiral: w2" in report and "| smoothstep | ab2" in report

    before = keys(cells(results, "example-package"))
    quiet = ("--no-plots", "--no-figures")
    edit(package / "blendbench_example" / "solvers.py", "x_next = x + h * ((1 + r / 2) * f - (r / 2) * f_prev)",
         "x_next = x + h * ((2 + r) * f - r * f_prev) / 2")  # the same scheme, written otherwise: new code  # fmt: skip
    assert bench("sweep", "--spec", str(spec), "--results", str(results), *quiet, site=package).returncode == 0
    assert counts(last_summary(results, "example-package")) == (0, 8)  # ab2's cells: 2 methods x 2 datasets x 2 K
    after = keys(cells(results, "example-package"))
    assert {k for k in before if after[k] != before[k]} == {k for k in before if k[2] == "ab2"}

    edit(
        package / "blendbench_example" / "nets.py",
        "nn.Linear(width, width), nn.SiLU()",
        "nn.Linear(width, width), nn.GELU()",
    )
    assert bench("sweep", "--spec", str(spec), "--results", str(results), *quiet, site=package).returncode == 0
    assert counts(last_summary(results, "example-package")) == (4, 24)  # every network is a resmlp


def test_the_single_file_plugin_from_its_sweep_file_and_an_edit_to_its_loss(tmp_path, package):
    folder = tmp_path / "study"
    shutil.copytree(SINGLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    results = tmp_path / "results"
    args = ("sweep", "--spec", "sweep.toml", "--results", str(results), "--no-plots", "--no-figures")
    run = bench(*args, cwd=folder)
    assert run.returncode == 0, run.stderr
    assert counts(last_summary(results, "example-single-file")) == (6, 24)
    rows = cells(results, "example-single-file")
    assert set(rows.method_origin[rows.method == "smoothstep"]) == {f"file {folder / 'smoothstep.py'}"}
    assert set(zip(rows.net, rows.net_origin)) == {("mlp", "built-in"), ("", "")}  # the floors have no network
    before = keys(rows)

    edit(folder / "smoothstep.py", "return (net(x_t, t) - (x1 - x0)).square().mean()",
         "return (net(x_t, t) - (x1 - x0)).square().sum(1).mean() / x0.shape[1]")  # fmt: skip
    assert bench(*args, cwd=folder).returncode == 0
    assert counts(last_summary(results, "example-single-file")) == (2, 8)  # smoothstep on 2 datasets, 2 x 2 cells
    after = keys(cells(results, "example-single-file"))
    assert {k for k in before if after[k] != before[k]} == {k for k in before if k[0] == "smoothstep"}

    edit(folder / "smoothstep.py", "Edit it and rerun the sweep", "Edit it, then rerun the sweep")  # a docstring
    assert bench(*args, cwd=folder).returncode == 0
    assert counts(last_summary(results, "example-single-file")) == (0, 0)

    # the same method installed as a package and named as a file: one name, two plugins, refused
    clash = bench(*args, site=package, cwd=folder)
    assert clash.returncode == 2 and clash.stderr.strip() == (
        f"error: plugin {folder / 'smoothstep.py'}: method 'smoothstep' already exists (blendbench-example 0.1.0)"
    )


TIMINGS = ["run_id", "train_seconds", "sample_seconds", "samples_per_second", "train_peak_mb", "sample_peak_mb"]


def test_pool_workers_load_the_plugins_their_caller_loaded(tmp_path, package):
    """Workers are spawned: each loads the caller's plugin file and installed plugins itself, and
    the rows are the serial run's."""
    folder = tmp_path / "study"
    shutil.copytree(SINGLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = folder / "sweep.toml"
    for old, new in (('name: str = "smoothstep"', 'name: str = "smoothstep-file"'),
                     ('METHODS = {"smoothstep":', 'METHODS = {"smoothstep-file":')):  # fmt: skip
        edit(folder / "smoothstep.py", old, new)  # beside the installed smoothstep, under another name
    edit(spec, 'methods = ["iadb", "si-linear-simple", "smoothstep"]', 'methods = ["smoothstep", "smoothstep-file"]')
    edit(spec, 'solvers = ["euler", "heun"]', 'solvers = ["euler", "ab2"]')
    frames = []
    for name, options in (("serial", ()), ("pool", ("--executor", "pool", "--workers", "2", "--worker-threads", "1"))):
        results = tmp_path / name
        run = bench("--threads", "1", "sweep", "--spec", "sweep.toml", "--results", str(results), "--no-plots",
                    "--no-figures", *options,
                    site=package, cwd=folder)  # fmt: skip
        assert run.returncode == 0, run.stderr
        frames.append(cells(results, "example-single-file").drop(columns=TIMINGS).sort_values(["key", "metric"]))
    assert len(frames[0]) == 36 and set(frames[0].solver_origin[frames[0].solver == "ab2"]) == {
        "blendbench-example 0.1.0"
    }
    pd.testing.assert_frame_equal(frames[0].reset_index(drop=True), frames[1].reset_index(drop=True))


def test_the_example_builds_as_a_wheel_whose_entry_points_are_found(tmp_path):
    """The package as pip builds it (setuptools, offline): its wheel's own entry_points.txt and its
    data file, unpacked into a folder on the path, are what `list` and `check` find."""
    source = tmp_path / "source"  # setuptools writes build/ and *.egg-info beside the sources: a copy's
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            str(source), "-w", str(tmp_path / "wheel")], capture_output=True, text=True)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("blendbench_example-0.1.0-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    assert (site / "blendbench_example" / "spiral.csv").exists()
    listed = bench("list", site=site).stdout
    assert [line.split()[:3] for line in listed.splitlines() if "blendbench-example" in line] == [
        ["method", "smoothstep", "blendbench-example"], ["solver", "ab2", "blendbench-example"],
        ["dataset", "gauss-spiral", "blendbench-example"], ["net", "resmlp", "blendbench-example"]]  # fmt: skip
    checked = bench("check", "gauss-spiral", site=site)
    assert checked.returncode == 0 and checked.stdout.splitlines()[-1] == "check: 6 passed, 0 failed, 0 skipped"


def test_the_own_data_example_writes_its_files_and_its_sweep_file_is_valid(tmp_path):
    """examples/own_data: make_data.py writes the two files its sweep.toml names, split as its comments say."""
    from bench import plugins
    from bench.data import DATASETS, load_splits
    from bench.run import load_spec

    shutil.copy(ROOT / "examples" / "own_data" / "sweep.toml", tmp_path / "sweep.toml")
    subprocess.run([sys.executable, str(ROOT / "examples" / "own_data" / "make_data.py"), str(tmp_path / "data")],
                   check=True)  # fmt: skip
    with plugins.isolated():
        spec = load_spec(tmp_path / "sweep.toml")
        assert [t.axes.datasets for t in spec.tracks] == [("cloud5",), ("shapes",)]
        cloud5 = DATASETS.get("cloud5")
        assert cloud5.dims == (5,) and cloud5.reference_size == 600 and len(cloud5.fixed("heldout")) == 600
        shapes = load_splits("shapes")
        assert (len(shapes.train), len(shapes.reference), len(shapes.heldout)) == (1200, 400, 400)
        assert shapes.shape == (3, 32, 32) and shapes.classes == 4
