import pytest
import torch

from bench.data.datasets import DATASETS, SQUARE
from bench.run.sampling import draw_noise, draw_source


def draw(sampler, n=4000, seed=0):
    return sampler(n, torch.Generator().manual_seed(seed))


def test_triangle_and_square_are_uniform_on_their_shapes():
    ds = DATASETS.get("triangle-square")
    tri = draw(ds.source)
    assert (tri >= 0).all() and (tri.sum(1) <= 1).all()
    assert tri.mean(0).tolist() == pytest.approx([1 / 3, 1 / 3], abs=0.02)  # the centroid
    sq = draw(ds.target)
    lo, hi = SQUARE
    assert (sq >= lo).all() and (sq <= hi).all()
    assert sq.mean(0).tolist() == pytest.approx(((lo + hi) / 2).tolist(), abs=0.02)


def test_checkerboard_samples_lie_on_black_cells():
    pts = draw(DATASETS.get("gauss-checkerboard").target)
    cells = pts.floor().long() + 2
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    assert (pts.abs() <= 2).all()


ALWAYS_AVAILABLE = [n for n, d in DATASETS.items() if d.kind == "points"] + ["mnist5k"]


@pytest.mark.parametrize("name", ALWAYS_AVAILABLE)
def test_same_seed_same_samples(name):
    ds = DATASETS.get(name)
    n = 4000 if ds.kind == "points" else 64
    assert torch.equal(draw(ds.target, n, seed=3), draw(ds.target, n, seed=3))
    assert not torch.equal(draw(ds.target, n, seed=3), draw(ds.target, n, seed=4))
    assert ds.gaussian_source == (name.startswith("gauss-") or ds.kind == "images")


@pytest.mark.parametrize("name", ["triangle-square", "gauss-moons", "mnist5k"])
def test_per_sample_streams_do_not_depend_on_how_many_are_drawn(name):
    ds = DATASETS.get(name)
    assert torch.equal(draw_source(ds, 5, 64)[:7], draw_source(ds, 5, 7))
    assert torch.equal(draw_noise(ds, 5, 64, 3)[:, :7], draw_noise(ds, 5, 7, 3))
