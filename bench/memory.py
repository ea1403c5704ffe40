"""Peak resident memory of a block of work, on Linux without a polling thread.

Writing "5" to /proc/self/clear_refs resets the kernel's high-water mark of the process's
resident set (VmHWM) to the current RSS (Linux >= 4.0); the block's peak is read at its end.
Where that is not allowed, the process-lifetime peak (getrusage) is reported instead and
`exact` is False.

Reading /proc/self/status costs about 0.1-0.2 ms, which `python -m bench perf` showed as
harness overhead on small sampling cells. getrusage's ru_maxrss costs microseconds and is
max(VmHWM, S), S the peak of the process image before exec; it is read right after a reset
when this module is imported, giving B = max(S, RSS then) >= S. A block's ru_maxrss is its VmHWM when it exceeds B,
or when the block started at an RSS of at least B (/proc/self/statm, cheap); otherwise VmHWM
is read from /proc/self/status. Exact either way.
"""

from __future__ import annotations

import os
import resource

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_STATM = "/proc/self/statm"
_probe: tuple[bool, float] | None = None
"""(VmHWM resettable, B in MiB), found once per process."""


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


def _rss_mb() -> float:
    try:
        fd = os.open(_STATM, os.O_RDONLY)
        try:
            return int(os.read(fd, 256).split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return 0.0


def _rusage_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset() -> bool:
    """Reset VmHWM to the current RSS; False where not allowed."""
    try:
        fd = os.open(_CLEAR_REFS, os.O_WRONLY)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


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
        self._start_rss = 0.0

    def __enter__(self) -> PeakMemory:
        self.exact = _probed()[0] and _reset()
        self._start_rss = _rss_mb() if self.exact else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.exact:
            self.peak_mb = _rusage_mb()
            return
        fast, bound = _rusage_mb(), _probed()[1]
        peak = fast if fast > bound or self._start_rss >= bound else _vm_hwm_mb()
        self.peak_mb = peak if peak is not None else fast
