"""Image-quality metrics through torch-fidelity: FD (Heusel et al. 2017, eq. 6), KID (Binkowski et al.
2018, polynomial kernel, unbiased MMD^2) and precision/recall (Kynkaanniemi et al. 2019, k = 3).

The default feature space is the harness's own digit classifier (`bench.evaluate.classifier`), registered
with torch-fidelity as `blendbench-classifier` with two feature layers, `features` (penultimate,
[n, D]; used by FD, KID and precision/recall) and `logits` ([n, 10]). Images enter as uint8
[n, 1, 28, 28]; features are extracted by torch-fidelity's own loop, and the metrics are its
functions (`fid_statistics_to_metric`, `kid_featuresdict_to_metric`, `prc_featuresdict_to_metric`).

Caching: torch-fidelity's cache keys ignore the data and load with `weights_only=False`, so it is
off. Instead the reference set's features are cached here, in `cache_root / {reference_name}.pt`,
loaded with `weights_only=True`, and used only if their stored content hash, the extractor's
identity, the layer list and the reference images' own hash all match; otherwise they are
recomputed with a warning. Generated samples are never cached.

`inception_metrics` is the same in torch-fidelity's Inception-v3 features (FID proper), from a
weights file the caller supplies: nothing is ever downloaded.

`feature_stats` and `fd_from_stats` restate FD in numpy/scipy for direct checks (NVlabs/edm
`fid.py` style: statistics of a feature set, and a distance between two sets of statistics).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch_fidelity
from torch import Tensor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_featuresdict_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_featuresdict_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from bench.data import to_model
from bench.evaluate.classifier import Extractor, load_classifier
from bench.store import save_torch_atomically as save_atomically
from bench.store import tensors_hash as weights_hash

FEATURE_EXTRACTOR = "blendbench-classifier"
INCEPTION = "inception-v3-compat"
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
BATCH_SIZE = 500
KID_SUBSETS = 100
PRC_NEIGHBORHOOD = 3

Metrics = dict[str, tuple[float, float | None]]
"""metric name -> (value, standard deviation over KID subsets, or None)."""


REFERENCE_CACHE_EVENTS = {"computed": 0, "reused": 0}
"""How often this process computed reference features (a miss or an unusable cache) or reused
valid cached ones: sweeps record the difference over a run in its provenance."""


class ClassifierFeatures(FeatureExtractorBase):
    """torch-fidelity's view of the classifier: uint8 [n, c, h, w] -> ('features' [n, D], 'logits' [n, k]),
    (c, h, w) the images the classifier was trained on.

    `feature_extractor_weights_path` (a standard torch-fidelity kwarg) names the classifier
    checkpoint; it is loaded with `weights_only=True` and checked against its weights hash, and
    against `expected_weights_hash` when that is given.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | None = None,
        expected_weights_hash: str | None = None,
        **_: object,
    ) -> None:
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(
                f"{name} needs feature_extractor_weights_path=<classifier checkpoint>, "
                "e.g. bench.evaluate.classifier.obtain_classifier(...).path"
            )
        self.net, meta = load_classifier(Path(feature_extractor_weights_path))
        self.weights_hash: str = meta["weights_hash"]
        if expected_weights_hash is not None and self.weights_hash != expected_weights_hash:
            raise ValueError(
                f"{feature_extractor_weights_path} holds weights {self.weights_hash[:12]}, "
                f"not the expected {expected_weights_hash[:12]}"
            )

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "features"

    # pragma: no mutate start
    # torch-fidelity's compile hooks: the harness never asks it to compile (not mutation-tested).
    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> Tensor:
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    # pragma: no mutate end

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """uint8 [n, c, h, w] -> the requested layers, in the order of `features_list`."""
        if x.dtype != torch.uint8 or tuple(x.shape[1:]) != self.net.shape:
            raise ValueError(f"expected uint8 images [n, {', '.join(map(str, self.net.shape))}], "
                             f"got {x.dtype} {tuple(x.shape)}")  # fmt: skip
        h = self.net.features(to_model(x))
        out = {"features": h, "logits": self.net.out(h)}
        return tuple(out[name] for name in self.features_list)


def register() -> None:
    """Register `blendbench-classifier` with torch-fidelity, once per process (imports call this)."""
    if FEATURE_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(FEATURE_EXTRACTOR, ClassifierFeatures)


register()


