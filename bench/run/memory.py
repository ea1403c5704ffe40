"""Peak resident memory of a block of work, on Linux without a polling thread.

Writing "5" to /proc/self/clear_refs resets the kernel's high-water mark of the process's
resident set (VmHWM) to the current RSS (Linux >= 4.0); the block's peak is read at its end.
Where that is not allowed, the process-lifetime peak (getrusage) is reported instead and
`exact` is False.

The probe runs once per sampling cell, inside the time `python -m bench perf` compares with a
bare loop, and on this kind of virtual machine every system call also slows the code after
it (the kernel's speculative-execution mitigations), so it makes two: one write to a
clear_refs descriptor kept open for the process, and one getrusage. getrusage's ru_maxrss is
max(VmHWM, S), S the peak of the process image before exec; it is read right after a reset
when this module is imported, giving B = max(S, RSS then) >= S. A block's ru_maxrss is its
VmHWM when it exceeds B (the usual case: a block runs above the RSS at import); otherwise VmHWM
is read from /proc/self/status. Exact either way.
"""

from __future__ import annotations

import os
import resource

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_probe: tuple[bool, float] | None = None
"""(VmHWM resettable, B in MiB), found once per process."""
_clear_refs: int | None = None
"""An open descriptor of /proc/self/clear_refs. "self" is resolved when it is opened, so a forked
child forgets its parent's and opens its own (`os.register_at_fork` below)."""


def _vm_hwm_mb() -> float | None:
    try:
        fd = os.open(_STATUS, os.O_RDONLY)
        try:
            text = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        start = text.index(b"VmHWM:") + 6
        return int(text[start : text.index(b"kB", start)]) / 1024
    except (OSError, ValueError):
        return None


def _rusage_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset() -> bool:
    """Reset VmHWM to the current RSS; False where not allowed."""
    global _clear_refs
    try:
        if _clear_refs is None:
            _clear_refs = os.open(_CLEAR_REFS, os.O_WRONLY | os.O_CLOEXEC)
        os.write(_clear_refs, b"5")
        return True
    except OSError:
        return False


def _forget_parent_descriptor() -> None:
    global _clear_refs
    if _clear_refs is not None:
        os.close(_clear_refs)
    _clear_refs = None


os.register_at_fork(after_in_child=_forget_parent_descriptor)


def _probed() -> tuple[bool, float]:
    global _probe
    if _probe is None:
        resettable = _reset() and _vm_hwm_mb() is not None
        _probe = (resettable, _rusage_mb())
    return _probe


_probed()  # at import, while the RSS is small: later blocks start above it


class PeakMemory:
    """`with PeakMemory() as m: ...` then `m.peak_mb` is the peak RSS in MiB during the block."""

    def __init__(self) -> None:
        self.peak_mb = float("nan")
        self.exact = False

    def __enter__(self) -> PeakMemory:
        self.exact = _probed()[0] and _reset()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.exact:
            self.peak_mb = _rusage_mb()
            return
        fast, bound = _rusage_mb(), _probed()[1]
        peak = fast if fast > bound else _vm_hwm_mb()
        self.peak_mb = peak if peak is not None else fast
