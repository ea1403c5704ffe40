"""Which device a sweep trains and samples on: `--device auto|cpu|cuda`.

Random draws always happen on the CPU from seeded generators and are then moved, so the
noise a sample sees does not depend on the device; the arithmetic does (results on a GPU
differ from a CPU's by rounding, and the `device` column says which one made each row).
"""

from __future__ import annotations

import torch

from bench.run.spec import SpecError

DEVICES = ("auto", "cpu", "cuda")


def resolve(name: str) -> torch.device:
    """`auto`: CUDA when torch sees a GPU, else the CPU. Raises SpecError for an unknown name or
    for `cuda` on a machine without one."""
    if name not in DEVICES:
        raise SpecError(f"unknown device {name!r}; valid devices: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("--device cuda, but torch sees no CUDA GPU here; valid devices: auto, cpu")
    return torch.device(name)


def describe(device: torch.device) -> str | None:
    """The GPU's name for the provenance, or None on the CPU (the CPU description is used)."""
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else None


CPU = torch.device("cpu")
