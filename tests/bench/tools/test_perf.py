"""`python -m bench perf`: its references do the harness's work, its CSV says what it measured.
(No timing is asserted: the numbers are the command's output, not a test's.)"""

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.data.datasets import DATASETS
from bench.nets.mlp import MLP
from bench.run.sampling import sample
from bench.run.spec import TrainConfig
from bench.run.training import train
from bench.solvers import SOLVERS
from bench.tools import perf
from methods import METHODS

IADB = METHODS.get("iadb")


@pytest.fixture
def net_and_x0():
    """A small MLP smooth in t (one Fourier frequency), so that two 4th-order methods agree closely."""
    torch.manual_seed(0)
    return MLP(width=16, depth=2, time_freqs=1).eval(), torch.randn(64, 2, generator=torch.Generator().manual_seed(1))


def test_the_bare_loop_and_torchdiffeq_compute_the_harness_samples(net_and_x0):
    net, x0 = net_and_x0
    euler = sample(IADB, net, SOLVERS.get("euler"), x0, steps=8)
    assert euler.nfe == 8
    torch.testing.assert_close(perf.bare_euler(net, x0, 8), euler.x, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(perf.torchdiffeq_solve(net, x0, 8, "euler"), euler.x, rtol=1e-5, atol=1e-6)
    rk4 = sample(IADB, net, SOLVERS.get("rk4"), x0, steps=8)
    # torchdiffeq's rk4 is the 3/8 rule: the same order and evaluations, another 5th-order error term
    torch.testing.assert_close(perf.torchdiffeq_solve(net, x0, 8, "rk4"), rk4.x, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_the_bare_training_loop_trains_the_harness_network(ema):
    dataset = DATASETS.get("gauss-moons")
    cfg = TrainConfig(steps=20, batch_size=32, width=16, depth=2, ema=ema)
    ours = train(IADB, dataset, cfg, seed=0).net
    bare = perf.bare_training(dataset, cfg, seed=0)
    for mine, theirs in zip(ours.state_dict().values(), bare.state_dict().values()):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)  # fused vs for-loop Adam: rounding only


def test_perf_writes_its_ratio_and_verdict(tmp_path):
    rows = perf.run(tmp_path, repeats=1, only=("euler-torchdiffeq",))
    frame = pd.read_csv(tmp_path / "perf" / "perf.csv")
    assert list(frame.benchmark) == ["euler-torchdiffeq"] and len(rows) == 1
    row = frame.iloc[0]
    assert row.harness_s > 0 and row.reference_s > 0 and row.target == perf.SOLVER_TARGET
    assert row.verdict in ("met", "missed")


@pytest.mark.parametrize("ratio, verdict", [(0.9, "met"), (1.0, "met"), (1.0001, "missed"), (1.5, "missed")])
def test_the_verdict_follows_the_measured_ratio_against_the_target(tmp_path, monkeypatch, ratio, verdict):
    """Known timings in, the row out: the verdict is decided by the ratio the timing measured, with
    the target of the benchmark (the solver's is 1.0), not read back from the row."""
    assert perf.SOLVER_TARGET == 1.0
    fixed = perf.Timing(
        harness_s=2.0 * ratio, reference_s=2.0, ratio=ratio, ci95=(ratio - 0.01, ratio + 0.01), rounds=7
    )
    monkeypatch.setattr(perf, "interleaved", lambda harness, reference, repeats=None: fixed)
    (row,) = perf.run(tmp_path, repeats=1, only=("euler-torchdiffeq",))
    assert (row["verdict"], row["ratio"], row["repeats"], row["target"]) == (verdict, f"{ratio:.4f}", 7, 1.0)


def test_perf_rejects_an_unknown_benchmark_and_writes_nothing(tmp_path, capsys):
    assert main(["perf", "--only", "nope", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark nope" in err and "sample-mlp" in err
    assert not any(tmp_path.iterdir())


def test_perf_keeps_the_rows_of_a_csv_with_older_columns(tmp_path):
    old = tmp_path / "perf" / "perf.csv"
    old.parent.mkdir()
    old.write_text("run_id,benchmark,ratio\nabc,sample-mlp,1.01\n")
    perf.run(tmp_path, repeats=1, only=("euler-torchdiffeq",))
    frame = pd.read_csv(old, keep_default_na=False)
    assert list(frame.columns) == perf.PERF_COLUMNS
    assert list(frame.benchmark) == ["sample-mlp", "euler-torchdiffeq"]
    assert frame.ratio_ci95.iloc[0] == "" and frame.ratio.iloc[0] == 1.01


def test_the_median_interval_holds_the_median_and_narrows_with_rounds():
    few = perf.median_ci95([1.0, 2.0, 3.0])
    assert few == (1.0, 3.0)
    many = perf.median_ci95([float(i) for i in range(101)])
    assert many[0] < 50 < many[1] and many[1] - many[0] < 25


def test_a_training_steps_flops_are_the_mlps_matrix_products_counted_by_hand():
    """The quick profile's MLP recipe (batch B, [x, 16 time features] -> 3 x width -> 2): forward
    2 B sum(in x out); backward twice that (weight and input gradients) less the first layer's
    input gradient, which nothing needs (x_t and the time features carry no gradient)."""
    track = next(t for t in perf.load_profile("quick").tracks if t.kind == "points")
    cfg, B, w = track.train, track.train.batch_size, track.train.width
    shapes = [(18, w)] + [(w, w)] * (cfg.depth - 1) + [(w, 2)]
    forward = sum(2 * B * i * o for i, o in shapes)
    want = forward + 2 * forward - 2 * B * 18 * w
    assert (B, w, cfg.depth) == (512, 128, 3)
    assert perf.step_flops(DATASETS.get(track.axes.datasets[0]), cfg) == want


def test_the_throughput_ratio_is_the_steps_flops_per_second_over_the_peak(tmp_path, monkeypatch):
    """Known step times and peak in, the row out: achieved = FLOPs / seconds, ratio = achieved / peak."""
    monkeypatch.setattr(
        perf, "step_seconds", lambda dataset, cfg, steps: {"points": 0.002, "images": 0.05}[dataset.kind]
    )
    rows = {r["network"]: r for r in perf.throughput(tmp_path, peak=2e11, mlp_steps=3, unet_steps=1)}
    assert set(rows) == {"mlp", "unet"}
    for name, seconds in (("mlp", 0.002), ("unet", 0.05)):
        flops = rows[name]["flops_per_step"]
        assert flops > 0
        assert rows[name]["ratio"] == f"{flops / seconds / 2e11:.4f}"
        assert rows[name]["achieved_gflops"] == f"{flops / seconds / 1e9:.4g}" and rows[name]["peak_gflops"] == "200"
    frame = pd.read_csv(tmp_path / "perf" / "throughput.csv")
    assert list(frame.columns) == perf.THROUGHPUT_COLUMNS and list(frame.network) == ["mlp", "unet"]


def test_the_peak_and_a_step_are_measured():
    """The peak is a positive rate of a real product; a step's seconds come from the harness's own clock."""
    assert perf.matmul_peak(size=256, repeats=2) > 1e6
    dataset = DATASETS.get("gauss-moons")
    assert 0 < perf.step_seconds(dataset, TrainConfig(steps=5, batch_size=32, width=16, depth=2), 4, rounds=1) < 1


def test_perf_only_throughput_writes_only_the_throughput_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(perf, "step_seconds", lambda dataset, cfg, steps: 0.01)
    monkeypatch.setattr(perf, "matmul_peak", lambda: 1e11)
    assert main(["perf", "--only", "throughput", "--results", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "perf").iterdir()) == ["throughput.csv"]
    out = capsys.readouterr().out
    assert "peak_gflops" in out and "throughput.csv" in out
