"""The classifier whose penultimate layer is the feature space of FD, KID and precision/recall.

Inception-v3 features are the usual choice for FID on natural images (Heusel et al. 2017); for
28x28 digits the common practice is a small classifier trained on the dataset itself, and the
harness does the same for any labelled set (its input channels, image size and class count
follow the data). The harness
trains it with one fixed recipe on the `train` split only, measures its accuracy on `reference` +
`heldout`, and caches the weights in `{dataset}-classifier-{key}.pt`, the key hashing the data's
content hash and the recipe. The weights' own content hash (`weights_hash`) names the feature
space in every cache entry and result built on it; a checkpoint whose tensors no longer match
their stored hash is never used.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.data import ImageSplits, to_model
from bench.fingerprint import fingerprint
from bench.rng import derive_seed, generator
from bench.store import save_torch_atomically as save_atomically
from bench.store import tensors_hash as weights_hash


class Classifier(nn.Module):
    """Three conv blocks (the first strided, a max-pool after the second), a hidden layer, the logits.

    Each block is conv, batch norm, ReLU; the hidden layer is linear, batch norm, ReLU.

    Shapes for width w, feature_dim D and k classes: [n, 1, 28, 28] -> [n, w, 14, 14]
    -> [n, 2w, 7, 7] -> [n, 4w, 7, 7] -> features [n, D] -> logits [n, k]; for [n, c, h, w] the
    blocks give h' = w' = floor(floor(h / 2) / 2) (one stride 2, one pool), so the hidden layer
    follows the image size.
    """

    def __init__(self, width: int = 16, feature_dim: int = 128, shape: tuple[int, int, int] = (1, 28, 28),
                 classes: int = 10) -> None:  # fmt: skip
        super().__init__()
        channels, h, w = shape
        h, w = ((h + 2 - 4) // 2 + 1) // 2, ((w + 2 - 4) // 2 + 1) // 2
        if min(h, w) < 1:
            raise ValueError(f"the classifier takes images of at least 4 x 4 pixels, got {shape[1]} x {shape[2]}")
        self.shape = tuple(shape)

        def block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
            conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=1, bias=False)
            return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())

        self.conv = nn.Sequential(
            block(channels, width, 4, 2), block(width, 2 * width, 3, 1), nn.MaxPool2d(2),
            block(2 * width, 4 * width, 3, 1),
        )  # fmt: skip
        # batch norm before the ReLU keeps every hidden unit alive (without it Adam leaves ~3/4 of them dead)
        self.hidden = nn.Sequential(nn.Linear(4 * width * h * w, feature_dim, bias=False), nn.BatchNorm1d(feature_dim))
        self.out = nn.Linear(feature_dim, classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations (the hidden layer after its ReLU): float [n, c, h, w] in [-1, 1] -> [n, D]."""
        return F.relu(self.hidden(self.conv(x).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        """Logits: float [n, c, h, w] in [-1, 1] -> [n, k]."""
        return self.out(self.features(x))


@dataclass(frozen=True)
class ClassifierRecipe:
    """How the classifier is trained (Adam, cosine decay, random shifts); every field is in the cache key."""

    arch: str = "cnn3-bn-v1"
    width: int = 16
    feature_dim: int = 128
    epochs: int = 8
    batch_size: int = 64
    lr: float = 4e-3
    max_shift: int = 2
    seed: int = 0


RECIPE = ClassifierRecipe()


class CheckpointError(ValueError):
    """A classifier checkpoint that cannot be read, or whose weights do not match their stored hash."""


@dataclass
class Extractor:
    """A trained classifier ready to embed images, with the provenance of its weights."""

    net: Classifier
    weights_hash: str
    accuracy: float
    path: Path
    dataset: str
    recipe: ClassifierRecipe
    seconds: float
    trained: bool
    """True when this call trained the network, False when it was loaded from `path`."""

    @property
    def label(self) -> str:
        """The feature space's name in cache keys and result rows, e.g. `classifier-0123456789ab`."""
        return f"classifier-{self.weights_hash[:12]}"


def shift_images(x: Tensor, max_shift: int, g: torch.Generator) -> Tensor:
    """Translate each image by its own integer offset in [-max_shift, max_shift]^2, filling with background.

    x: float [n, c, H, W] in [-1, 1] (background -1) -> [n, c, H, W].
    """
    if max_shift == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w))[:, None, :].expand(n, h, w)
    if c == 1:  # the MNIST path, indexed exactly as it always was
        return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    return padded.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols].permute(0, 3, 1, 2)


def build_classifier(recipe: ClassifierRecipe, shape: tuple[int, int, int] = (1, 28, 28),
                     classes: int = 10) -> Classifier:  # fmt: skip
    """The untrained network for images of `shape` and `classes` classes, initialised from the
    recipe's seed without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(recipe.seed, "classifier-init"))
        return Classifier(width=recipe.width, feature_dim=recipe.feature_dim, shape=shape, classes=classes)


def train_classifier(splits: ImageSplits, recipe: ClassifierRecipe = RECIPE) -> Classifier:
    """Cross-entropy on `splits.train` only: Adam, cosine learning-rate decay, random shifts.

    Every batch order and shift comes from a generator seeded by the recipe, so two trainings in
    one process (with `torch.use_deterministic_algorithms(True)`) give bitwise-identical weights,
    and so do trainings in separate processes with the same number of CPU threads. Another thread
    count splits float reductions differently and gives other weights (on mnist5k: 1 thread 98.4%,
    2 threads 98.1% held-out accuracy); `weights_hash` names whichever weights are in use.
    Returns the network in eval mode.
    """
    if not splits.labelled:
        raise ValueError(f"{splits.name} has no labels: the classifier extractor trains on them; "
                         'use extractor = "inception" with --inception-weights PATH')  # fmt: skip
    net = build_classifier(recipe, splits.shape, splits.classes)
    images, labels = to_model(splits.train), splits.train_labels
    n = len(images)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs * -(-n // recipe.batch_size))
    g = generator(recipe.seed, "classifier-train", splits.name)
    net.train()
    for _ in range(recipe.epochs):
        for idx in torch.randperm(n, generator=g).split(recipe.batch_size):
            loss = F.cross_entropy(net(shift_images(images[idx], recipe.max_shift, g)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def classify(net: Classifier, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Class probabilities of a network in eval mode: uint8 [n, c, h, w] -> float [n, k]."""
    return torch.cat([net(to_model(b)).softmax(1) for b in images.split(batch_size)])


