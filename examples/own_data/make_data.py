"""Write the own-data example's files: a 5-D point cloud (data/cloud5.csv) and a labelled RGB set
of coloured discs and squares (data/shapes.npz, 32 x 32 x 3, 4 classes).

    python examples/own_data/make_data.py            # then: python -m bench sweep --spec examples/own_data/sweep.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

COLOURS = np.array([[230, 40, 40], [40, 80, 230], [40, 200, 60], [230, 210, 40]], dtype=np.uint8)
"""Classes 0-3: a red disc, a blue disc, a green square, a yellow square."""


def shapes(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, size, size, 3] and int64 labels [n]: one coloured disc or square per image, at a
    random place and size, on a dark background; the classes cycle 0, 1, 2, 3."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.full((n, size, size, 3), 20, dtype=np.uint8)
    labels = np.arange(n) % 4
    for i, k in enumerate(labels):
        r = rng.uniform(size / 6, size / 3.5)
        cy, cx = rng.uniform(r, size - r, 2)
        if k < 2:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (abs(yy - cy) <= 0.85 * r) & (abs(xx - cx) <= 0.85 * r)
        out[i][mask] = COLOURS[k]
    return out, labels


def cloud(n: int = 3000, d: int = 5, seed: int = 1) -> np.ndarray:
    """A Gaussian point cloud in d dimensions with unequal scales (0.3 to 2) and an offset (0 .. d-1)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * np.linspace(0.3, 2.0, d) + np.arange(d)).astype(np.float32)


def main(folder: Path, images: int = 2000, size: int = 32) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cloud(), columns=[f"x{i}" for i in range(5)]).to_csv(folder / "cloud5.csv", index=False)
    x, y = shapes(images, size)
    np.savez(folder / "shapes.npz", images=x, labels=y)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
