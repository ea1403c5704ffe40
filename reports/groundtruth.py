"""The ground-truth section of the report, from the CSV files `python -m bench groundtruth` writes
under results/<sweep>/groundtruth/<dataset>/ (this layer never imports a network or a method)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

PARTS = ["total", "discretization", "learning"]


def section(results_folder: Path) -> str:
    """Markdown for every dataset measured under `results_folder/groundtruth/` ('' if none)."""
    folders = sorted(p for p in (Path(results_folder) / "groundtruth").glob("*") if (p / "slopes.csv").exists())
    return "".join("\n" + markdown(folder) for folder in folders)


def markdown(folder: Path) -> str:
    """The slopes table and the W2 split table of one dataset's ground-truth files."""
    slopes = pd.read_csv(folder / "slopes.csv")
    split = pd.read_csv(folder / "w2_split.csv")
    dataset = slopes.dataset.iloc[0]
    order = slopes.pivot_table(index="solver", columns="field", values="slope", sort=False)
    order.insert(0, "declared order", slopes.groupby("solver", sort=False).order.first())
    fit = slopes.iloc[0]
    method = split.method.iloc[0]
    shown = split.assign(steps=split.steps.astype(int))[["solver", "steps", *PARTS, "model_vs_data", "exact_vs_data"]]
    return (
        f"## {dataset}: ground truth\n\n"
        f"Measured convergence order of each solver on the exact field (RMS endpoint error against RK4 "
        f"at many steps, float64; slope fitted on steps {int(fit.fit_from)}..{int(fit.fit_to)}):\n\n"
        f"{order.to_markdown(floatfmt='.2f')}\n\n"
        f"W2 split of the trained `{method}` model: total = W2(model at K steps, exact reference), "
        f"discretization = W2(exact field at K steps, exact reference), learning = W2(model at many "
        f"steps, exact reference); the last two columns are against held-out data "
        f"(the exact reference, a perfect sampler from the same source points, scores "
        f"{split.exact_ref_vs_data.iloc[0]:.3f} there: differences below that are the sampling noise of W2 "
        f"at this sample size, which the split against the exact reference does not have):\n\n"
        f"{shown.to_markdown(index=False, floatfmt='.4f')}\n"
    )


def render(folder: Path, out_dir: Path) -> list[Path]:
    """Write `<dataset>_groundtruth.md`, `<dataset>_convergence.png` and `<dataset>_w2_split.png`."""
    folder, out_dir = Path(folder), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    errors = pd.read_csv(folder / "convergence.csv")
    split = pd.read_csv(folder / "w2_split.csv")
    dataset = errors.dataset.iloc[0]
    sns.set_theme(style="whitegrid", context="notebook")
    written = []

    grid = sns.relplot(data=errors, x="steps", y="error", hue="solver", col="field", kind="line", marker="o",
                       height=3.0, aspect=1.1)  # fmt: skip
    for ax in grid.axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    grid.set_axis_labels("steps K", "RMS endpoint error")
    grid.figure.suptitle(f"{dataset}: solver error on the exact field", y=1.03)
    written.append(out_dir / f"{dataset}_convergence.png")
    grid.savefig(written[-1], dpi=90, bbox_inches="tight")
    plt.close(grid.figure)

    long = split.melt(id_vars=["solver", "steps"], value_vars=PARTS, var_name="part", value_name="w2")
    grid = sns.relplot(data=long, x="steps", y="w2", hue="part", hue_order=PARTS, col="solver", kind="line",
                       marker="o", height=3.0, aspect=1.1)  # fmt: skip
    for ax in grid.axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    grid.set_axis_labels("steps K", "W2 to the exact reference")
    grid.figure.suptitle(f"{dataset}: {split.method.iloc[0]}'s W2, discretization vs learning", y=1.03)
    written.append(out_dir / f"{dataset}_w2_split.png")
    grid.savefig(written[-1], dpi=90, bbox_inches="tight")
    plt.close(grid.figure)

    written.append(out_dir / f"{dataset}_groundtruth.md")
    written[-1].write_text(markdown(folder))
    return written
