"""Image cells: sample grids (PNG) and the tables of FD against its floor, from results alone.

Every image cell keeps its first samples (`results/<sweep>/grids/<key>.npy`, uint8
[k, c, h, w]). Sample i of every cell of a seed starts from the same noise, so grids compare
across methods, solvers and step counts tile by tile.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from PIL import Image

FLOOR_METHOD = "floor"
IMAGE_METRICS = ["fd", "kid", "precision", "recall", "confidence", "class_entropy"]


def tile(images: np.ndarray, scale: int = 2) -> np.ndarray:
    """uint8 [k, c, h, w] -> one uint8 picture [rows * h * scale, cols * w * scale(, c)], square-ish."""
    k, c, h, w = images.shape
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    canvas = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i, image in enumerate(images):
        r, q = divmod(i, cols)
        canvas[r * h : (r + 1) * h, q * w : (q + 1) * w] = image.transpose(1, 2, 0)
    canvas = canvas.repeat(scale, 0).repeat(scale, 1)
    return canvas[..., 0] if c == 1 else canvas


def _fd_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per image cell: its FD, FD / floor and the cell's identity."""
    fd = cells[(cells.metric == "fd") & (cells.method != FLOOR_METHOD)]
    return fd.assign(steps=fd.steps.astype("Int64"))


def draw_grids(cells: pd.DataFrame, grid_folder: Path, out_dir: Path) -> list[Path]:
    """A PNG per image cell under out_dir/grids/<dataset>/, and per dataset one figure of each
    method's best cell (lowest FD) side by side: out_dir/<dataset>_best_grids.png."""
    written = []
    fd = _fd_cells(cells)
    for row in fd.itertuples():
        source = grid_folder / f"{row.key}.npy"
        if not source.exists():
            continue
        setting = f"K{row.steps}" if pd.notna(row.steps) else f"tol{row.tol}"
        path = out_dir / "grids" / row.dataset / f"{row.method}_{row.solver}_{setting}_seed{row.seed}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tile(np.load(source))).save(path)
        written.append(path)
    for dataset, frame in fd.groupby("dataset", sort=True):
        best = frame.loc[frame.groupby("method").value.idxmin()].sort_values("value")
        best = best[[(grid_folder / f"{k}.npy").exists() for k in best.key]]
        if best.empty:
            continue
        fig, axes = plt.subplots(1, len(best), figsize=(2.6 * len(best), 3.0), squeeze=False)
        for ax, row in zip(axes[0], best.itertuples()):
            ax.imshow(tile(np.load(grid_folder / f"{row.key}.npy"), scale=1), cmap="gray", vmin=0, vmax=255)
            setting = f"K={row.steps}" if pd.notna(row.steps) else f"tol={row.tol}"
            ratio = f" ({row.vs_floor:.1f}x floor)" if pd.notna(row.vs_floor) else ""
            ax.set_title(
                f"{row.method}\n{row.solver} {setting}, NFE {int(row.nfe)}\nFD {row.value:.3g}{ratio}", fontsize=8
            )
            ax.axis("off")
        fig.suptitle(f"{dataset}: each method's best cell (lowest FD), same noise in every panel", fontsize=9)
        path = out_dir / f"{dataset}_best_grids.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def image_summary(cells: pd.DataFrame, best_only: bool = False) -> str:
    """Markdown: per image dataset, FD (and FD / floor) by method x solver x steps (unless
    `best_only`), and each method's best cell with every image metric."""
    parts = []
    fd = _fd_cells(cells)
    floors = cells[(cells.method == FLOOR_METHOD) & cells.metric.isin(IMAGE_METRICS)]
    for dataset, frame in fd.groupby("dataset", sort=True):
        floor = floors[floors.dataset == dataset].groupby("metric").value.mean()
        reasons = floors[floors.dataset == dataset].reason.dropna()
        what = reasons.iloc[0] if len(reasons) else "held-out real images vs the reference"
        head = (f"## {dataset}: FD\n\nfloor ({what}, {int(frame.n_samples.iloc[0])} "
                f"each, extractor {frame.extractor.iloc[0]}): FD {floor.get('fd', float('nan')):.3f}\n\n")  # fmt: skip
        fixed = frame.dropna(subset=["steps"])
        table = fixed.pivot_table(index=["method", "solver"], columns="steps", values="value", aggfunc="mean")
        ratio = fixed.pivot_table(index=["method", "solver"], columns="steps", values="vs_floor", aggfunc="mean")
        shown = table.map(lambda v: f"{v:.2f}") + ratio.map(lambda v: f" ({v:.1f}x)" if pd.notna(v) else "")
        shown.columns = [f"K={int(k)}" for k in shown.columns]
        if not best_only:
            parts.append(head + "FD (FD / floor), mean over seeds:\n\n" + shown.to_markdown() + "\n")
        best = frame.loc[frame.groupby("method").value.idxmin()]
        metrics = cells[cells.key.isin(best.key)].pivot_table(index="key", columns="metric", values="value")
        kid_sd = cells[cells.key.isin(best.key) & (cells.metric == "kid")].set_index("key").value_sd
        rows = []
        for row in best.sort_values("value").itertuples():
            m = metrics.loc[row.key]
            setting = f"K={row.steps}" if pd.notna(row.steps) else f"tol={row.tol}"
            rows.append({
                "method": row.method, "best cell": f"{row.solver} {setting}", "NFE": int(row.nfe),
                "FD": f"{row.value:.2f}", "FD / floor": f"{row.vs_floor:.1f}" if pd.notna(row.vs_floor) else "",
                "KID": f"{m.get('kid', float('nan')):.4f} ± {float(kid_sd.get(row.key, float('nan'))):.4f}",
                "precision": f"{m.get('precision', float('nan')):.3f}",
                "recall": f"{m.get('recall', float('nan')):.3f}",
                "confidence": f"{m.get('confidence', float('nan')):.3f}",
                "class entropy / log 10": f"{m.get('class_entropy', float('nan')) / math.log(10):.3f}",
                "train s": f"{row.train_seconds:.0f}", "sample s": f"{row.sample_seconds:.1f}",
            })  # fmt: skip
        parts.append(f"### {dataset}: each method's best cell\n\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n")
    return "\n" + "\n".join(parts) if parts else ""
