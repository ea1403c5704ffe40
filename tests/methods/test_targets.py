"""Each method's training objective against its formula, written out here independently."""

import math

import numpy as np
import pytest
import torch

from methods import METHODS


def fixed_net(x, t):
    """A stand-in network: any fixed, input-dependent function works for checking objectives."""
    return 0.3 * x.flip(1) - 0.7 * x + t[:, None] * torch.tensor([1.0, -2.0], dtype=x.dtype)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(123)
    x0 = torch.randn(257, 2, generator=g, dtype=torch.float64)
    x1 = torch.rand(257, 2, generator=g, dtype=torch.float64) * 3 - 1
    t = torch.rand(257, generator=g, dtype=torch.float64)
    return x0, x1, t


def expected_loss(name, x0, x1, t):
    a = t[:, None]
    if name == "iadb":
        blend = (1 - a) * x0 + a * x1
        return ((fixed_net(blend, t) - (x1 - x0)) ** 2).mean()
    if name.startswith("si-linear"):
        xt, dxt = (1 - a) * x0 + a * x1, x1 - x0
    elif name.startswith("si-trig"):
        c, s = torch.cos(math.pi * a / 2), torch.sin(math.pi * a / 2)
        xt, dxt = c * x0 + s * x1, (math.pi / 2) * (-s * x0 + c * x1)
    if name.endswith("simple"):
        return ((fixed_net(xt, t) - dxt) ** 2).mean()
    if name.endswith("complex"):
        v = fixed_net(xt, t)
        return (v * v - 2 * dxt * v).mean()
    assert name == "ddpm"
    T = 1000
    abar = np.cumprod(1 - np.linspace(1e-4, 0.02, T))
    tau = np.clip(T - np.floor(t.numpy() * T).astype(int), 1, T)
    ab = torch.tensor(abar[tau - 1])[:, None]
    x_tau = ab.sqrt() * x1 + (1 - ab).sqrt() * x0  # x0 plays DDPM's epsilon
    net_t = torch.tensor(1 - tau / T)
    return ((fixed_net(x_tau, net_t) - x0) ** 2).mean()


TRAINED = [name for name, method in METHODS.items() if not hasattr(method, "network")]  # not the exact fields
PLAIN = [name for name in TRAINED if not getattr(METHODS.get(name), "latent_noise", False)]  # si-gamma: test_stochastic


@pytest.mark.parametrize("name", PLAIN)
def test_training_objective_matches_formula(name, batch):
    x0, x1, t = batch
    got = METHODS.get(name).loss(fixed_net, x0, x1, t)
    assert got.item() == pytest.approx(expected_loss(name, x0, x1, t).item(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("interpolant", ["linear", "trig"])
def test_complex_objective_is_simple_minus_constant_with_equal_gradients(interpolant, batch):
    x0, x1, t = batch
    simple, complex_ = METHODS.get(f"si-{interpolant}-simple"), METHODS.get(f"si-{interpolant}-complex")
    net = torch.nn.Linear(3, 2).double()

    def wrapped(x, tt):
        return net(torch.cat([x, tt[:, None]], 1))

    grads = []
    for method in (simple, complex_):
        net.zero_grad()
        loss = method.loss(wrapped, x0, x1, t)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in net.parameters()]))
    offset = simple.interpolant.dt(x0, x1, t).square().mean().item()  # E|dI|^2 per dimension
    assert grads[0][0] - grads[1][0] == pytest.approx(offset, rel=1e-10)
    for g_simple, g_complex in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(g_simple, g_complex, rtol=1e-10, atol=1e-12)


def test_iadb_equals_linear_simple_interpolant(batch):
    x0, x1, t = batch
    a = METHODS.get("iadb").loss(fixed_net, x0, x1, t)
    b = METHODS.get("si-linear-simple").loss(fixed_net, x0, x1, t)
    assert a.item() == pytest.approx(b.item(), rel=1e-14)


def test_interpolants_hit_the_endpoints(batch):
    x0, x1, _ = batch
    for name in ("si-linear-simple", "si-trig-simple"):
        interp = METHODS.get(name).interpolant
        torch.testing.assert_close(interp.at(x0, x1, torch.zeros(len(x0), dtype=x0.dtype)), x0)
        torch.testing.assert_close(interp.at(x0, x1, torch.ones(len(x0), dtype=x0.dtype)), x1)


def test_iadb_and_linear_simple_train_to_bitwise_identical_parameters():
    """One seed, one recipe: both see the same init and batches, and their losses are the same
    arithmetic, so the trained weights agree bit for bit."""
    from bench.data.datasets import DATASETS
    from bench.run.spec import TrainConfig
    from bench.run.training import train

    cfg = TrainConfig(steps=30, batch_size=64, width=16, depth=2, log_every=10)
    dataset = DATASETS.get("gauss-moons")
    nets = [train(METHODS.get(name), dataset, cfg, seed=7).net for name in ("iadb", "si-linear-simple")]
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
        assert torch.equal(a, b)
    other = train(METHODS.get("si-trig-simple"), dataset, cfg, seed=7).net  # another interpolant: other weights
    assert not all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), other.parameters()))


@pytest.mark.parametrize("interpolant", ["linear", "trig"])
def test_simple_and_complex_gradients_agree_on_the_harness_network_in_float32(interpolant):
    from bench.nets.mlp import MLP

    g = torch.Generator().manual_seed(5)
    x0, x1, t = torch.randn(512, 2, generator=g), torch.rand(512, 2, generator=g) * 4 - 2, torch.rand(512, generator=g)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = MLP(width=32, depth=2)
    losses, grads = [], []
    for objective in ("simple", "complex"):
        net.zero_grad()
        loss = METHODS.get(f"si-{interpolant}-{objective}").loss(net, x0, x1, t)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert (grads[0] - grads[1]).norm() <= 1e-5 * grads[0].norm()
    offset = METHODS.get(f"si-{interpolant}-simple").interpolant.dt(x0, x1, t).square().mean().item()
    assert losses[0] - losses[1] == pytest.approx(offset, rel=1e-5)
