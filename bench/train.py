"""Training one network for one (method, dataset, seed, recipe), and its checkpoint."""

from __future__ import annotations

import copy
import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.data import Dataset
from bench.memory import PeakMemory
from bench.nets import MLP
from bench.rng import derive_seed, generator
from bench.spec import TrainConfig
from bench.unet import UNet
from methods import Method
from methods.base import net_outputs


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; no checkpoint is written."""


@dataclass
class Trained:
    net: nn.Module
    losses: list[tuple[int, float]]
    seconds: float
    peak_mb: float


def build_net(dataset: Dataset, cfg: TrainConfig, seed: int, outputs: int = 1) -> nn.Module:
    """The shared network of the dataset's kind (an MLP on 2D points, a UNet on images),
    initialised from its own seed without touching the global RNG. outputs: how many fields of
    the data's shape it returns side by side along dim 1 (`methods.base.net_outputs`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        if dataset.kind == "images":
            return UNet(dataset.dims[0], width=cfg.width, depth=cfg.depth, time_freqs=cfg.time_freqs, patch=cfg.patch,
                        outputs=outputs)  # fmt: skip
        return MLP(dim=dataset.dims[0], width=cfg.width, depth=cfg.depth, time_freqs=cfg.time_freqs, outputs=outputs)


def train(method: Method, dataset: Dataset, cfg: TrainConfig, seed: int) -> Trained:
    """Adam with cosine learning-rate decay on fresh (source, target, t) batches each step.

    With cfg.ema > 0 the returned network holds an exponential moving average of the weights,
    its decay warming up as min(ema, (1 + step) / (10 + step)).
    """
    net = build_net(dataset, cfg, seed, net_outputs(method))
    average = copy.deepcopy(net) if cfg.ema > 0 else None
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
            extra = {"z": torch.randn(x0.shape, generator=g)} if getattr(method, "latent_noise", False) else {}
            loss = method.loss(net, x0, x1, t, **extra)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if average is not None:
                decay = min(cfg.ema, (1 + step) / (10 + step))
                with torch.no_grad():
                    torch._foreach_lerp_(list(average.parameters()), list(net.parameters()), 1 - decay)
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
    """Write {state_dict, meta} atomically: to a temporary file, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"state_dict": net.state_dict(), "meta": meta}, buffer)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, net: nn.Module, train_key: str) -> dict | None:
    """Load weights into `net` if `path` holds the checkpoint of `train_key`; return its meta.

    Returns None when the file is missing, unreadable or belongs to another spec, so the
    caller retrains instead of using it. Loads with weights_only=True (no code runs).
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = blob["meta"]
        if meta.get("train_key") != train_key:
            return None
        net.load_state_dict(blob["state_dict"])
    except (OSError, RuntimeError, KeyError, TypeError, EOFError, ValueError):
        return None
    net.eval()
    return meta
