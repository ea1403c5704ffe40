"""Micro-benchmarks of the hot paths (pytest-benchmark): one solver step per solver, one training
step per method, and feature extraction plus FD on N images.

The normal test run has `--benchmark-disable` (pyproject's addopts): each function then runs once,
untimed, as a correctness check. `nox -s microbench` times them (`-m microbench --benchmark-enable`),
saves each run under .benchmarks/ and compares it with the last saved run of the same machine id.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.datasets import DATASETS
from bench.data.images import to_model
from bench.evaluate.fidelity import fd_from_stats, feature_stats
from bench.rng import generator
from bench.run.sampling import draw_noise, draw_source, sample
from bench.run.spec import TrainConfig
from bench.run.training import build_net
from bench.solvers import SOLVERS
from methods import METHODS
from methods.base import net_outputs

pytestmark = pytest.mark.microbench

N_POINTS = 1024
N_IMAGES = 500
RECIPES = {  # the quick profile's networks and batch sizes
    "gauss-moons": TrainConfig(batch_size=512, width=128, depth=3),
    "mnist5k": TrainConfig(batch_size=64, width=16, depth=3, patch=2),
}
TRAINABLE = [name for name, method in METHODS.items() if not hasattr(method, "network")]


@pytest.fixture(autouse=True)
def _one_thread():
    """Time one torch thread, as the regression run uses: on a shared 2-core machine two threads'
    timings were dominated by their synchronisation under load (medians up to 50x the minimum)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _owner(solver: str) -> str:
    """A method that can run `solver`: its owner for a native sampler, else iadb."""
    if SOLVERS.get(solver).kind != "native":
        return "iadb"
    return next(name for name in TRAINABLE if solver in METHODS.get(name).native_samplers)


@pytest.mark.parametrize("solver", list(SOLVERS.names()))
def test_one_solver_step(benchmark, solver):
    """One step (rk45: one integration at tol 1e-2) on 1024 gauss-moons points through the quick MLP."""
    method, dataset = METHODS.get(_owner(solver)), DATASETS.get("gauss-moons")
    net = build_net(dataset, RECIPES["gauss-moons"], 0, net_outputs(method)).eval()
    x0 = draw_source(dataset, 0, N_POINTS)
    noise = draw_noise(dataset, 0, N_POINTS, 1) if SOLVERS.get(solver).kind == "native" else None

    def step():
        with torch.no_grad():
            return sample(method, net, SOLVERS.get(solver), x0, steps=1, tol=1e-2, noise=noise)

    out = benchmark(step)
    assert out.x.shape == x0.shape and torch.isfinite(out.x).all()
    assert out.nfe >= 1


@pytest.mark.parametrize("dataset_name", list(RECIPES))
@pytest.mark.parametrize("method_name", TRAINABLE)
def test_one_training_step(benchmark, method_name, dataset_name):
    """One Adam step of the method's objective on the quick profile's network and batch."""
    method, dataset, recipe = METHODS.get(method_name), DATASETS.get(dataset_name), RECIPES[dataset_name]
    net = build_net(dataset, recipe, 0, net_outputs(method))
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    g = generator(0, "train", dataset.name)
    x0, x1 = dataset.source(recipe.batch_size, g), dataset.target(recipe.batch_size, g)
    t = torch.rand(recipe.batch_size, generator=g)
    extra = {"z": torch.randn(x0.shape, generator=g)} if getattr(method, "latent_noise", False) else {}
    before = [p.detach().clone() for p in net.parameters()]

    def step():
        loss = method.loss(net, x0, x1, t, **extra)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    loss = benchmark(step)
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the step moved the weights


def test_features_and_fd(benchmark, extractor, mnist):
    """The classifier's features of 500 images and of 500 reference images, then FD between them."""
    generated, reference = to_model(mnist.heldout[:N_IMAGES]), to_model(mnist.reference[:N_IMAGES])

    def fd():
        with torch.no_grad():
            stats = [feature_stats(extractor.net.features(x).double().numpy()) for x in (generated, reference)]
        return fd_from_stats(*stats[0], *stats[1])

    value = benchmark(fd)
    assert np.isfinite(value) and value > 0
