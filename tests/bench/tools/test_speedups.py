"""`python -m bench perf --only speedups`: each candidate does the eager step's work, and its row is
the eager time per sample over the candidate's. (No timing is asserted: the numbers are the
command's output, not a test's.)"""

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.data.datasets import DATASETS
from bench.run.spec import TrainConfig
from bench.run.training import build_net
from bench.tools import perf, speedups
from methods import METHODS

CFG = TrainConfig(batch_size=16, width=16, depth=2, lr=1e-2)


def test_the_loss_is_iadbs():
    dataset = DATASETS.get("gauss-moons")
    net = build_net(dataset, CFG, seed=0)
    x0, x1, t = torch.randn(16, 2), torch.randn(16, 2), torch.rand(16)
    torch.testing.assert_close(speedups.iadb_loss(net, x0, x1, t), METHODS.get("iadb").loss(net, x0, x1, t))


def test_stacked_networks_get_each_its_own_loss_and_gradient():
    """The stacked loss is the sum of the separate networks' losses, and each slice of a stacked
    gradient is that network's own gradient (a mean over networks would scale them by 1/count)."""
    dataset = DATASETS.get("gauss-moons")
    stacked = speedups.Stacked(dataset, CFG, count=3)
    g = torch.Generator().manual_seed(4)
    x0, x1, t = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g), torch.rand(16, generator=g)
    stacked.loss(x0, x1, t).backward()
    total = 0.0
    for i in range(3):
        net = build_net(dataset, CFG, seed=i)
        loss = speedups.iadb_loss(net, x0, x1, t)
        loss.backward()
        total += loss.item()
        for name, p in net.named_parameters():
            torch.testing.assert_close(stacked.params[name].grad[i], p.grad, rtol=1e-5, atol=1e-7)
    assert stacked.loss(x0, x1, t).item() == pytest.approx(total, rel=1e-6)


def test_a_stacked_step_moves_each_network_as_its_own_adam_step_would():
    dataset = DATASETS.get("gauss-moons")
    stacked = speedups.Stacked(dataset, CFG, count=2)
    opt = torch.optim.Adam(stacked.params.values(), lr=CFG.lr, fused=True)
    batch = speedups._batches(dataset, CFG.batch_size)[0]
    opt.zero_grad()
    stacked.loss(*batch).backward()
    opt.step()
    for i in range(2):
        net = build_net(dataset, CFG, seed=i)
        own = torch.optim.Adam(net.parameters(), lr=CFG.lr, fused=True)
        speedups.iadb_loss(net, *batch).backward()
        own.step()
        for name, p in net.named_parameters():
            torch.testing.assert_close(stacked.params[name].detach()[i], p.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["compiled", "channels_last"])
def test_a_compiled_or_channels_last_step_is_the_eager_steps_work(kind, monkeypatch):
    """One step each from the same initialisation and batch: the same gradients (the step leaves them
    on the parameters), up to rounding; Adam's first step is then the same update."""
    dataset = DATASETS.get("mnist5k") if kind == "channels_last" else DATASETS.get("gauss-moons")
    cfg = TrainConfig(batch_size=4, width=8, depth=2, patch=2, lr=1e-2)
    nets = []
    real_build = speedups.build_net
    monkeypatch.setattr(speedups, "build_net", lambda *a, **k: nets.append(real_build(*a, **k)) or nets[-1])
    speedups.eager_step(dataset, cfg, **{kind: True})()
    speedups.eager_step(dataset, cfg)()
    grads = [[p.grad for p in net.parameters()] for net in nets]
    assert all(g is not None for g in grads[0]) and any(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "eager_s, candidate_s, per, want", [(2.0, 1.0, (16, 16), "2.000"), (1.0, 1.5, (32, 16), "1.333")]
)
def test_the_speedup_is_the_eager_time_per_sample_over_the_candidates(tmp_path, monkeypatch, eager_s, candidate_s,
                                                                       per, want):  # fmt: skip
    """Known timings in, the row out: (eager_s / eager_per) / (candidate_s / candidate_per)."""
    candidate = speedups.Candidate("c", "what", lambda: None, lambda: None, *per)
    monkeypatch.setattr(speedups, "candidates", lambda spec: [candidate])
    ratio = eager_s / candidate_s
    monkeypatch.setattr(perf, "interleaved", lambda a, b, repeats, same_settings: perf.Timing(
        eager_s, candidate_s, ratio, (ratio * 0.9, ratio * 1.1), 5))  # fmt: skip
    rows = speedups.run(tmp_path, spec=perf.load_profile("smoke"))
    assert rows[0]["speedup"] == want
    scale = per[0] / per[1]
    assert rows[0]["speedup_ci95"] == f"{ratio * 0.9 * scale:.3f}-{ratio * 1.1 * scale:.3f}"
    frame = pd.read_csv(tmp_path / "perf" / "speedups.csv")
    assert list(frame.columns) == speedups.SPEEDUP_COLUMNS and list(frame.candidate) == ["c"]


def test_perf_only_speedups_times_every_candidate_with_the_same_settings_on_both_sides(tmp_path, monkeypatch, capsys):
    seen = []
    real = perf.interleaved

    def recorder(a, b, repeats, same_settings=False):
        seen.append(same_settings)
        return real(a, b, 1, same_settings=same_settings)

    monkeypatch.setattr(perf, "interleaved", recorder)
    monkeypatch.setattr(speedups, "candidates", lambda spec: [
        speedups.Candidate("fast", "w", lambda: None, lambda: sum(range(1000)), 8, 8)])  # fmt: skip
    assert main(["perf", "--only", "speedups", "--results", str(tmp_path)]) == 0
    assert seen == [True]
    assert sorted(p.name for p in (tmp_path / "perf").iterdir()) == ["speedups.csv"]
    assert "speedup_ci95" in capsys.readouterr().out


def test_every_candidate_is_built_on_the_profiles_recipes():
    spec = perf.load_profile("quick")
    unet = next(t for t in spec.tracks if t.kind == "images").train.batch_size
    names = [c.name for c in speedups.candidates(spec)]
    assert names == ["unet-compile", "unet-channels-last", f"unet-batch-{2 * unet}", f"unet-batch-{4 * unet}",
                     "mlp-compile", "mlp-stacked-6"]  # fmt: skip
