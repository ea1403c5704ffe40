"""Peak resident memory of a block of work, on Linux without a polling thread.

Writing "5" to /proc/self/clear_refs resets the kernel's high-water mark VmHWM to the
current RSS (Linux >= 4.0); reading VmHWM afterwards gives the block's peak. Where that is
not allowed, the process-lifetime peak (getrusage) is reported instead and `exact` is False.
"""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _vm_hwm_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """`with PeakMemory() as m: ...` then `m.peak_mb` is the peak RSS in MiB during the block."""

    def __init__(self) -> None:
        self.peak_mb = float("nan")
        self.exact = False

    def __enter__(self) -> PeakMemory:
        try:
            _CLEAR_REFS.write_text("5")
            self.exact = _vm_hwm_mb() is not None
        except OSError:
            self.exact = False
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _vm_hwm_mb() if self.exact else None
        self.peak_mb = peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
