"""The regression checker (bench.tools.regress) on synthetic result tables, and once end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.store.results import CELL_COLUMNS
from bench.tools import regress

SEEDS = (0, 1, 2)
W2 = {0: 0.50, 1: 0.51, 2: 0.49}  # seed sd 0.01: noise term 3 * sqrt(2) * 0.01 / sqrt(3) = 0.0245 < 10% of 0.5


def _cells(scale: dict | None = None, seconds: float = 1.0) -> pd.DataFrame:
    """A cells.csv as the harness writes it (strings): two methods on gauss-moons, 3 seeds, euler K=4
    and K=16 (w2, energy), a DDPM ancestral cell, and an image cell with KID and its subset sd.
    scale: {(method, solver, steps, metric): factor} applied to every seed's value."""
    scale = scale or {}
    rows = []

    def add(method, dataset, seed, solver, steps, metric, value, value_sd="", nfe=None):
        key = f"{method}-{dataset}-{seed}-{solver}-{steps}"
        value *= scale.get((method, solver, steps, metric), 1.0)
        rows.append(
            {
                "key": key,
                "train_key": f"{method}-{dataset}-{seed}",
                "method": method,
                "dataset": dataset,
                "seed": str(seed),
                "solver": solver,
                "steps": str(steps),
                "tol": "",
                "metric": metric,
                "nfe": str(nfe if nfe is not None else steps),
                "value": repr(value),
                "value_sd": value_sd,
                "status": "ok",
                "train_seconds": repr(3.0 * seconds),
                "sample_seconds": repr(0.1 * seconds),
            }
        )

    for seed in SEEDS:
        for method in ("iadb", "ddpm"):
            for steps in (4, 16):
                add(method, "gauss-moons", seed, "euler", steps, "w2", W2[seed] * (1 + 4 / steps))
                add(method, "gauss-moons", seed, "euler", steps, "energy", 0.2 + 0.002 * seed)
        add("ddpm", "gauss-moons", seed, "ancestral", 16, "w2", 0.6 + 0.01 * seed)
        add("iadb", "mnist5k", seed, "euler", 8, "fd", 30.0 + seed)
        add("iadb", "mnist5k", seed, "euler", 8, "kid", 0.3 + 0.001 * seed, value_sd=repr(0.02))
    frame = pd.DataFrame(rows)
    for column in CELL_COLUMNS:
        if column not in frame:
            frame[column] = ""
    return frame[CELL_COLUMNS]


def _cal(seconds: float) -> dict:
    """A calibration record: the workload's wall seconds, its CPU seconds, and the sweep's CPU seconds."""
    return {"seconds": seconds, "cpu_seconds": seconds, "sweep_cpu_seconds": 100.0 * seconds}


def walls_of(rows):
    """The wall-time rows of a timing comparison (not the sweep's CPU time)."""
    return [r for r in rows if not r.name.startswith("sweep CPU")]


def _failed(rows):
    return [(r.name, r.metric, r.verdict) for r in rows if r.failed]


def test_an_unchanged_rerun_passes():
    rows = regress.compare_quality(_cells(), _cells()) + regress.compare_timings(
        _cells(), _cal(1.0), _cells(), _cal(1.0)
    )
    assert _failed(rows) == []
    compared = {(r.name, r.metric) for r in rows}
    assert ("iadb gauss-moons euler K=4", "w2") in compared
    assert ("iadb gauss-moons euler K=4", "nfe") in compared  # NFE is compared too
    assert ("iadb mnist5k euler K=8", "kid") in compared
    assert ("train 2d (all methods)", "seconds / calibration") in compared


def test_ten_percent_worse_on_one_metric_fails_and_names_it():
    worse = _cells({("iadb", "euler", 4, "w2"): 1.10})
    rows = regress.compare_quality(_cells(), worse)
    assert _failed(rows) == [("iadb gauss-moons euler K=4", "w2", "WORSE")]
    text = regress.summary_line(rows, _missing := "nowhere", "nowhere")
    assert "REGRESSION: 1 of" in text and "iadb gauss-moons euler K=4 / w2" in text
    # higher is better for precision-like metrics: 10% lower is worse there
    assert regress.TOLERANCES["recall"].lower_is_better is False


def test_ten_percent_better_fails_until_the_baseline_is_updated(tmp_path):
    base, new = tmp_path / "baseline", tmp_path / "run"
    for folder, cells in ((base, _cells()), (new, _cells({("ddpm", "euler", 16, "energy"): 0.90}))):
        folder.mkdir()
        cells.to_csv(folder / "cells.csv", index=False)
        (folder / regress.CALIBRATION_FILE).write_text(json.dumps({"seconds": 1.0}))
    rows = regress.compare_runs(base, new)
    assert [(n, m) for n, m, _ in _failed(rows)] == [("ddpm gauss-moons euler K=16", "energy")]
    assert _failed(rows)[0][2].startswith("BETTER")
    regress.write_baseline(new, base)  # what `python -m bench baseline` does after its rerun
    assert _failed(regress.compare_runs(base, new)) == []


def test_timing_noise_of_thirty_percent_passes_and_a_threefold_slowdown_fails():
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = _cells()
        for column in ("train_seconds", "sample_seconds"):  # every cell's time off by up to +-30%
            noisy[column] = [repr(float(v) * rng.uniform(0.7, 1.3)) for v in noisy[column]]
        calibration = rng.uniform(0.7, 1.3)  # a machine that is faster or slower overall
        scaled = noisy.assign(
            train_seconds=[repr(float(v) * calibration) for v in noisy.train_seconds],
            sample_seconds=[repr(float(v) * calibration) for v in noisy.sample_seconds],
        )
        assert _failed(regress.compare_timings(_cells(), _cal(1.0), scaled, _cal(calibration))) == []
    for factor in (1.3, 0.7):  # the edge of the stated noise, on every timing at once
        assert _failed(regress.compare_timings(_cells(), _cal(1.0), _cells(seconds=factor), _cal(1.0))) == []
    slow = regress.compare_timings(_cells(), _cal(1.0), _cells(seconds=3.0), _cal(1.0))
    walls = walls_of(slow)
    assert {r.verdict for r in walls} == {"SLOWER"} and _failed(slow) == _failed(walls)
    slow_cpu = {**_cal(1.0), "sweep_cpu_seconds": 300.0}  # the sweep used 3x the CPU time, calibrated
    assert _failed(regress.compare_timings(_cells(), _cal(1.0), _cells(), slow_cpu)) == [
        ("sweep CPU time (all processes)", "seconds / calibration", "SLOWER")
    ]
    fast = regress.compare_timings(_cells(), _cal(1.0), _cells(seconds=1 / 3), _cal(1.0))
    assert not _failed(fast) and {r.verdict for r in walls_of(fast)} == {"ok: faster"}
    # the same slowdown on a machine 3x slower overall (its calibration 3x too) is no regression
    assert _failed(regress.compare_timings(_cells(), _cal(1.0), _cells(seconds=3.0), _cal(3.0))) == []