class ImageTensorDataset(torch.utils.data.Dataset):
    """Bare image tensors, one [C, H, W] uint8 tensor per item (what torch-fidelity's loader expects)."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


@dataclass(frozen=True)
class FeatureSpace:
    """A registered torch-fidelity extractor with its kwargs, the layers to extract, and its identity."""

    name: str
    layers: tuple[str, ...]
    metric_layer: str
    identity: str
    kwargs: dict = field(default_factory=dict)
    prepare: Callable[[Tensor], Tensor] = lambda images: images
    batch_size: int = BATCH_SIZE


def extract(images: Tensor, space: FeatureSpace) -> dict[str, Tensor]:
    """uint8 images [n, C, H, W] -> {layer: [n, d]} through torch-fidelity's extraction loop, on the CPU."""
    settings = {"verbose": False, "batch_size": space.batch_size, "save_cpu_ram": True, **space.kwargs}
    with torch.random.fork_rng(devices=[]):  # the DataLoader draws a base seed from the global RNG
        fe = create_feature_extractor(space.name, list(space.layers), cuda=False, **settings)
        dataset = ImageTensorDataset(space.prepare(images))
        return get_featuresdict_from_dataset(dataset, fe, space.batch_size, False, True, False)


def images_hash(images: Tensor) -> str:
    """sha256 hex of a uint8 image tensor's shape and bytes."""
    t = images.detach().cpu().contiguous()
    return hashlib.sha256(f"{tuple(t.shape)}|{t.dtype}\n".encode() + t.numpy().tobytes()).hexdigest()


def reference_features(reference: Tensor, space: FeatureSpace, *, reference_name: str, cache_root: Path) -> dict:
    """The reference set's {layer: features [n, d]}, from `cache_root / {reference_name}.pt` when it is valid."""
    if not reference_name or Path(reference_name).name != reference_name or reference_name.startswith("."):
        raise ValueError(f"reference_name must be a plain file stem, got {reference_name!r}")
    path = Path(cache_root) / f"{reference_name}.pt"
    meta = {"space": space.identity, "layers": list(space.layers), "images": images_hash(reference)}
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob["meta"] != meta:
                raise ValueError("it was made for other images, another extractor or other layers")
            features = blob["features"]
            if weights_hash(features) != blob["features_hash"]:
                raise ValueError("its features do not match their stored hash")
            if sorted(features) != sorted(space.layers) or any(len(f) != len(reference) for f in features.values()):
                raise ValueError("its features have the wrong layers or lengths")
            REFERENCE_CACHE_EVENTS["reused"] += 1
            return features
        except Exception as err:  # a damaged file fails in many ways; none of them may be used
            reason = (str(err).splitlines() or [type(err).__name__])[0]
            warnings.warn(f"{path}: unusable reference cache ({reason}); recomputing", stacklevel=2)
            path.unlink(missing_ok=True)
    features = extract(reference, space)
    REFERENCE_CACHE_EVENTS["computed"] += 1
    save_atomically(path, {"features": features, "features_hash": weights_hash(features), "meta": meta}, "features-tmp")
    return features


