"""Writing files so that a crash leaves either the old file or the new one, never a mix;
and the content hash that tells an intact tensor file from a damaged one."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from bench.store import faults

TMP_SUFFIX = ".tmp"


def write_atomically(path: Path, data: bytes, crash_point: str | None = None) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`.

    The temporary file is `.<name>.<pid>.<random>.tmp` in the same folder (a rename within one
    file system is atomic). `crash_point` names the fault-injection point between write and rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if crash_point:
            faults.crash_point(crash_point)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch_atomically(path: Path, payload: dict, crash_point: str | None = None) -> None:
    """`torch.save(payload)` through `write_atomically`."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomically(path, buffer.getvalue(), crash_point)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files that killed writers left under `folder`; return how many.

    A temporary file names its writer's process id; files of a process still alive are kept.
    """
    stale = [p for p in folder.rglob(f".*{TMP_SUFFIX}") if p.is_file() and not _alive(p)] if folder.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _alive(tmp: Path) -> bool:
    """Whether the process that wrote `tmp` (`.<name>.<pid>.<random>.tmp`) still runs."""
    try:
        pid = int(tmp.name.rsplit(".", 3)[-3])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def tensors_hash(tensors: Mapping[str, Tensor]) -> str:
    """sha256 hex over the tensors in sorted key order: each one's name, dtype, shape, then its raw bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|{t.numel() * t.element_size()}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