def test_the_band_is_the_largest_of_tolerance_relative_and_noise():
    tol = regress.TOLERANCES["w2"]
    assert regress.band("w2", 0.5, 0.0, 0.0, 3) == pytest.approx(max(tol.abs, tol.rel * 0.5))
    assert regress.band("w2", 0.5, 0.1, 0.05, 3) == pytest.approx(3 * math.sqrt(0.1**2 + 0.05**2) / math.sqrt(3))
    assert regress.band("w2", 1e-6, 0.0, 0.0, 3) == tol.abs
    # a metric as noisy as its 10% shift over K = 3 seeds hides it: the detection limit the band column shows
    noisy = _cells({("iadb", "euler", 4, "w2"): 1.10})
    quiet_rows = regress.compare_quality(_cells(), noisy)
    assert _failed(quiet_rows)
    spread = _cells()
    mask = (spread.method == "iadb") & (spread.steps == "4") & (spread.metric == "w2")
    spread.loc[mask, "value"] = [repr(v) for v in (0.45, 0.75, 0.60)]  # sd 0.15: band 0.37
    assert not _failed(
        regress.compare_quality(
            spread, spread.assign(value=[repr(float(v) * 1.1) if m else v for v, m in zip(spread.value, mask)])
        )
    )


def test_kid_band_uses_its_subset_spread():
    (row,) = [r for r in regress.aggregate(_cells()).itertuples() if r.metric == "kid"]
    assert row.sd == pytest.approx(0.02)  # the subset sd (0.02) exceeds the seed sd (0.001)
    assert row.k == 3


@pytest.mark.parametrize(
    "change, verdict",
    [
        ("drop", "MISSING"),
        ("nfe", "CHANGED"),
        ("fail", "failed: 2 of 3 seeds finished"),
        ("add", "NEW: accept with `nox -s baseline`"),
    ],
)
def test_missing_new_failed_and_nfe_changes_fail(change, verdict):
    cells = _cells()
    where = (cells.method == "ddpm") & (cells.solver == "ancestral")
    if change == "drop":
        cells = cells[~where]
    elif change == "nfe":
        cells.loc[where, "nfe"] = "17"
    elif change == "fail":
        cells.loc[where & (cells.seed == "1"), ["status", "value"]] = ["failed", "nan"]
    else:
        extra = cells[where].assign(solver="ddim", key=lambda f: f.key + "-ddim")
        cells = pd.concat([cells, extra])
    failed = _failed(regress.compare_quality(_cells(), cells))
    assert failed and {v for _, _, v in failed} == {verdict}
    assert all(name.startswith("ddpm gauss-moons") for name, _, _ in failed)


