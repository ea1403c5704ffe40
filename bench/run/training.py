"""Training one network for one (method, dataset, seed, recipe), and its checkpoint."""

from __future__ import annotations

import copy
import hashlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.data import Dataset
from bench.nets import NETS, default_net
from bench.rng import derive_seed, generator
from bench.run.device import CPU
from bench.run.memory import PeakMemory
from bench.run.spec import SpecError, TrainConfig
from bench.store import faults, save_torch_atomically, tensors_hash
from methods import Method
from methods.base import net_outputs


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no checkpoint is written."""


class ForeignCheckpoint(ValueError):
    """An intact checkpoint at a training group's path that another spec's training wrote."""


@dataclass
class Trained:
    net: nn.Module
    losses: list[tuple[int, float]]
    seconds: float
    peak_mb: float


def net_factory(dataset: Dataset, cfg: TrainConfig) -> str:
    """The name of the network factory a track trains with: its `train.net`, else the built-in
    one of the dataset's kind (an MLP on 2D points, a UNet on images)."""
    return cfg.net or default_net(dataset.kind)


def build_net(dataset: Dataset, cfg: TrainConfig, seed: int, outputs: int = 1) -> nn.Module:
    """The shared network (`net_factory`), initialised from its own seed without touching the
    global RNG. outputs: how many fields of the data's shape it returns side by side along dim 1
    (`methods.base.net_outputs`)."""
    factory = NETS.get(net_factory(dataset, cfg))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return factory.build(dataset, cfg, seed, outputs)


_WEIGHTS_HASHES: dict[tuple[str, int, int], str] = {}


def weights_hash(path: str | Path) -> str:
    """The sha256 (16 hex digits) of a weights file's bytes, once per process while it is unchanged."""
    stat = Path(path).stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _WEIGHTS_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _WEIGHTS_HASHES[memo] = digest.hexdigest()[:16]
    return _WEIGHTS_HASHES[memo]


def weights_label(path: str | Path) -> str:
    """What a row's `weights` column says of a network trained elsewhere: its file and content hash."""
    return f"{Path(path).name} sha256:{weights_hash(path)}"


def load_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Load a weights file trained elsewhere into `net` (strictly: every parameter and buffer, no
    others, of the same shapes), in eval mode. The file is read with `torch.load(weights_only=True)`:
    tensors only, no code runs. It holds a state dict, or a dict with one under "state_dict",
    "model" or "ema" (what common training scripts save). Raises SpecError naming what does not fit."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a weights file torch reads without running code
        raise SpecError(f"weights file {path} cannot be read with torch.load(weights_only=True): "
                        f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None  # fmt: skip
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        nested = [k for k in ("state_dict", "model", "ema") if isinstance(state.get(k), dict)]
        state = state[nested[0]] if nested else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpecError(f"weights file {path} holds no state dict (a dict of name -> tensor)")
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        problems = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shapes", shapes))
                    if keys]  # fmt: skip
        raise SpecError(f"weights file {path} does not fit the network {type(net).__name__} "
                        f"({sum(p.numel() for p in net.parameters())} parameters): {'; '.join(problems)}")  # fmt: skip
    net.load_state_dict(state)
    return net.eval()


def train(method: Method, dataset: Dataset, cfg: TrainConfig, seed: int,
          device: torch.device = CPU) -> Trained:  # fmt: skip
    """Adam with cosine learning-rate decay on fresh (source, target, t) batches each step.

    With cfg.ema > 0 the returned network holds an exponential moving average of the weights,
    its decay warming up as min(ema, (1 + step) / (10 + step)). Batches are drawn on the CPU
    and moved to `device`; with cfg.bf16 on a CUDA device the forward pass runs under bf16
    autocast (the weights, the optimiser and the average stay float32).
    """
    net = build_net(dataset, cfg, seed, net_outputs(method)).to(device)
    average = copy.deepcopy(net) if cfg.ema > 0 else None
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    g = generator(seed, "train", dataset.name)  # the same batches for every method: paired comparisons
    losses: list[tuple[int, float]] = []
    start = time.perf_counter()
    with PeakMemory() as mem:
        for step in range(1, cfg.steps + 1):
            x0 = dataset.source(cfg.batch_size, g)
            x1 = dataset.target(cfg.batch_size, g)
            t = torch.rand(cfg.batch_size, generator=g)
            # a latent-noise interpolant draws its z after the shared (x0, x1, t): other methods' batches are unchanged
            extra = (
                {"z": torch.randn(x0.shape, generator=g).to(device)} if getattr(method, "latent_noise", False) else {}
            )
            x0, x1, t = x0.to(device), x1.to(device), t.to(device)
            with autocast:
                loss = method.loss(net, x0, x1, t, **extra)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if average is not None:
                decay = min(cfg.ema, (1 + step) / (10 + step))
                with torch.no_grad():
                    torch._foreach_lerp_(list(average.parameters()), list(net.parameters()), 1 - decay)
            faults.crash_point("train-step")
            if step % cfg.log_every == 0 or step == cfg.steps:
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(f"loss is {value} at step {step}")
                losses.append((step, value))
    if average is not None:
        net = average
    net.eval()
    return Trained(net, losses, time.perf_counter() - start, mem.peak_mb)


def save_checkpoint(path: Path, net: nn.Module, meta: dict) -> None:
    """Write {state_dict, meta} atomically (a temporary file, then rename); meta["weights_hash"]
    is the sha256 of the tensors, checked by every load."""
    state = net.state_dict()
    save_torch_atomically(path, {"state_dict": state, "meta": {**meta, "weights_hash": tensors_hash(state)}},
                          "checkpoint-tmp")  # fmt: skip


def read_checkpoint(path: Path) -> tuple[dict, dict] | None:
    """(state_dict, meta) of an intact checkpoint, or None if `path` is missing, unreadable, or its
    tensors do not match their stored hash (a damaged file: say so on stderr). Loads with
    weights_only=True: no code in the file runs."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = blob["state_dict"], blob["meta"]
        if tensors_hash(state) != meta["weights_hash"]:
            raise ValueError("its tensors do not match their stored sha256")
    except Exception as err:  # a damaged file fails in many ways (zip, unpickler, keys): all mean "unusable"
        first_line = (str(err).splitlines() or [""])[0]
        print(f"warning: checkpoint {path} is damaged ({type(err).__name__}: {first_line}); training again",
              file=sys.stderr)  # fmt: skip
        return None
    return state, meta


def load_checkpoint(path: Path, net: nn.Module, train_key: str) -> dict | None:
    """Load weights into `net` if `path` holds an intact checkpoint of `train_key`; return its meta.

    Returns None when the file is missing or damaged, so the caller retrains instead of using
    it; raises ForeignCheckpoint when it is intact but was written for another training key.
    """
    found = read_checkpoint(path)
    if found is None:
        return None
    state, meta = found
    if meta.get("train_key") != train_key:
        raise ForeignCheckpoint(foreign_message(path, meta, train_key))
    net.load_state_dict(state)
    net.eval()
    return meta


def foreign_message(path: Path, meta: dict, train_key: str) -> str:
    what = ", ".join(f"{k} {meta.get(k)!r}" for k in ("method", "dataset", "seed"))
    return (f"checkpoint {path} belongs to another spec (train key {meta.get('train_key')!r}: {what}), "
            f"not to train key {train_key!r}; move it away or use another results folder")  # fmt: skip
