"""Results keyed by the code that made them (bench.sweep.keys): an edit to a method's loss
retrains that method and reruns its cells, an edit to a solver reruns that solver's cells, and
nothing else is recomputed; changing the code back recomputes nothing; a folder written before
keys held the code is read and its cells computed again.

The edits are made to a copy of the package in a temporary folder, and each sweep runs in a
fresh process on that copy, as a researcher's edit-and-rerun does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.run.spec import parse_spec
from bench.store.results import CODE_COLUMNS, ResultStore
from bench.sweep import runner as sweep

ROOT = Path(__file__).resolve().parents[3]
SPEC = """
name = "codekeys"
[axes]
methods = ["iadb", "si-linear-simple", "ddpm"]
datasets = ["gauss-moons"]
seeds = [0]
solvers = ["euler", "heun"]
steps = [2, 4]
[train]
steps = 30
batch_size = 64
width = 16
depth = 2
log_every = 10
[eval]
samples = 100
metrics = ["w2"]
"""
IADB_TARGET = "return (net(x_a, t) - (x1 - x0)).square().mean()"
HEUN_STEP = "x = x + 0.5 * h * (k1 + k2)  # average of the two"


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The packages copied to a folder of their own, with the spec file beside them."""
    folder = tmp_path_factory.mktemp("checkout")
    for package in ("bench", "methods"):
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "codekeys.toml").write_text(SPEC)
    return folder


def edit(copy: Path, path: str, old: str, new: str) -> None:
    file = copy / path
    text = file.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} once"
    file.write_text(text.replace(old, new))


def sweep_copy(copy: Path) -> dict:
    """Run the spec on the copy in a new process; the run's summary, from its provenance record."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    subprocess.run([sys.executable, "-m", "bench", "sweep", "--spec", "codekeys.toml", "--results", "results",
                    "--no-plots", "--no-figures"], cwd=copy, env=env, check=True, capture_output=True)  # fmt: skip
    lines = (copy / "results" / "codekeys" / "provenance.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [r for r in records if "summary" in r and "spec" in r][-1]["summary"]


def cells(copy: Path, name: str = "cells.csv") -> pd.DataFrame:
    path = copy / "results" / "codekeys" / name
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else pd.DataFrame()


def keyed(frame: pd.DataFrame) -> dict[tuple, str]:
    """{(method, solver, steps): key} of the cells."""
    return {(r.method, r.solver, r.steps): r.key for r in frame.itertuples()}


def test_an_edit_recomputes_exactly_what_depends_on_it(copy):
    first = sweep_copy(copy)
    assert (first["trained"], first["sampled"], first["references"]) == (3, 12, 1)
    before = keyed(cells(copy))

    edit(copy, "methods/interpolants.py", IADB_TARGET, IADB_TARGET.replace("(x1 - x0)", "2 * (x1 - x0)"))
    after_loss = sweep_copy(copy)
    assert (after_loss["trained"], after_loss["sampled"], after_loss["already_done"]) == (1, 4, 8 + 1)  # + floor
    now = keyed(cells(copy))
    changed = {k for k in before if now[k] != before[k]}
    assert changed == {k for k in before if k[0] == "iadb"}
    assert set(keyed(cells(copy, "superseded.csv")).values()) == {before[k] for k in changed}
    current = cells(copy)
    assert len(current) == 13 and current.config_key.ne("").all()  # one row per cell and metric, no stale ones

    edit(copy, "bench/solvers.py", HEUN_STEP, "x = x + h * (k1 + k2) / 2")
    after_solver = sweep_copy(copy)
    assert (after_solver["trained"], after_solver["sampled"]) == (0, 6)  # heun's cells of the three methods
    again = keyed(cells(copy))
    assert {k for k in now if again[k] != now[k]} == {k for k in now if k[1] == "heun"}

    # no code changes: a comment, a docstring, and code no 2D cell uses (the image metrics)
    edit(copy, "methods/interpolants.py", "    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:\n"
         "        return net(x, expand_time(t, x))\n\n\ndef register", "    def velocity(self, net: Net, x: Tensor, "
         "t: float) -> Tensor:\n        # the learned field is the velocity\n        return net(x, expand_time(t, x))"
         "\n\n\ndef register")  # fmt: skip
    edit(copy, "bench/solvers.py", '"""Forward Euler, order 1."""', '"""Forward Euler (order 1)."""')
    edit(copy, "bench/evaluate/fidelity.py", "\nimport hashlib\n", "\nimport hashlib\n\nUNUSED_BY_POINTS = 1\n")
    unrelated = sweep_copy(copy)
    assert (unrelated["trained"], unrelated["sampled"]) == (0, 0)

    # the code changed back: its results are on disk, moved back rather than recomputed
    edit(copy, "methods/interpolants.py", IADB_TARGET.replace("(x1 - x0)", "2 * (x1 - x0)"), IADB_TARGET)
    edit(copy, "bench/solvers.py", "x = x + h * (k1 + k2) / 2", HEUN_STEP)
    reverted = sweep_copy(copy)
    assert (reverted["trained"], reverted["sampled"]) == (0, 0)
    assert keyed(cells(copy)) == before
    rows = cells(copy)
    assert set(rows.method_origin[rows.method != "floor"]) == {"built-in"}
    assert rows.method_code[rows.method == "iadb"].nunique() == 1 and rows.solver_code.ne("").sum() == 12


def test_a_folder_written_before_keys_held_code_is_read_and_recomputed(tmp_path):
    spec = parse_spec(SPEC)
    sweep.run(spec, tmp_path, progress=False, make_figures=False)
    folder = tmp_path / "codekeys"
    new = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
    # the layout of the earlier version: no code columns (nor the net columns, added later), and each key
    # what the config key is now
    old = new.assign(key=new.config_key).drop(columns=[*CODE_COLUMNS, "weights", "net", "net_origin"])
    old.to_csv(folder / "cells.csv", index=False)
    shutil.rmtree(folder / "checkpoints")  # an earlier version's checkpoints have other names
    ResultStore(folder)  # opens it: the same rows in the new layout, the new columns blank
    migrated = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
    assert list(migrated.columns[: len(new.columns)]) == list(new.columns) and len(migrated) == len(old)
    assert (migrated.config_key == "").all() and (migrated.key == old.key).all()
    summary = sweep.run(spec, tmp_path, progress=False, make_figures=False)
    assert (summary.trained, summary.sampled, summary.references) == (3, 12, 1)
    superseded = pd.read_csv(folder / "superseded.csv", dtype=str, keep_default_na=False)
    assert sorted(superseded.key) == sorted(old.key)  # nothing lost: the old rows are kept aside
    current = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
    assert sorted(current.key) == sorted(new.key) and sorted(current.value) == sorted(new.value)