def accuracy(net: Classifier, images: Tensor, labels: Tensor) -> float:
    """Fraction of uint8 images [n, c, h, w] whose most probable class is the int64 label [n]."""
    return float((classify(net, images).argmax(1) == labels).double().mean())


def checkpoint_path(splits: ImageSplits, folder: Path, recipe: ClassifierRecipe = RECIPE) -> Path:
    """`folder / {dataset}-classifier-{key}.pt`, key a hash of the data's content hash, the recipe
    and the code that trains it (`bench.fingerprint`)."""
    blob = json.dumps({"data": splits.content_hash, "recipe": asdict(recipe), "code": fingerprint(train_classifier)},
                      sort_keys=True)  # fmt: skip
    return Path(folder) / f"{splits.name}-classifier-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.pt"


META_KEYS = frozenset({"weights_hash", "accuracy", "dataset", "data_hash", "recipe", "seconds"})


def load_classifier(path: Path) -> tuple[Classifier, dict]:
    """The network in `path` and its meta, after checking the weights against their stored hash.

    Loads with `weights_only=True` (no code in the file runs). Raises CheckpointError when the
    file is unreadable, malformed, or its tensors do not hash to `meta["weights_hash"]`.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = blob["state_dict"], blob["meta"]
        missing = sorted(META_KEYS - set(meta))
        if missing:
            raise CheckpointError(f"{path}: meta lacks {', '.join(missing)}")
        found = weights_hash(state)
        if found != meta["weights_hash"]:
            raise CheckpointError(f"{path}: weights hash {found[:12]} != stored {str(meta['weights_hash'])[:12]}")
        with torch.random.fork_rng(devices=[]):  # the default initialisation, overwritten below, draws from it
            net = Classifier(width=meta["recipe"]["width"], feature_dim=meta["recipe"]["feature_dim"],
                             shape=tuple(meta.get("shape", (1, 28, 28))), classes=meta.get("classes", 10))  # fmt: skip
        net.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as err:  # a damaged file fails in many ways (zip, unpickler, keys, shapes): all mean "unusable"
        first_line = (str(err).splitlines() or [""])[0]
        raise CheckpointError(
            f"{path}: unreadable classifier checkpoint ({type(err).__name__}: {first_line})"
        ) from None
    return net.eval(), meta


def obtain_classifier(
    splits: ImageSplits, folder: Path, *, train_if_missing: bool = True, recipe: ClassifierRecipe = RECIPE
) -> Extractor:
    """The dataset's classifier from `checkpoint_path(splits, folder, recipe)`, training it if needed.

    A checkpoint that fails its hash check, is unreadable, or was made for other data or another
    recipe is never used: it is retrained with a warning (or, with `train_if_missing=False`,
    FileNotFoundError is raised, as for a missing file). Training is on `splits.train` only; the
    accuracy is measured on `splits.reference` + `splits.heldout`.
    """
    path = checkpoint_path(splits, folder, recipe)
    problem = f"no classifier checkpoint at {path}"
    if path.exists():
        try:
            net, meta = load_classifier(path)
            expected = {"dataset": splits.name, "data_hash": splits.content_hash, "recipe": asdict(recipe)}
            stale = [k for k, v in expected.items() if meta.get(k) != v]
            if stale:
                raise CheckpointError(f"{path}: made for another {', '.join(stale)}")
            return Extractor(
                net, meta["weights_hash"], meta["accuracy"], path, splits.name, recipe, meta["seconds"], trained=False
            )
        except CheckpointError as err:
            problem = str(err)
    if not train_if_missing:
        raise FileNotFoundError(f"{problem}; call obtain_classifier with train_if_missing=True to train it")
    if path.exists():
        warnings.warn(f"{problem}; retraining the classifier", stacklevel=2)
    start = time.perf_counter()
    net = train_classifier(splits, recipe)
    seconds = time.perf_counter() - start
    acc = accuracy(
        net, torch.cat([splits.reference, splits.heldout]), torch.cat([splits.reference_labels, splits.heldout_labels])
    )
    digest = weights_hash(net.state_dict())
    meta = {
        "weights_hash": digest,
        "accuracy": acc,
        "dataset": splits.name,
        "data_hash": splits.content_hash,
        "recipe": asdict(recipe),
        "seconds": seconds,
        "torch": str(torch.__version__),
        "shape": list(splits.shape),
        "classes": splits.classes,
    }
    save_atomically(path, {"state_dict": net.state_dict(), "meta": meta})
    return Extractor(net, digest, acc, path, splits.name, recipe, seconds, trained=True)