def test_baseline_then_regress_end_to_end(tmp_path, capsys, monkeypatch):
    """`baseline` on a tiny spec, then `regress`: an unchanged cold rerun passes and prints its table
    (in this process: the pin's variables are set, so the CLI does not restart itself). The 2x
    timing gate is lifted here: two runs of seconds on a shared machine may differ by more, and a
    pass/fail test must not time anything (the gate itself is tested on synthetic tables above)."""
    for key, value in regress.cpu_pin().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(regress, "TIMING_FACTOR", math.inf)
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "tiny"\n[axes]\nmethods = ["iadb"]\ndatasets = ["gauss-moons"]\nseeds = [0, 1]\n'
        'solvers = ["euler"]\nsteps = [2]\n[train]\nsteps = 20\nbatch_size = 64\nwidth = 16\n'
        "depth = 2\nlog_every = 10\n[eval]\nsamples = 64\n"
    )
    base, run = tmp_path / "baseline", tmp_path / "run"
    common = ["--spec", str(spec), "--baseline", str(base), "--results", str(run), "--workers", "1"]
    assert main(["regress", *common]) == 2  # no baseline yet
    assert main(["baseline", *common]) == 0
    assert sorted(p.name for p in base.iterdir()) == sorted(regress.BASELINE_FILES)
    capsys.readouterr()
    assert main(["regress", *common]) == 0
    out = capsys.readouterr().out
    assert "PASS: all" in out and "iadb gauss-moons euler K=2" in out and "train 2d (all methods)" in out
    status = json.loads((run / "tiny" / regress.STATUS_FILE).read_text())  # for the run's report
    assert status["baseline"] == str(base) and status["outside"] == [] and status["compared"] > 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a regress run")
    assert main(["regress", "--spec", str(spec), "--baseline", str(base), "--results", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").exists()  # never emptied


def test_the_cpu_pin_applies_only_where_the_cpu_has_avx2(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f\n")
    assert regress.cpu_pin(info) == regress.CPU_PIN
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    assert regress.cpu_pin(info) == {}
    assert regress.cpu_pin(tmp_path / "nowhere") == {}
    assert regress.needs_pin({}, regress.CPU_PIN)
    assert regress.needs_pin({**regress.CPU_PIN, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, regress.CPU_PIN)
    assert not regress.needs_pin(dict(regress.CPU_PIN), regress.CPU_PIN)
    assert not regress.needs_pin({}, {})


def test_the_pin_caps_pytorchs_kernels_in_a_new_process():
    """What the pin is for: a process started with it dispatches PyTorch's kernels at AVX2, whatever
    the CPU offers beyond (on an AVX2 machine this is what it does anyway)."""
    import os
    import subprocess
    import sys

    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = {**os.environ, **regress.CPU_PIN}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "AVX2"


def test_an_unpinned_rerun_restarts_itself_with_the_pin_and_passes_its_exit_code_on(tmp_path, monkeypatch):
    import subprocess
    import sys

    import bench.cli

    for key in regress.CPU_PIN:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(regress, "cpu_pin", lambda: dict(regress.CPU_PIN))
    calls = []
    monkeypatch.setattr(bench.cli.subprocess, "run", lambda argv, env: calls.append((argv, env))
                        or subprocess.CompletedProcess(argv, 1))  # fmt: skip
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "cells.csv").write_text("")
    argv = ["--threads", "1", "regress", "--baseline", str(tmp_path / "base"), "--results", str(tmp_path / "run")]
    assert main(argv) == 1
    ((child, env),) = calls
    assert child == [sys.executable, "-m", "bench", *argv]
    assert all(env[key] == value for key, value in regress.CPU_PIN.items())
    assert not (tmp_path / "run").exists()  # the parent computed nothing
    calls.clear()
    assert main(["regress", "--baseline", str(tmp_path / "base"), "--against", str(tmp_path / "none")]) == 2
    assert calls == []  # comparing a finished run needs no pin


def test_image_metrics_through_other_extractor_weights_are_listed_not_compared(tmp_path):
    """A classifier trained to other weights (another CPU's kernels) puts FD, KID, precision... in
    another feature space: those rows are not compared, even 30 % off, while the 2D rows and the
    image cells' NFE still are, and the summary says why."""
    base, new = tmp_path / "baseline", tmp_path / "run"
    images = lambda f: f.dataset == "mnist5k"  # noqa: E731
    before = _cells().assign(extractor=lambda f: np.where(images(f), "classifier-aaaaaaaaaaaa", ""))
    after = _cells({("iadb", "euler", 8, "kid"): 1.3, ("iadb", "euler", 4, "w2"): 1.1})
    after = after.assign(extractor=lambda f: np.where(images(f), "classifier-bbbbbbbbbbbb", ""))
    for folder, cells in ((base, before), (new, after)):
        folder.mkdir()
        cells.to_csv(folder / "cells.csv", index=False)
        (folder / regress.CALIBRATION_FILE).write_text(json.dumps({"seconds": 1.0}))
    rows = regress.compare_runs(base, new)
    assert _failed(rows) == [("iadb gauss-moons euler K=4", "w2", "WORSE")]
    verdicts = {(r.name, r.metric): r.verdict for r in rows}
    assert verdicts["iadb mnist5k euler K=8", "kid"] == "not compared: other extractor weights"
    assert verdicts["iadb mnist5k euler K=8", "nfe"] == "ok"
    text = regress.summary_line(rows, base, new)
    assert (
        "note: mnist5k's classifier trained to other weights here (classifier-bbbbbbbbbbbb; baseline "
        "classifier-aaaaaaaaaaaa)"
        in text
        and "its 2 image values" in text  # fd and kid
    )
    assert "REGRESSION: 1 of" in text
    # the same extractor: the KID change fails
    after = after.assign(extractor=before.extractor)
    after.to_csv(new / "cells.csv", index=False)
    assert ("iadb mnist5k euler K=8", "kid", "WORSE") in _failed(regress.compare_runs(base, new))


def _by_hand(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation, written out."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_every_kind_of_row_and_the_summary_read_as_computed_by_hand():
    """One comparison with a row of each kind; each row's texts (mean ± sd (K), band, change,
    verdict) from the values by hand: mean and sample sd over seeds, band = max(abs tol,
    rel tol x |baseline mean|, 3 sqrt(sd_b^2 + sd_n^2) / sqrt(K)), KID's sd at least its subset sd."""
    base = _cells()
    new = _cells({("iadb", "euler", 4, "w2"): 1.10, ("ddpm", "euler", 16, "energy"): 0.90})
    new = new[new.solver != "ancestral"]  # its cells are gone: MISSING
    heun = new[(new.method == "iadb") & (new.steps == "4") & (new.dataset == "gauss-moons")].copy()
    heun["solver"], heun["key"] = "heun", heun.key + "-heun"  # a solver the baseline lacks: NEW
    heun["value"] = [
        repr(0.3 + 0.01 * int(s)) if m == "w2" else v for s, m, v in zip(heun.seed, heun.metric, heun.value)
    ]
    new = pd.concat([new, heun])
    failed = (new.dataset == "mnist5k") & (new.seed == "2") & (new.metric == "fd")
    new.loc[failed, ["status", "value"]] = ["failed", ""]
    rows = {(r.name, r.metric): r for r in regress.compare_quality(base, new)}

    def texts(row):
        return (row.baseline, row.new, row.band, row.change, row.verdict)

    b_mean, b_sd = _by_hand([2 * W2[s] for s in SEEDS])  # K=4: W2 (1 + 4/4)
    n_mean, n_sd = _by_hand([2.2 * W2[s] for s in SEEDS])
    width = max(2e-3, 0.05 * b_mean, 3 * math.sqrt(b_sd**2 + n_sd**2) / math.sqrt(3))
    assert (round(b_mean, 12), round(b_sd, 12), round(width, 4)) == (1.0, 0.02, 0.0515)
    assert texts(rows["iadb gauss-moons euler K=4", "w2"]) == (
        "1 ± 0.02 (K=3)", "1.1 ± 0.022 (K=3)", "±0.0515", "+0.1 (+10.0%)", "WORSE")  # fmt: skip
    assert texts(rows["ddpm gauss-moons euler K=16", "energy"]) == (
        "0.202 ± 0.002 (K=3)", "0.1818 ± 0.0018 (K=3)", "±0.0101", "-0.0202 (-10.0%)",
        "BETTER: accept with `nox -s baseline`")  # fmt: skip
    assert texts(rows["iadb gauss-moons euler K=16", "w2"]) == (
        "0.625 ± 0.012 (K=3)", "0.625 ± 0.012 (K=3)", "±0.0312", "+0 (+0.0%)", "ok")  # fmt: skip
    assert texts(rows["iadb gauss-moons euler K=4", "nfe"]) == ("4 ± 0 (K=3)", "4 ± 0 (K=3)", "±0", "+0 (+0.0%)", "ok")
    # KID: seed sd 0.001, subset sd 0.02 -> sd 0.02, band 3 sqrt(2) 0.02 / sqrt(3) = 0.049
    assert texts(rows["iadb mnist5k euler K=8", "kid"]) == (
        "0.301 ± 0.02 (K=3)", "0.301 ± 0.02 (K=3)", "±0.049", "+0 (+0.0%)", "ok")  # fmt: skip
    assert texts(rows["ddpm gauss-moons ancestral K=16", "w2"]) == ("0.61 ± 0.01 (K=3)", "–", "–", "–", "MISSING")
    assert texts(rows["ddpm gauss-moons ancestral K=16", "nfe"]) == ("16 ± 0 (K=3)", "–", "–", "–", "MISSING")
    assert texts(rows["iadb gauss-moons heun K=4", "w2"]) == (
        "–", "0.31 ± 0.01 (K=3)", "–", "–", "NEW: accept with `nox -s baseline`")  # fmt: skip
    assert texts(rows["iadb mnist5k euler K=8", "fd"]) == (
        "31 ± 1 (K=3)", "30.5 ± 0.71 (K=2)", "–", "–", "failed: 2 of 3 seeds finished")  # fmt: skip
    failing = [r for r in rows.values() if r.failed]
    assert sorted((r.name, r.metric) for r in failing) == sorted(
        [
            ("iadb gauss-moons euler K=4", "w2"),
            ("ddpm gauss-moons euler K=16", "energy"),
            ("ddpm gauss-moons ancestral K=16", "w2"),
            ("ddpm gauss-moons ancestral K=16", "nfe"),
            ("iadb gauss-moons heun K=4", "w2"),
            ("iadb gauss-moons heun K=4", "energy"),
            ("iadb gauss-moons heun K=4", "nfe"),
            ("iadb mnist5k euler K=8", "fd"),
            ("iadb mnist5k euler K=8", "nfe"),
        ]
    )  # fmt: skip (the cell's NFE is read from its first row: the failed one)
    ordered = regress.compare_quality(base, new)
    summary = regress.summary_line(ordered, "nowhere", "nowhere").splitlines()
    assert summary[0] == f"REGRESSION: 9 of {len(ordered)} compared values outside their band:"
    assert "  iadb gauss-moons euler K=4 / w2: 1 ± 0.02 (K=3) -> 1.1 ± 0.022 (K=3) (band ±0.0515): WORSE" in summary
    assert "  ddpm gauss-moons ancestral K=16 / w2: 0.61 ± 0.01 (K=3) -> – (band –): MISSING" in summary
    assert len(summary) == 10
    table = regress.format_table(ordered).splitlines()
    assert table[0].split() == ["compared", "metric", "baseline", "new", "band", "change", "verdict"]
    assert len(table) == 2 + len(ordered)
    worse = ["iadb", "gauss-moons", "euler", "K=4", "w2", "1", "±", "0.02", "(K=3)", "1.1", "±", "0.022", "(K=3)",
             "±0.0515", "+0.1", "(+10.0%)", "WORSE"]  # fmt: skip
    assert any(line.split() == worse for line in table)
    everything_ok = regress.summary_line(regress.compare_quality(base, base), "nowhere", "nowhere")
    assert everything_ok == f"PASS: all {len(regress.compare_quality(base, base))} compared values within their band"


def test_timing_rows_read_as_computed_by_hand():
    """Training seconds are summed once per training group and sampling once per cell, per track
    kind, each over its run's calibration; the sweep's CPU time over the calibration's CPU time."""
    base, new = _cells(), _cells(seconds=1.5)
    rows = {r.name: r for r in regress.compare_timings(base, _cal(1.0), new, _cal(0.5))}
    # 2D: 2 methods x 3 seeds train 3 s each; 3 seeds x (2 methods x 2 steps + ancestral) = 15 cells of 0.1 s
    train_2d, sample_2d, train_img, sample_img = 18.0, 1.5, 9.0, 0.3
    row = rows["train 2d (all methods)"]
    assert (row.metric, row.baseline, row.new, row.band) == ("seconds / calibration", "18 (18 s)", "54 (27 s)", "≤ ×2")
    assert (row.change, row.verdict) == ("×3.00", "SLOWER")
    assert rows["sample 2d (all cells)"].baseline == f"{sample_2d:.3g} ({sample_2d:.3g} s)"
    assert rows["train images (all methods)"].new == f"{train_img * 1.5 / 0.5:.3g} ({train_img * 1.5:.3g} s)"
    assert rows["sample images (all cells)"].baseline == f"{sample_img:.3g} ({sample_img:.3g} s)"
    cpu = rows["sweep CPU time (all processes)"]  # 100 x calibration both times: ratio 1
    assert (cpu.baseline, cpu.new, cpu.change, cpu.verdict) == ("100 (100 s)", "100 (50 s)", "×1.00", "ok")
    assert train_2d == 18.0
    faster = {r.name: r for r in regress.compare_timings(base, _cal(1.0), _cells(seconds=0.4), _cal(1.0))}
    assert (
        faster["train 2d (all methods)"].verdict == "ok: faster" and faster["train 2d (all methods)"].change == "×0.40"
    )
    for seconds in (0.6, 0.5):  # faster means under half the time; at half it is ok
        same = {r.name: r for r in regress.compare_timings(base, _cal(1.0), _cells(seconds=seconds), _cal(1.0))}
        assert same["train 2d (all methods)"].verdict == "ok", seconds
    assert regress.band("nll", -2.0, 0.0, 0.0, 3) == pytest.approx(0.1)  # 5 % of |mean|: NLLs can be negative
    gone = {r.name: r for r in regress.compare_timings(base, _cal(1.0), base[base.dataset != "mnist5k"], _cal(1.0))}
    assert gone["train images (all methods)"].verdict == "MISSING"
    added = {r.name: r for r in regress.compare_timings(base[base.dataset != "mnist5k"], _cal(1.0), base, _cal(1.0))}
    assert added["train images (all methods)"].verdict == "NEW: accept with `nox -s baseline`"


def _row(**fields) -> dict:
    base = {c: "" for c in CELL_COLUMNS}
    base.update(status="ok", train_seconds="", sample_seconds="")
    base.update(fields)
    return base


def test_aggregate_and_timings_on_the_awkward_rows():
    """A skipped cell (no metric), floor rows (no NFE, no time), a cell of one seed, a cell whose
    seeds all failed, and an image cell whose KID row comes before its FD row: the aggregate and
    the timings, row by row, as counted by hand."""
    rows = [
        _row(key="s", method="ddpm", dataset="gauss-moons", seed="0", solver="em-eps1", status="skipped"),
        *(_row(key=f"f{s}", method="floor", dataset="gauss-moons", seed=str(s), metric="w2", value=v)
          for s, v in ((0, "0.1"), (1, "0.3"))),
        _row(key="one", train_key="t1", method="iadb", dataset="gauss-moons", seed="0", solver="euler", steps="4",
             metric="w2", value="0.5", nfe="4", train_seconds="3", sample_seconds="0.25"),
        *(_row(key=f"bad{s}", train_key=f"tb{s}", method="iadb", dataset="gauss-moons", seed=str(s), solver="heun",
               steps="2", metric="w2", status="failed", nfe="4", train_seconds="7", sample_seconds="9")
          for s in (0, 1)),
        *(r for s in (0, 1) for r in (
            _row(key=f"img{s}", train_key=f"ti{s}", method="iadb", dataset="mnist5k", seed=str(s), solver="euler",
                 steps="8", metric="kid", value=str(0.2 + 0.1 * s), value_sd="0.5", nfe="8", train_seconds="10",
                 sample_seconds="1"),
            _row(key=f"img{s}", train_key=f"ti{s}", method="iadb", dataset="mnist5k", seed=str(s), solver="euler",
                 steps="8", metric="fd", value=str(30 + 2 * s), nfe="8", train_seconds="10", sample_seconds="1"))),
    ]  # fmt: skip
    cells = pd.DataFrame(rows)[CELL_COLUMNS]
    agg = regress.aggregate(cells)
    assert list(agg.columns) == [*regress.QUALITY_KEYS, "mean", "sd", "k", "seeds"]
    got = {(r.method, r.solver, r.steps, r.metric): (r.mean, r.sd, r.k, r.seeds) for r in agg.itertuples()}
    sd_floor = math.sqrt(((0.1 - 0.2) ** 2 + (0.3 - 0.2) ** 2) / 1)
    want = {
        ("floor", "", "", "w2"): (0.2, sd_floor, 2, 2),  # no NFE row for the floor
        ("iadb", "euler", "4", "w2"): (0.5, 0.0, 1, 1),
        ("iadb", "euler", "4", "nfe"): (4.0, 0.0, 1, 1),
        ("iadb", "heun", "2", "w2"): (math.nan, 0.0, 0, 2),
        ("iadb", "heun", "2", "nfe"): (math.nan, 0.0, 0, 2),
        ("iadb", "euler", "8", "kid"): (0.25, 0.5, 2, 2),  # the subset sd (0.5) beats the seeds' (0.07)
        ("iadb", "euler", "8", "fd"): (31.0, math.sqrt(2), 2, 2),
        ("iadb", "euler", "8", "nfe"): (8.0, 0.0, 2, 2),  # NFE carries no subset sd, whichever row came first
    }
    assert set(got) == set(want)
    for key, (mean, sd, k, seeds) in want.items():
        g = got[key]
        assert (g[2], g[3]) == (k, seeds), key
        assert (math.isnan(g[0]) and math.isnan(mean)) or g[0] == pytest.approx(mean), key
        assert g[1] == pytest.approx(sd), key
    keys = [tuple(r[:6]) for r in agg.itertuples(index=False)]
    assert keys == sorted(keys)  # one row per key, in sorted order
    # timings: ok rows of methods only; training once per train_key, sampling once per key
    assert regress.timings(cells) == {"train 2d (all methods)": 3.0, "train images (all methods)": 20.0,
                                      "sample 2d (all cells)": 0.25, "sample images (all cells)": 2.0}  # fmt: skip
    # a one-seed cell against itself: band from the tolerances alone (its sd is 0, not 1)
    one = {(r.name, r.metric): r for r in regress.compare_quality(cells, cells)}
    single = one["iadb gauss-moons euler K=4", "w2"]
    assert (single.band, single.baseline) == ("±0.025", "0.5")
    assert one["iadb gauss-moons heun K=2", "w2"].verdict == "failed: 0 of 2 seeds finished"
    assert one["iadb gauss-moons heun K=2", "w2"].new == "nan"
    empty = regress.aggregate(cells[cells.status == "skipped"])
    assert empty.empty and list(empty.columns) == [*regress.QUALITY_KEYS, "mean", "sd", "k", "seeds"]


def test_the_summarys_notes_word_for_word(tmp_path):
    """Two extractors per side (listed sorted), a spec whose config hash changed, an rk45 cell and a
    blank column read back from the folders as text: the whole summary, written out."""
    base, new = tmp_path / "baseline", tmp_path / "run"
    images = lambda f: f.dataset == "mnist5k"  # noqa: E731
    seeds = lambda f, a, b: np.where(images(f), np.where(f.seed == "0", a, b), "")  # noqa: E731
    before = _cells().assign(extractor=lambda f: seeds(f, "classifier-bbbb", "classifier-aaaa"))
    after = _cells().assign(extractor=lambda f: seeds(f, "classifier-dddd", "classifier-cccc"))
    rk45 = lambda f: f[f.solver == "ancestral"].assign(solver="rk45", steps="", tol="0.001", key=f.key + "r")  # noqa: E731
    before, after = pd.concat([before, rk45(before)]), pd.concat([after, rk45(after)])
    for folder, cells, hashes in ((base, before, ["h2", "h1"]), (new, after, ["h4", "h3"])):
        folder.mkdir()
        cells.to_csv(folder / "cells.csv", index=False)
        (folder / regress.CALIBRATION_FILE).write_text(json.dumps({"seconds": 1.0}))
        records = [{"config_hash": h} for h in hashes] + [{"record": "command"}]
        (folder / "provenance.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    rows = regress.compare_runs(base, new)
    names = {r.name for r in rows}
    assert "ddpm gauss-moons rk45 tol=0.001" in names and "ddpm gauss-moons ancestral K=16" in names
    compared = [r for r in rows if r.compared]
    assert regress.summary_line(rows, base, new).splitlines() == [
        "note: mnist5k's classifier trained to other weights here (classifier-cccc, classifier-dddd; baseline "
        "classifier-aaaa, classifier-bbbb), as on a CPU whose kernels sum in another order: its 2 image values "
        "are in another feature space and were not compared (its NFE was); `nox -s baseline` on this machine "
        "makes them comparable here",
        "note: the spec differs from the baseline's (config hash h1, h2 vs h3, h4): values may move because the "
        "recipe did",
        f"PASS: all {len(compared)} compared values within their band",
    ]
    (new / "provenance.jsonl").write_text(json.dumps({"config_hash": "h1"}) + "\n" + json.dumps({"config_hash": "h2"}))
    assert not any("spec differs" in line for line in regress.summary_line(rows, base, new).splitlines())


def test_every_timing_row_is_its_ratio_of_normalised_times_and_a_zero_baseline_fails():
    """Each row's change is (new seconds / new calibration) / (baseline seconds / baseline
    calibration), computed here from the timings written out; a part that took no time in the
    baseline and some now is infinitely slower; a part on one side only shows dashes."""
    base, new = _cells(), _cells(seconds=1.5)
    want = {"train 2d (all methods)": (18.0, 27.0), "sample 2d (all cells)": (1.5, 2.25),
            "train images (all methods)": (9.0, 13.5), "sample images (all cells)": (0.3, 0.45),
            "sweep CPU time (all processes)": (100.0, 50.0)}  # fmt: skip
    rows = regress.compare_timings(base, _cal(1.0), new, _cal(0.5))
    assert [r.name for r in rows] == sorted(want)
    for row in rows:
        tb, tn = want[row.name]
        cb, cn = (1.0, 0.5)
        ratio = (tn / cn) / (tb / cb)
        verdict = "SLOWER" if ratio > 2 else ("ok: faster" if ratio < 0.5 else "ok")
        assert (row.change, row.verdict) == (f"×{ratio:.2f}", verdict), row.name
        assert (row.baseline, row.new) == (f"{tb / cb:.3g} ({tb:.3g} s)", f"{tn / cn:.3g} ({tn:.3g} s)"), row.name
    idle = base.assign(sample_seconds=np.where(base.dataset == "mnist5k", "0.0", base.sample_seconds))
    zero = {r.name: r for r in regress.compare_timings(idle, _cal(1.0), base, _cal(1.0))}
    assert (zero["sample images (all cells)"].change, zero["sample images (all cells)"].verdict) == ("×inf", "SLOWER")
    gone = {r.name: r for r in regress.compare_timings(base, _cal(1.0), base[base.dataset != "mnist5k"], _cal(1.0))}
    row = gone["sample images (all cells)"]
    assert (row.metric, row.baseline, row.new, row.band, row.change) == ("seconds / calibration", "–", "–", "–", "–")


def test_a_metric_without_its_own_tolerance_gets_the_default_and_lower_is_better():
    """A metric the table does not name (a plugin's): abs tol 2e-3, rel tol 5 %, and a rise is worse."""
    assert "mmd" not in regress.TOLERANCES
    assert regress.band("mmd", 1.0, 0.0, 0.0, 3) == pytest.approx(0.05)
    assert regress.band("mmd", 0.0, 0.0, 0.0, 3) == pytest.approx(2e-3)
    assert regress.band("mmd", 0.01, 0.0, 0.0, 3) == pytest.approx(2e-3)
    base = _cells().assign(metric=lambda f: f.metric.replace({"energy": "mmd"}))
    worse = _cells({("iadb", "euler", 4, "energy"): 1.2}).assign(metric=lambda f: f.metric.replace({"energy": "mmd"}))
    better = _cells({("iadb", "euler", 4, "energy"): 0.8}).assign(metric=lambda f: f.metric.replace({"energy": "mmd"}))
    assert ("iadb gauss-moons euler K=4", "mmd", "WORSE") in _failed(regress.compare_quality(base, worse))
    assert ("iadb gauss-moons euler K=4", "mmd", "BETTER: accept with `nox -s baseline`") in _failed(
        regress.compare_quality(base, better)
    )


def test_extractors_read_only_image_rows_and_tables_without_the_column():
    cells = _cells().assign(extractor=lambda f: np.where(f.dataset == "mnist5k", "classifier-aaaa", ""))
    assert regress.extractors(cells) == {"mnist5k": {"classifier-aaaa"}}
    assert regress.extractors(_cells().drop(columns="extractor")) == {}
    points_only = cells[cells.dataset == "gauss-moons"]
    other = cells.assign(dataset="fashion", extractor="classifier-bbbb")
    assert regress.other_feature_spaces(points_only, other) == {}  # no dataset on both sides
    assert regress.other_feature_spaces(cells, pd.concat([cells, other])) == {}
    changed = cells.assign(extractor=lambda f: np.where(f.dataset == "mnist5k", "classifier-bbbb", ""))
    assert regress.other_feature_spaces(cells, changed) == {"mnist5k": ({"classifier-aaaa"}, {"classifier-bbbb"})}


def test_the_noise_term_of_one_seed_is_not_shrunk():
    """3 sqrt(sd_b^2 + sd_n^2) / sqrt(K), with K = 1 for one seed (and for none)."""
    for k in (0, 1):
        assert regress.band("w2", 1.0, 0.1, 0.2, k) == pytest.approx(3 * math.sqrt(0.05))
    assert regress.band("w2", 1.0, 0.1, 0.2, 2) == pytest.approx(3 * math.sqrt(0.05) / math.sqrt(2))


def test_a_row_not_compared_and_a_change_from_zero_read_in_full(tmp_path):
    images = lambda f: f.dataset == "mnist5k"  # noqa: E731
    before = _cells().assign(extractor=lambda f: np.where(images(f), "classifier-aaaa", ""))
    after = before.assign(extractor=lambda f: np.where(images(f), "classifier-bbbb", ""))
    rows = {(r.name, r.metric): r for r in regress.compare_quality(before, after)}
    assert rows["iadb mnist5k euler K=8", "fd"] == regress.Comparison(
        "iadb mnist5k euler K=8",
        "fd",
        "31 ± 1 (K=3)",
        "31 ± 1 (K=3)",
        "–",
        "–",
        "not compared: other extractor weights",
    )
    zero = _cells().assign(value=lambda f: np.where(f.metric == "energy", "0.0", f.value))
    moved = zero.assign(value=lambda f: np.where(f.metric == "energy", "0.5", f.value))
    row = {(r.name, r.metric): r for r in regress.compare_quality(zero, moved)}["iadb gauss-moons euler K=4", "energy"]
    assert (row.change, row.verdict) == ("+0.5", "WORSE")  # no percentage of a zero baseline


def test_timings_leave_out_the_floor_and_one_sided_cpu_records():
    cells = _cells()
    floor = cells[cells.method == "iadb"].head(1).assign(method="floor", key="floor", train_key="floor",
                                                         train_seconds="500", sample_seconds="500")  # fmt: skip
    assert regress.timings(pd.concat([cells, floor])) == regress.timings(cells)
    one_sided = {"seconds": 1.0, "cpu_seconds": 1.0}
    for base_cal, new_cal in ((one_sided, _cal(1.0)), (_cal(1.0), one_sided)):
        rows = regress.compare_timings(cells, base_cal, cells, new_cal)
        assert not any(r.name.startswith("sweep CPU") for r in rows)
    twice = {r.name: r for r in regress.compare_timings(cells, _cal(1.0), _cells(seconds=2.0), _cal(1.0))}
    assert (twice["train 2d (all methods)"].change, twice["train 2d (all methods)"].verdict) == ("×2.00", "ok")
    # both sides divided by their own calibration: 18 s / 2 against 27 s / 0.5 is x6
    slow = {r.name: r for r in regress.compare_timings(cells, _cal(2.0), _cells(seconds=1.5), _cal(0.5))}
    assert (slow["train 2d (all methods)"].baseline, slow["train 2d (all methods)"].change) == ("9 (18 s)", "×6.00")


def test_the_table_shows_every_text_as_written():
    """tabulate would otherwise read '1.50' as a number and print '1.5'."""
    row = regress.Comparison("a b", "w2", "1.50", "0.10", "±0.0500", "+1e-05", "ok")
    line = regress.format_table([row]).splitlines()[2]
    assert line.split() == ["a", "b", "w2", "1.50", "0.10", "±0.0500", "+1e-05", "ok"]


def _run_folder(folder, cells: pd.DataFrame, config_hash: str, calibration: dict | None = None):
    """A results folder as the harness writes it: cells.csv, provenance.jsonl of one spec, and
    calibration.json for a regress run (a sweep has none)."""
    folder.mkdir(parents=True, exist_ok=True)
    cells.to_csv(folder / "cells.csv", index=False)
    records = [{"config_hash": config_hash, "summary": {"sampled": 1}},
               {"record": "command", "config_hash": config_hash}]  # fmt: skip
    (folder / "provenance.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if calibration is not None:
        (folder / regress.CALIBRATION_FILE).write_text(json.dumps(calibration))
    return folder


@pytest.fixture
def fake_build(monkeypatch):
    """reports.report.build replaced by one that only stamps the report as built (the block itself is
    tested in tests/reports/test_regression_block.py): the sweep folders here are synthetic."""
    import reports.report
    from reports.stamp import inputs_digest

    built = []

    def build(results, out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "index.html").write_text("<html></html>")
        (out_dir / "report.sha256").write_text(inputs_digest(results))
        built.append(results)
        return out_dir / "index.html"

    monkeypatch.setattr(reports.report, "build", build)
    return built


WORSE_W2 = ("iadb", "euler", 4, "w2")


def test_report_against_a_folder_writes_the_regression_file_the_report_shows(tmp_path, fake_build, capsys):
    """`report --against FOLDER` compares the sweep with FOLDER (of another spec too: asked for, and the
    notes say so) and writes results/<sweep>/regression.json; the report's block shows its failed row."""
    from reports.regression import add_block
    from reports.report import Document
    from reports.stamp import REGRESSION_FILE

    assert REGRESSION_FILE == regress.STATUS_FILE
    root, reports_root = tmp_path / "results", tmp_path / "reports"
    sweep = _run_folder(root / "quick", _cells({WORSE_W2: 1.10}), "quick-hash")
    other = _run_folder(tmp_path / "elsewhere", _cells(), "ci-hash", _cal(1.0))
    argv = ["report", "--profile", "quick", "--results", str(root), "--reports", str(reports_root)]
    assert main([*argv, "--against", str(other)]) == 0
    status = json.loads((sweep / "regression.json").read_text())
    rows = regress.compare_quality(_cells(), _cells({WORSE_W2: 1.10}))
    assert status["baseline"] == str(other)
    assert status["compared"] == len(rows) == sum(r.compared for r in rows) and status["not_compared"] == 0
    (worse,) = [r for r in rows if r.failed]
    assert status["outside"] == [{"name": worse.name, "metric": "w2", "baseline": worse.baseline, "new": worse.new,
                                  "band": worse.band, "change": worse.change, "verdict": "WORSE"}]  # fmt: skip
    assert status["notes"] == [
        "the spec differs from the baseline's (config hash ci-hash vs quick-hash): values may move because the "
        "recipe did",
        f"timings not compared: no calibration.json in {sweep} (only `python -m bench regress` times the "
        "calibration workload that makes timings of two runs comparable)",
    ]
    assert set(status) >= {"inputs", "revision", "created"} and fake_build == [sweep]
    assert f"regression: against {other}, {len(rows)} compared values, 1 outside their band" in capsys.readouterr().out
    doc = Document(tmp_path / "doc")
    add_block(doc, sweep)
    assert doc.blocks[1][1].startswith(f"REGRESSION against {other}: {len(rows)} compared values, 1 outside")
    assert doc.blocks[2][1].values.tolist() == [list(status["outside"][0].values())]

    # nothing changed: the file is not rewritten (its time would rebuild the report); the report is current
    before = (sweep / "regression.json").stat().st_ino, (sweep / "regression.json").read_bytes()
    assert main([*argv, "--against", str(other)]) == 0
    assert ((sweep / "regression.json").stat().st_ino, (sweep / "regression.json").read_bytes()) == before
    assert fake_build == [sweep]
    # without --against, a comparison that still holds is kept (no baseline/ under the results root)
    assert main(argv) == 0
    assert ((sweep / "regression.json").stat().st_ino, (sweep / "regression.json").read_bytes()) == before
    assert fake_build == [sweep]
    # against another folder (the same numbers): a comparison with that one
    second = _run_folder(tmp_path / "second", _cells(), "ci-hash", _cal(1.0))
    assert main([*argv, "--against", str(second)]) == 0
    assert json.loads((sweep / "regression.json").read_text())["baseline"] == str(second)
    assert fake_build == [sweep] * 2
    # the baseline moves: the verdict changes, the file is rewritten and the report rebuilt
    _run_folder(other, _cells({WORSE_W2: 1.10}), "ci-hash", _cal(1.0))
    assert main([*argv, "--against", str(other)]) == 0
    assert json.loads((sweep / "regression.json").read_text())["outside"] == [] and fake_build == [sweep] * 3
    # it moves again, and no baseline applies: the old verdict goes, and the report is rebuilt without it
    _run_folder(other, _cells(), "ci-hash", _cal(1.0))
    assert main(argv) == 0
    assert not (sweep / "regression.json").exists() and fake_build == [sweep] * 4
    assert main([*argv, "--against", str(tmp_path / "nowhere")]) == 2  # not a results folder


def test_the_results_roots_baseline_applies_only_to_a_run_of_the_same_spec(tmp_path, fake_build):
    """Without --against, <results>/baseline is compared only when its config hashes are the sweep's: a
    quick sweep against the ci baseline would flag the recipe's differences, not regressions."""
    root, reports_root = tmp_path / "results", tmp_path / "reports"
    sweep = _run_folder(root / "quick", _cells({WORSE_W2: 1.10}), "quick-hash")
    baseline = _run_folder(root / "baseline", _cells(), "ci-hash", _cal(1.0))
    (sweep / "regression.json").write_text(json.dumps({"baseline": str(baseline), "outside": [], "inputs": "old"}))
    argv = ["report", "--profile", "quick", "--results", str(root), "--reports", str(reports_root)]
    assert main(argv) == 0
    assert not (sweep / "regression.json").exists()  # another spec: no block, and the stale file is gone
    assert regress.report_baseline(sweep) is None
    _run_folder(baseline, _cells(), "quick-hash", _cal(1.0))  # a baseline of the sweep's own spec
    assert regress.report_baseline(sweep) == baseline
    assert main(argv) == 0
    status = json.loads((sweep / "regression.json").read_text())
    assert status["baseline"] == str(baseline) and [r["name"] for r in status["outside"]] == [
        "iadb gauss-moons euler K=4"
    ]
    assert not any("spec differs" in note for note in status["notes"])
    assert regress.report_baseline(baseline) is None  # the baseline's own report is not compared with itself
    assert regress.report_baseline(root / "unrecorded") is None  # no config hash to match: no baseline
    (baseline / "provenance.jsonl").unlink()
    assert regress.report_baseline(root / "unrecorded") is None  # not even a baseline without one


def test_regress_writes_its_comparison_into_the_run_folder(tmp_path):
    """`regress --against RUN` (and a cold rerun) leaves RUN/regression.json, timings included, for RUN's report."""
    base = _run_folder(tmp_path / "baseline", _cells(), "ci-hash", _cal(1.0))
    run = _run_folder(tmp_path / "run", _cells({WORSE_W2: 1.10}, seconds=3.0), "ci-hash", _cal(1.0))
    assert main(["regress", "--baseline", str(base), "--against", str(run)]) == 1
    status = json.loads((run / "regression.json").read_text())
    rows = regress.compare_runs(base, run)
    assert status["baseline"] == str(base) and status["compared"] == len(rows) and status["notes"] == []
    assert [(r["name"], r["verdict"]) for r in status["outside"]] == [(r.name, r.verdict) for r in rows if r.failed]
    assert ("iadb gauss-moons euler K=4", "WORSE") in [(r["name"], r["verdict"]) for r in status["outside"]]
    assert ("train 2d (all methods)", "SLOWER") in [(r["name"], r["verdict"]) for r in status["outside"]]
    assert regress.refresh_status(run, None) == status  # still true: a report of the run keeps it
    rows_for_report, notes = regress.compare_folders(base, run)  # both calibrated: the same rows, timings too
    assert rows_for_report == rows and notes == []
    # once the run's calibration or its spec changes, the comparison no longer holds: a report drops it
    cells = _cells({WORSE_W2: 1.10}, seconds=3.0)
    for change in (lambda: (run / regress.CALIBRATION_FILE).write_text(json.dumps(_cal(2.0))),
                   lambda: _run_folder(run, cells, "other-hash", _cal(2.0))):  # fmt: skip
        regress.write_status(run, base, *regress.compare_folders(base, run))
        assert regress.refresh_status(run, None) is not None
        change()
        assert regress.refresh_status(run, None) is None and not (run / "regression.json").exists()


def test_networks_trained_elsewhere_are_left_out_of_a_reports_comparison(tmp_path):
    """`evaluate` rows (a non-empty `weights`) share the sweep's method names; a baseline has none of them,
    and counted as more seeds they would move the sweep's own means."""
    base = _run_folder(tmp_path / "baseline", _cells(), "h")
    external = _cells({WORSE_W2: 3.0}).assign(weights="mine.pt sha256:abcdef", key=lambda f: f.key + "-w")
    new = _run_folder(tmp_path / "sweep", pd.concat([_cells(), external]), "h")
    rows, notes = regress.compare_folders(base, new)
    assert rows == regress.compare_quality(_cells(), _cells())  # K=3 seeds each, not 6
    assert notes == [f"timings not compared: no calibration.json in {base}, {new} (only `python -m bench regress` "
                     "times the calibration workload that makes timings of two runs comparable)"]  # fmt: skip
