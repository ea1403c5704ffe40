"""Likelihoods: the exact field's ODE likelihood against the Gaussian mixture's own density, the
Hutchinson estimator against the exact divergence, and the metric in a sweep's CSV."""

import math

import pandas as pd
import pytest
import torch

from bench.data.datasets import DATASETS
from bench.evaluate import likelihood
from bench.nets.mlp import MLP
from bench.solvers import SOLVERS
from methods import METHODS

GMM = DATASETS.get("gauss-gmm8")


@pytest.mark.parametrize("name", ["exact", "exact-trig", "exact-si-gamma"])
def test_ode_likelihood_of_the_exact_field_is_the_mixture_density(name):
    """The exact field transports N(0, I) onto the mixture, so the change of variables along it
    must give the mixture's closed-form log density (to the solver's accuracy)."""
    method = METHODS.get(name)
    x1 = GMM.mixture.sample(64, torch.Generator().manual_seed(0)).double()
    got = likelihood.log_likelihood(method, method.network(GMM.mixture), x1, SOLVERS.get("rk4"),
                                    GMM.source_log_prob, steps=128)  # fmt: skip
    expected = GMM.mixture.log_prob(x1)
    if name == "exact-si-gamma":  # its ODE runs over [1e-3, 1 - 1e-3]: looser
        assert (got - expected).abs().mean().item() < 0.05
    else:
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_hutchinson_divergence_is_unbiased_for_the_exact_divergence():
    net = MLP(width=32, depth=2)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    t = torch.full((8,), 0.3)
    v = net(x, t)
    exact = likelihood.exact_divergence(v, x)
    g = torch.Generator().manual_seed(2)
    estimates = torch.stack([likelihood.hutchinson_divergence(v, x, likelihood.rademacher((8, 2), g))
                             for _ in range(400)])  # fmt: skip
    torch.testing.assert_close(estimates.mean(0), exact, rtol=0, atol=4 * estimates.std(0).max().item() / 20)
    jac = torch.stack([torch.autograd.functional.jacobian(lambda y: net(y[None], t[:1])[0], xi) for xi in x.detach()])
    torch.testing.assert_close(exact, jac.diagonal(dim1=1, dim2=2).sum(1), rtol=1e-5, atol=1e-6)


def test_bits_per_dim_of_a_standard_normal_on_images():
    """The identity flow (velocity 0) from N(0, I): NLL = -log N(x), bpd by the formula."""
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3)) * 2 - 1
    zero = METHODS.get("iadb")
    out = likelihood.log_likelihood(zero, lambda y, t: 0 * y, x, SOLVERS.get("euler"),
                                    DATASETS.get("mnist5k").source_log_prob, steps=2,
                                    probe=torch.ones_like(x))  # fmt: skip
    d = 784
    expected = 0.5 * x.reshape(4, -1).square().sum(1) + 0.5 * d * math.log(2 * math.pi)
    torch.testing.assert_close(-out, expected)
    bpd = likelihood.bits_per_dim(-out, d)
    torch.testing.assert_close(bpd, (expected + d * math.log(127.5)) / (d * math.log(2)))


def test_nll_is_a_metric_in_the_sweep_csv(tmp_path):
    from bench.run.spec import load_profile
    from bench.sweep import runner as sweep

    spec = load_profile("smoke").with_axes(methods=("exact", "iadb"), datasets=("gauss-gmm8",),
                                           solvers=("rk4", "ddim"), steps=(16,))  # fmt: skip
    spec = spec.__class__(spec.name, (spec.tracks[0].__class__(
        spec.tracks[0].name, spec.tracks[0].axes, spec.tracks[0].train,
        spec.tracks[0].eval.__class__(samples=64, metrics=("w2", "nll"))),))  # fmt: skip
    sweep.run(spec, tmp_path, progress=False)
    cells = pd.read_csv(tmp_path / "smoke" / "cells.csv")
    nll = cells[(cells.metric == "nll") & (cells.status == "ok")].set_index("method")
    assert set(nll.index) == {"exact", "iadb"} and (nll.solver == "rk4").all()
    assert nll.value["exact"] < nll.value["iadb"]  # the exact field beats a 20-step model
