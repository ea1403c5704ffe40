"""Seed derivation and per-sample random streams (cf. NVlabs/edm `StackedRandomGenerator`).

Library code never touches torch's global RNG: it takes a `torch.Generator` or a seed.
Sample i of a sampling cell draws all of its randomness from its own generator seeded by
`derive_seed(seed, purpose, i)`, so a sample does not depend on the batch it was drawn in.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["derive_seed", "deterministic_algorithms", "generator", "per_sample"]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts, stable across runs, machines and versions."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded by `derive_seed(*parts)`."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def per_sample(
    draw: Callable[[int, torch.Generator], Tensor], seed: int, purpose: str, indices: Sequence[int]
) -> Tensor:
    """Stack `draw(1, g_i)` over samples, g_i seeded by (seed, purpose, i): [len(indices), ...]."""
    return torch.cat([draw(1, generator(seed, purpose, i)) for i in indices])


def deterministic_algorithms() -> None:
    """Turn on PyTorch's deterministic algorithms (once; cheap when they are already on).

    `torch.use_deterministic_algorithms` also sets the flag of torch's compiler, and importing
    the compiler's config costs about 4 s per process (every worker of a parallel sweep pays it).
    Nothing here compiles, so unless the compiler is already loaded only ATen's flag is set,
    which is what decides the kernels eager PyTorch runs.

    PyTorch then also fills every new uninitialized tensor with NaN
    (`torch.utils.deterministic.fill_uninitialized_memory`), a debugging aid that makes no
    kernel more deterministic and writes each convolution's output twice: about 2 % of a UNet
    sampling cell in `python -m bench perf`. It is turned off; the tests that rerun a sweep and
    compare its numbers would show a kernel that read uninitialized memory.
    """
    import torch.utils.deterministic

    torch.utils.deterministic.fill_uninitialized_memory = False
    if torch.are_deterministic_algorithms_enabled():
        return
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(True)
    else:
        torch._C._set_deterministic_algorithms(True)