def default_kid_subset_size(n_samples: int, n_reference: int) -> int:
    """Half the smaller set, at most 1000 (torch-fidelity's default).

    KID's unbiased estimate has the same mean for any subset size; subsets of half the set
    differ from one another, so the standard deviation over subsets says how noisy it is.
    """
    return min(1000, min(n_samples, n_reference) // 2)


def compare(
    samples: Tensor,
    reference: Tensor,
    space: FeatureSpace,
    *,
    reference_name: str,
    cache_root: Path,
    kid_subset_size: int | None = None,
    kid_seed: int = 0,
) -> tuple[Metrics, dict[str, Tensor]]:
    """FD, KID, precision and recall of samples against reference in `space`; also the samples' features."""
    if min(len(samples), len(reference)) <= PRC_NEIGHBORHOOD:
        raise ValueError(f"precision/recall need more than {PRC_NEIGHBORHOOD} images in each set")
    size = default_kid_subset_size(len(samples), len(reference)) if kid_subset_size is None else kid_subset_size
    if not 2 <= size <= min(len(samples), len(reference)):
        raise ValueError(f"kid_subset_size must be in [2, {min(len(samples), len(reference))}], got {size}")
    feats_1 = extract(samples, space)
    feats_2 = reference_features(reference, space, reference_name=reference_name, cache_root=cache_root)
    layer = space.metric_layer
    stats = [fid_featuresdict_to_statistics(f, layer) for f in (feats_1, feats_2)]
    fd = fid_statistics_to_metric(*stats, False)[KEY_METRIC_FID]
    options = {"kid_subsets": KID_SUBSETS, "kid_subset_size": size, "rng_seed": kid_seed, "verbose": False}
    kid = kid_featuresdict_to_metric(feats_1, feats_2, layer, **options)
    prc = prc_featuresdict_to_metric(
        feats_1, feats_2, layer, prc_neighborhood=PRC_NEIGHBORHOOD, save_cpu_ram=True, verbose=False
    )
    metrics: Metrics = {
        "fd": (fd, None),
        "kid": (kid[KEY_METRIC_KID_MEAN], kid[KEY_METRIC_KID_STD]),
        "precision": (prc[KEY_METRIC_PRECISION], None),
        "recall": (prc[KEY_METRIC_RECALL], None),
    }
    return metrics, feats_1


def classifier_space(extractor: Extractor) -> FeatureSpace:
    """The classifier's feature space; its identity is the weights' content hash."""
    kwargs = {"feature_extractor_weights_path": str(extractor.path), "expected_weights_hash": extractor.weights_hash}
    return FeatureSpace(FEATURE_EXTRACTOR, ("features", "logits"), "features", extractor.label, kwargs)


def reference_key(dataset: str, split: str, data_hash: str, n: int, extractor: Extractor | str) -> str:
    """A reference cache name: `{dataset}-{split}-{data_hash[:12]}-n{n}-{extractor label}`."""
    label = extractor.label if isinstance(extractor, Extractor) else extractor
    return f"{dataset}-{split}-{data_hash[:12]}-n{n}-{label}"


def image_metrics(
    samples: Tensor,
    reference: Tensor,
    extractor: Extractor,
    *,
    reference_name: str,
    cache_root: Path,
    kid_subset_size: int | None = None,
    kid_seed: int = 0,
) -> Metrics:
    """Quality of uint8 samples [n, c, h, w] against uint8 reference images [m, c, h, w].

    Returns {name: (value, sd or None)} for `fd`, `kid` (mean and sd over 100 subsets of
    `kid_subset_size`, default `default_kid_subset_size`), `precision`, `recall` (k = 3),
    `confidence` (the classifier's mean top-class probability on the samples) and
    `class_entropy` (entropy in nats of the samples' predicted-class histogram; log k for k
    equally frequent classes, e.g. log 10 = 2.303 for the ten digits, 0 when one class takes all).
    """
    space = classifier_space(extractor)
    metrics, feats = compare(
        samples,
        reference,
        space,
        reference_name=reference_name,
        cache_root=cache_root,
        kid_subset_size=kid_subset_size,
        kid_seed=kid_seed,
    )
    probs = feats["logits"].double().softmax(1)
    counts = torch.bincount(probs.argmax(1)).double()  # classes never predicted are dropped below
    freq = counts[counts > 0] / counts.sum()
    metrics["confidence"] = (float(probs.max(1).values.mean()), None)
    metrics["class_entropy"] = (max(0.0, float(-(freq * freq.log()).sum())), None)
    return metrics


# pragma: no mutate start
# Needs Inception-v3 weights, which this project cannot download (README, "Untested here"): not
# mutation-tested. Its FD, KID and precision/recall are the same functions as the classifier's.
def inception_metrics(
    samples: Tensor,
    reference: Tensor,
    *,
    weights_path: Path | None,
    reference_name: str,
    cache_root: Path,
    kid_subset_size: int | None = None,
    kid_seed: int = 0,
) -> Metrics:
    """FD (FID proper), KID, precision and recall in Inception-v3 pool features (2048-d), never downloading.

    `weights_path` must be torch-fidelity's `weights-inception-2015-12-05-6726825d.pth`. Grey
    images [n, 1, H, W] are repeated to three channels; the extractor resizes to 299x299 itself.
    Slow on a CPU (seconds per hundred images).
    """
    if weights_path is None:
        raise ValueError(
            "Inception-v3 weights are never downloaded: pass weights_path=<a local copy of "
            f"{INCEPTION_WEIGHTS_FILE}> (torch-fidelity's converted TF-FID Inception, "
            "e.g. from ~/.cache/torch/hub/checkpoints/ on a machine that has used torch-fidelity)"
        )
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"Inception weights not found at {path} (expected {INCEPTION_WEIGHTS_FILE})")
    try:  # torch-fidelity loads this file with weights_only=False: first make sure it is plain tensors
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a plain state dict loadable with weights_only=True: {err}") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    space = FeatureSpace(
        INCEPTION,
        ("2048",),
        "2048",
        f"inception-{digest[:12]}",
        {"feature_extractor_weights_path": str(path)},
        lambda images: images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images,
        batch_size=50,  # 299x299x3 inputs: 500 of them would take gigabytes
    )
    metrics, _ = compare(
        samples,
        reference,
        space,
        reference_name=reference_name,
        cache_root=cache_root,
        kid_subset_size=kid_subset_size,
        kid_seed=kid_seed,
    )
    return metrics


# pragma: no mutate end


def feature_stats(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and unbiased covariance [d, d] of features [n, d], in float64."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def fd_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians (Heusel et al. eq. 6).

    The matrix square root is scipy.linalg.sqrtm's, real part; if it is not finite (a singular
    product), 1e-6 is added to both diagonals first, as in pytorch-fid.
    """
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eye = np.eye(len(sigma1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + eye) @ (sigma2 + eye))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean.real))
