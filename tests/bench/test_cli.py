"""The command line: listing, and bad input giving one clear error line, exit 2, nothing written."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.data.datasets import DATASETS
from bench.evaluate.metrics import METRICS
from bench.nets.mlp import MLP
from bench.run.spec import parse_spec
from bench.run.training import save_checkpoint
from bench.solvers import SOLVERS
from bench.sweep import runner as sweep
from methods import METHODS


def test_list_shows_every_registered_name_one_per_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for kind, registry in (("method", METHODS), ("solver", SOLVERS), ("dataset", DATASETS), ("metric", METRICS)):
        listed = [line.split()[1] for line in lines if line.split()[0] == kind]
        assert listed == registry.names()


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "bench", "list"], capture_output=True, text=True, check=True)
    assert "iadb" in out.stdout


AXES = "[axes]\nmethods=['iadb']\ndatasets=['gauss-moons']\n"
BAD_TOML = {
    "malformed": ("name = 'x'\n[axes\n", "malformed TOML"),
    "unknown-key": ("name = 'x'\ncolour = 1\n" + AXES, "unknown key 'colour'"),
    "unknown-train-key": (
        "name = 'x'\n" + AXES + "[train]\nepochs = 3\n",
        "unknown key 'epochs'; valid keys: batch_size",
    ),
    "unknown-metric": (
        "name = 'x'\n" + AXES + "[eval]\nmetrics=['fid']\n",
        "unknown metric 'fid'; valid metrics: w2, energy",
    ),
    "zero-steps-in-toml": ("name = 'x'\n" + AXES + "steps=[0]\n", "steps must be a positive integer"),
    "float-steps": ("name = 'x'\n" + AXES + "steps=[2.5]\n", "steps must be a positive integer"),
    "zero-tol": (
        "name = 'x'\n" + AXES + "solvers=['rk45']\ntolerances=[0]\n",
        "tolerance must be a positive number",
    ),
    "repeated-method": ("name = 'x'\n[axes]\nmethods=['iadb', 'iadb']\ndatasets=['gauss-moons']\n",
                        "[axes] methods lists 'iadb' more than once"),
    "escaping-name": ("name = '../x'\n[axes]\nmethods=['iadb']\ndatasets=['gauss-moons']\n", "'name' must be"),
    "mixed-kinds": ("name = 'x'\n[axes]\nmethods=['iadb']\ndatasets=['gauss-moons', 'mnist5k']\n",
                    "one track cannot mix 2D and image datasets"),
    "image-metric-on-2d": ("name = 'x'\n" + AXES + "[eval]\nmetrics=['fd']\n",
                           "metric 'fd' does not apply to points datasets; valid: w2, energy"),
    "point-metric-on-images": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n"
                               "[tracks.m.eval]\nmetrics=['w2']\n", "metric 'w2' does not apply to images datasets"),
    "too-many-samples": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n"
                         "[tracks.m.eval]\nsamples=501\n", "more than the 500 reference images of mnist5k"),
    "bad-patch": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n[tracks.m.train]\npatch=3\n",
                  "patch 3 does not divide the image size 28 x 28; valid: 1, 2, 4, 7, 14, 28 (mnist5k)"),
    "unknown-extractor": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n"
                          "[tracks.m.eval]\nextractor='clip'\n",
                          "unknown extractor 'clip'; valid: classifier, inception"),
    "unknown-track-key": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n[tracks.m.plot]\n",
                          "unknown key 'plot'; valid keys: axes, eval, train"),
    "missing-data": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist']\n",
                     "mnist is not on this machine"),
    "inception-without-weights": ("name = 'x'\n[tracks.m.axes]\nmethods=['iadb']\ndatasets=['mnist5k']\n"
                                  "[tracks.m.eval]\nextractor='inception'\n", "pass --inception-weights PATH"),
}  # fmt: skip

BAD_ARGS = {
    "unknown-method": (["sample", "--method", "iadbx", "--dataset", "gauss-moons", "--solver", "euler"],
                       "unknown method 'iadbx'; valid methods: iadb, si-linear-simple"),
    "unknown-solver": (["sample", "--method", "iadb", "--dataset", "gauss-moons", "--solver", "rk3"],
                       "unknown solver 'rk3'; valid solvers: euler, midpoint"),
    "unknown-dataset": (["sample", "--method", "iadb", "--dataset", "moons", "--solver", "euler"],
                        "unknown dataset 'moons'; valid datasets: triangle-square"),
    "zero-steps": (["sample", "--method", "iadb", "--dataset", "gauss-moons", "--solver", "euler", "--steps", "0"],
                   "steps must be a positive integer, got '0'"),
    "fractional-steps": (["sample", "--method", "iadb", "--dataset", "gauss-moons", "--solver", "euler",
                          "--steps", "1.5"], "steps must be a positive integer, got '1.5'"),
    "negative-tol": (["sample", "--method", "iadb", "--dataset", "gauss-moons", "--solver", "rk45", "--tol", "-1"],
                     "tolerance must be a positive number"),
    "negative-seed": (
        ["train", "--method", "iadb", "--dataset", "gauss-moons", "--seed", "-1"],
        "seed must be a non-negative integer, got '-1'",
    ),
    "unknown-profile": (["sweep", "--profile", "huge"], "unknown profile 'huge'; valid profiles: smoke, quick, full"),
    "missing-spec": (["sweep", "--spec", "nowhere.toml"], "cannot read spec file nowhere.toml"),
    "unknown-executor": (["sweep", "--profile", "smoke", "--executor", "mpi"],
                         "unknown executor 'mpi'; valid executors: serial, pool, submitit-local, slurm"),
    "unknown-device": (["--device", "tpu", "sweep", "--profile", "smoke"],
                       "unknown device 'tpu'; valid devices: auto, cpu, cuda"),
}  # fmt: skip
if not torch.cuda.is_available():
    BAD_ARGS["cuda-without-gpu"] = (["--device", "cuda", "sweep", "--profile", "smoke"], "torch sees no CUDA GPU here")
FOREIGN = "name = 'x'\n" + AXES + "solvers=['euler']\nsteps=[2]\n[train]\nsteps=5\nwidth=8\ndepth=1\n"
BAD_TOML["foreign-checkpoint"] = (FOREIGN, "belongs to another spec (train key 'someone-else'")


def plant_foreign_checkpoint(results: Path) -> None:
    """A well-formed checkpoint of another training key, where the FOREIGN spec's would go."""
    (group,) = sweep.plan(parse_spec(FOREIGN, source="test"))
    net = MLP(dim=2, width=8, depth=1, time_freqs=8)
    meta = {"train_key": "someone-else", "method": "iadb", "dataset": "gauss-moons", "seed": 0, "losses": []}
    save_checkpoint(results / "x" / "checkpoints" / f"{group.train_key}.pt", net, meta)


