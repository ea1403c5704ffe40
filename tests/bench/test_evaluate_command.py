"""`python -m bench evaluate`: a network trained elsewhere (a factory and a weights file, read with
`torch.load(weights_only=True)`) measured under the requested solvers and steps, into the sweep's
own cells.csv beside the networks it trained, marked by its `weights` column, and shown in the
report as a method of its own.

The oracle: weights that are exactly a trained cell's network (its checkpoint's state dict,
saved as a plain file) give that cell's values bit for bit, since the draws are the sweep's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.nets import MLP
from bench.run import read_checkpoint

SPEC = """
name = "ext"
[axes]
methods = ["iadb", "si-linear-simple"]
datasets = ["gauss-moons"]
seeds = [0]
solvers = ["euler", "heun"]
steps = [2, 4]
[train]
steps = 40
batch_size = 64
width = 16
depth = 2
log_every = 10
[eval]
samples = 128
metrics = ["w2", "energy"]
"""


def snapshot(folder: Path) -> dict[str, str] | None:
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.fixture
def swept(tmp_path) -> tuple[Path, Path]:
    """A finished 2D sweep (its spec file, its results root)."""
    spec = tmp_path / "ext.toml"
    spec.write_text(SPEC)
    results = tmp_path / "results"
    assert main(["sweep", "--spec", str(spec), "--results", str(results), "--no-plots", "--no-figures"]) == 0
    return spec, results


def iadb_weights(results: Path, to: Path) -> Path:
    """The sweep's own iadb network, saved as a plain state dict (what a training script writes)."""
    cells = pd.read_csv(results / "ext" / "cells.csv", dtype=str, keep_default_na=False)
    (train_key,) = set(cells.train_key[cells.method == "iadb"])
    state, _meta = read_checkpoint(results / "ext" / "checkpoints" / f"{train_key}.pt")
    torch.save(state, to)
    return to


def test_weights_of_a_trained_network_give_its_cells_values_and_sit_beside_them(swept, tmp_path, capsys):
    spec, results = swept
    weights = iadb_weights(results, tmp_path / "model.pt")
    argv = ["evaluate", "--spec", str(spec), "--results", str(results), "--reports", str(tmp_path / "reports"),
            "--weights", str(weights), "--method", "iadb", "--dataset", "gauss-moons"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Summary(trained=0, loaded=1, sampled=4" in out
    cells = pd.read_csv(results / "ext" / "cells.csv", dtype=str, keep_default_na=False)
    external = cells[cells.weights != ""]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    assert set(external.weights) == {f"model.pt sha256:{digest}"} and len(external) == 8  # 2 solvers x 2 K x 2 metrics
    trained = cells[(cells.method == "iadb") & (cells.weights == "")]
    columns = ["solver", "steps", "metric"]
    pairs = external.merge(trained, on=columns, suffixes=("_ext", "_own"))
    assert len(pairs) == 8 and (pairs.value_ext == pairs.value_own).all() and (pairs.nfe_ext == pairs.nfe_own).all()
    assert (pairs.key_ext != pairs.key_own).all() and set(external.train_seconds) == {"0.0"}
    assert len(cells[cells.weights == ""]) == 2 * 8 + 2  # the sweep's own rows are all still there (+ floors)

    report = (tmp_path / "reports" / "ext" / "report.md").read_text()
    label = f"iadb (weights model.pt {digest[:8]})"
    # the same weights give bitwise-equal values: the report shows iadb once and names the others
    assert "| iadb " in report and f"{label}, si-linear-simple are shown as iadb" in report

    # a rerun is cached; other weights at the same path are other cells, labelled by their hash
    assert main(argv) == 0 and "sampled=0" in capsys.readouterr().out
    state = torch.load(weights, weights_only=True)
    torch.save({k: v * 1.01 for k, v in state.items()}, weights)
    assert main(argv) == 0 and "sampled=4" in capsys.readouterr().out
    cells = pd.read_csv(results / "ext" / "cells.csv", dtype=str, keep_default_na=False)
    assert cells.weights[cells.weights != ""].nunique() == 2


def test_solvers_steps_and_the_network_recipe_come_from_the_command_line(swept, tmp_path, capsys):
    spec, results = swept
    torch.save(MLP(dim=2, width=32, depth=3, time_freqs=8).state_dict(), tmp_path / "wide.pt")  # wider than the sweep's
    argv = ["evaluate", "--spec", str(spec), "--results", str(results), "--no-plots", "--weights",
            str(tmp_path / "wide.pt"), "--method", "iadb", "--dataset", "gauss-moons", "--solvers", "rk4", "--steps",
            "3", "--set", "width=32", "--set", "depth=3"]  # fmt: skip
    assert main(argv) == 0
    cells = pd.read_csv(results / "ext" / "cells.csv", dtype=str, keep_default_na=False)
    external = cells[cells.weights != ""]
    assert set(zip(external.solver, external.steps, external.nfe)) == {("rk4", "3", "12")}


def test_bad_weights_are_one_clear_error_exit_2_and_nothing_written(swept, tmp_path, capsys):
    spec, results = swept
    torch.save(MLP(dim=2, width=32, depth=2, time_freqs=8).state_dict(), tmp_path / "wrong-width.pt")
    torch.save(MLP(dim=2, width=16, depth=2, time_freqs=8), tmp_path / "pickled-module.pt")  # a whole module: code
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    torch.save({"step": 3}, tmp_path / "no-tensors.pt")
    # the sweep's MLP: (2 + 16 -> 16) + (16 -> 16) + (16 -> 2) weights and biases = 304 + 272 + 34 = 610 parameters
    cases = {
        "missing.pt": "weights file {path} does not exist",
        "wrong-width.pt": "weights file {path} does not fit the network MLP (610 parameters): "
        "other shapes: body.0.bias",
        "pickled-module.pt": "weights file {path} cannot be read with torch.load(weights_only=True): UnpicklingError",
        "garbage.pt": "weights file {path} cannot be read with torch.load(weights_only=True)",
        "no-tensors.pt": "weights file {path} holds no state dict (a dict of name -> tensor)",
    }
    before = snapshot(results)
    for name, message in cases.items():
        path = (tmp_path / name).resolve()
        argv = ["evaluate", "--spec", str(spec), "--results", str(results), "--weights", str(path), "--method", "iadb",
                "--dataset", "gauss-moons"]  # fmt: skip
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message.format(path=path) in err[0], (name, err)
    argv = ["evaluate", "--spec", str(spec), "--results", str(results), "--weights", str(tmp_path / "wrong-width.pt"),
            "--method", "exact", "--dataset", "gauss-moons"]  # fmt: skip
    assert main(argv) == 2
    assert "'exact' integrates a closed-form field" in capsys.readouterr().err
    assert snapshot(results) == before
