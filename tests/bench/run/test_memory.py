"""Memory: sampling keeps one step's states, not the trajectory, and the peak-memory probe
measures the block it wraps (Linux's VmHWM, reset per block)."""

import os
import weakref

import pytest
import torch

from bench.nets.mlp import MLP
from bench.run.memory import PeakMemory
from bench.run.sampling import sample
from bench.solvers import SOLVERS
from methods import METHODS


class Watched(torch.nn.Module):
    """An MLP that records, at each call, how many tensors it was given before are still alive."""

    def __init__(self, outputs: int = 1) -> None:
        super().__init__()
        self.net = MLP(dim=2, width=8, depth=1, time_freqs=2, outputs=outputs)
        self.seen: list[weakref.ref] = []
        self.alive: list[int] = []

    def forward(self, x, t):
        self.alive.append(sum(ref() is not None for ref in self.seen))
        out = self.net(x, t)
        self.seen += [weakref.ref(x), weakref.ref(out)]
        return out


CASES = [("iadb", s) for s in ("euler", "midpoint", "heun", "rk4", "rk45")] + [
    ("ddpm", "ancestral"), ("ddpm", "ddim"), ("si-gamma-linear", "em-eps1")]  # fmt: skip


@pytest.mark.parametrize(("method", "solver"), CASES)
def test_sampling_holds_a_bounded_number_of_states_whatever_the_steps(method, solver):
    m, s = METHODS.get(method), SOLVERS.get(solver)
    held = {}
    for steps in (4, 32):
        net = Watched(getattr(m, "outputs", 1))
        x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
        noise = torch.randn(steps, 16, 2, generator=torch.Generator().manual_seed(1)) if s.kind == "native" else None
        tol = 1e-2 if s.kind == "adaptive" else None
        sample(m, net, s, x0, steps=None if tol else steps, tol=tol, noise=noise)
        assert len(net.alive) >= steps or s.kind == "adaptive"
        held[steps] = max(net.alive)
    # the states still alive at any network call do not grow with the number of steps
    assert held[32] <= held[4] <= 12, held


def test_peak_memory_measures_its_own_block():
    with PeakMemory() as probe:
        pass
    if not probe.exact:
        pytest.skip("no resettable VmHWM here (not Linux, or /proc/self/clear_refs not writable)")
    baseline = probe.peak_mb
    with PeakMemory() as big:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        block.add_(1)
        del block
    with PeakMemory() as after:
        pass
    assert big.peak_mb >= baseline + 60
    assert after.peak_mb < big.peak_mb - 60  # the high-water mark was reset for the next block


def test_peak_memory_in_a_forked_child_resets_its_own_high_water_mark():
    """The probe keeps /proc/self/clear_refs open; a forked child must reset its own mark, not its parent's."""
    with PeakMemory() as probe:
        pass
    if not probe.exact or not hasattr(os, "fork"):
        pytest.skip("no resettable VmHWM here, or no fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no torch (OpenMP is not fork-safe); plain bytes touch their pages
        try:
            with PeakMemory() as big:
                block = b"\x01" * (64 * 2**20)
                del block
            with PeakMemory() as after:
                pass
            os.write(write, b"1" if after.peak_mb < big.peak_mb - 60 else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 8)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"