SETUP = {"foreign-checkpoint": plant_foreign_checkpoint}
assert not set(BAD_TOML) & set(BAD_ARGS), "a case name in both tables would hide one of them"


def snapshot(folder: Path) -> dict[str, str] | None:
    """{relative path: sha256} of every file under `folder`, or None if it does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_TOML) + sorted(BAD_ARGS))
def test_bad_input_is_one_clear_error_exit_2_and_nothing_written(case, tmp_path, capsys):
    if case in BAD_TOML:
        text, message = BAD_TOML[case]
        spec = tmp_path / "spec.toml"
        spec.write_text(text)
        argv = ["sweep", "--spec", str(spec)]
    else:
        argv, message = BAD_ARGS[case]
    results = tmp_path / "results"
    if case in SETUP:
        SETUP[case](results)
    before = snapshot(results)
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["--data-root", str(tmp_path / "data"), *argv, "--results", str(results)]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert snapshot(results) == before


def test_an_inapplicable_combination_is_recorded_as_skipped(tmp_path, capsys):
    argv = ["sample", "--profile", "smoke", "--method", "ddpm", "--dataset", "triangle-square", "--solver", "euler",
            "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "needs a standard normal source" in out


def test_training_a_method_on_a_source_it_cannot_use_writes_nothing(tmp_path, capsys):
    argv = [
        "train",
        "--profile",
        "smoke",
        "--method",
        "ddpm",
        "--dataset",
        "triangle-square",
        "--results",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "ddpm needs a standard normal source" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_train_then_sample_reuses_the_checkpoint_and_records_provenance(tmp_path, capsys):
    common = ["--profile", "smoke", "--method", "iadb", "--dataset", "gauss-moons", "--results", str(tmp_path)]
    assert main(["train", *common]) == 0
    assert main(["train", *common]) == 0
    assert "already trained" in capsys.readouterr().out
    assert main(["sample", *common, "--solver", "rk4", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert " ok " in out and " 12 " in out  # rk4, 3 steps: 12 network evaluations
    records = (tmp_path / "smoke-adhoc" / "provenance.jsonl").read_text().splitlines()
    assert len(records) == 3 and all('"git_rev"' in r and '"run_id"' in r for r in records)


def test_sampling_one_image_cell_prints_its_metrics_against_the_floor(results_root, capsys):
    argv = ["sample", "--profile", "smoke", "--method", "iadb", "--dataset", "mnist5k", "--solver", "heun",
            "--steps", "2", "--results", str(results_root)]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-4:] == ["floor", "vs_floor", "status", "reason"]
    rows = [line.split() for line in lines[1:]]  # tol is blank: method dataset seed solver steps nfe metric ...
    assert [row[6] for row in rows] == ["fd", "kid", "precision", "recall", "confidence", "class_entropy"]
    fd = rows[0]
    assert fd[5] == "4" and float(fd[8]) > 0 and float(fd[9]) == pytest.approx(float(fd[7]) / float(fd[8]))


@pytest.mark.parametrize("profile", ["smoke", "quick", "full", "ci"])
def test_every_built_in_profile_loads_and_plans_what_its_file_says(profile):
    """Each profile's groups and cells, counted from its TOML read directly (method x dataset x seed
    groups; per group, its fixed-step and native solvers times the steps plus its adaptive ones times
    the tolerances), equal what the sweep plans."""
    import tomllib
    from importlib import resources

    raw = tomllib.loads(resources.files("bench").joinpath("profiles", f"{profile}.toml").read_text())
    tracks = raw.get("tracks", {"main": raw})

    def names(value, registry, kind=None):
        if value in ("all", ["all"]):
            return [n for n, item in registry.items() if kind is None or item.kind == kind]
        return value

    groups = cells = 0
    for table in tracks.values():
        axes = table["axes"]
        solvers = names(axes["solvers"], SOLVERS)
        per_group = sum(len(axes.get("tolerances", [])) if SOLVERS.get(s).kind == "adaptive" else len(axes["steps"])
                        for s in solvers)  # fmt: skip
        count = (
            len(names(axes["methods"], METHODS)) * len(names(axes["datasets"], DATASETS, "points")) * len(axes["seeds"])
        )
        groups, cells = groups + count, cells + count * per_group
    from bench.run.spec import load_profile

    planned = sweep.plan(load_profile(profile))
    assert (len(planned), sum(len(g.cells) for g in planned)) == (groups, cells) and cells > 0


def test_the_report_plot_and_classifier_commands(sweep_2d, results_root, extractor, tmp_path, capsys):
    root, spec = sweep_2d
    before = {p: p.stat().st_mtime_ns for p in (root / spec.name).rglob("*") if p.is_file()}
    assert main(["report", "--profile", spec.name, "--results", str(root), "--reports", str(tmp_path)]) == 0
    assert (tmp_path / spec.name / "index.html").exists() and (tmp_path / spec.name / "report.md").exists()
    assert main(["plot", str(root / spec.name), "--reports", str(tmp_path / "plots")]) == 0
    assert len(list((tmp_path / "plots" / spec.name).glob("*_vs_nfe.png"))) >= 2
    assert {p: p.stat().st_mtime_ns for p in (root / spec.name).rglob("*") if p.is_file()} == before  # read only
    capsys.readouterr()
    assert main(["classifier", "--dataset", "mnist5k", "--results", str(results_root)]) == 0
    out = capsys.readouterr().out
    assert f"weights sha256 {extractor.weights_hash}" in out and f"held-out accuracy {extractor.accuracy:.4f}" in out
    assert main(["report", "--profile", "nothing-here", "--results", str(root), "--reports", str(tmp_path)]) == 2


def test_the_groundtruth_command_measures_the_textbook_orders(tmp_path, capsys):
    """`groundtruth` on the smoke recipe: on the exact fields of gauss-gmm8, each solver's fitted
    convergence slope is its textbook order (Euler 1, midpoint and Heun 2, RK4 4) within 0.25."""
    import pandas as pd

    argv = ["groundtruth", "--profile", "smoke", "--results", str(tmp_path / "r"), "--reports", str(tmp_path / "p")]
    assert main(argv) == 0
    folder = tmp_path / "r" / "smoke" / "groundtruth" / "gauss-gmm8"
    slopes = pd.read_csv(folder / "slopes.csv")
    textbook = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
    assert set(slopes.field) == {"exact", "exact-trig", "exact-ddpm"} and set(slopes.solver) == set(textbook)
    assert ((slopes.slope - slopes.solver.map(textbook)).abs() < 0.25).all(), slopes
    split = pd.read_csv(folder / "w2_split.csv")
    assert set(split.method) == {"iadb"} and (split.total > 0).all()
    assert (tmp_path / "p" / "smoke" / "gauss-gmm8_groundtruth.md").exists()


def test_perf_quality_writes_each_methods_best_cell_within_its_budget(tmp_path):
    """`perf --quality`: per 2D method of the quick recipe on gauss-moons, the best cell at <= 16
    NFE, its W2 over the floor (one floor for all), and the verdict against the target 2.0."""
    import pandas as pd

    assert main(["perf", "--quality", "--results", str(tmp_path)]) == 0
    rows = pd.read_csv(tmp_path / "perf" / "quality.csv")
    assert set(rows.method) == {"iadb", "si-linear-simple", "si-linear-complex", "si-trig-simple", "si-trig-complex",
                                "ddpm"}  # fmt: skip
    assert (rows.nfe <= 16).all() and rows.floor.nunique() == 1 and (rows.target == 2.0).all()
    assert ((rows.w2 / rows.floor - rows.w2_vs_floor).abs() < 2e-3).all()  # rounded to 3 and 4 digits
    assert (rows.w2_vs_floor < 2.0).all() and (rows.verdict == "met").all()  # 1.51-1.59 measured at 06cdc94
