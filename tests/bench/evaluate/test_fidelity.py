"""Image metrics against direct computations: FD in closed form and from scipy's sqrtm on the same
features, KID from the unbiased MMD^2 formula written out, the reference cache reused and its damage
detected, and the Inception path refusing to download."""

import math

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from bench.data.images import to_model
from bench.evaluate.fidelity import (
    FEATURE_EXTRACTOR,
    INCEPTION_WEIGHTS_FILE,
    ClassifierFeatures,
    ImageTensorDataset,
    fd_from_stats,
    feature_stats,
    image_metrics,
    inception_metrics,
    reference_key,
    register,
)

LOG10 = math.log(10)


@pytest.fixture
def key(mnist, extractor):
    return reference_key(mnist.name, "reference", mnist.content_hash, len(mnist.reference), extractor)


def direct_features(extractor, images):
    with torch.no_grad():
        return extractor.net.features(to_model(images)).numpy()


def correlated(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + rng.normal(size=d)


def test_fd_of_a_set_with_itself_vanishes_and_a_shift_adds_its_squared_length():
    x = correlated(500, 32, 0)
    mu, sigma = feature_stats(x)
    assert abs(fd_from_stats(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)
    direction = np.random.default_rng(1).normal(size=32)
    offsets = [0.1, 0.3, 1.0, 3.0, 10.0]
    fds = [fd_from_stats(mu, sigma, *feature_stats(x + c * direction)) for c in offsets]
    assert all(a < b for a, b in zip(fds, fds[1:]))
    for c, fd in zip(offsets, fds):
        assert fd == pytest.approx(c**2 * direction @ direction, rel=1e-6)


def test_fd_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    sd1, sd2 = rng.uniform(0.5, 2, size=8), rng.uniform(0.5, 2, size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((sd1 - sd2) ** 2)
    assert fd_from_stats(mu1, np.diag(sd1**2), mu2, np.diag(sd2**2)) == pytest.approx(expected, rel=1e-10)


def test_feature_statistics_are_float64_mean_and_unbiased_covariance():
    """Written out: mean over samples and sum (f - mean)(f - mean)^T / (n - 1), in float64 even for
    float32 features (float32 sums would be ~1e-7 off)."""
    f32 = torch.from_numpy(correlated(300, 6, 5)).float()
    mu, sigma = feature_stats(f32)
    f = f32.double().numpy()
    centred = f - f.sum(0) / len(f)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, f.sum(0) / len(f), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(sigma, centred.T @ centred / (len(f) - 1), rtol=1e-12, atol=1e-13)


def test_a_singular_product_is_regularised_as_pytorch_fid_does(monkeypatch):
    """When sqrtm(S1 S2) is not finite, 1e-6 goes on both diagonals: sqrtm((S1 + eps I)(S2 + eps I))."""
    import scipy.linalg

    real_sqrtm, seen = scipy.linalg.sqrtm, []

    def sqrtm(m):
        seen.append(m.copy())
        return np.full_like(m, np.nan) if len(seen) == 1 else real_sqrtm(m)

    monkeypatch.setattr(scipy.linalg, "sqrtm", sqrtm)
    rng = np.random.default_rng(6)
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    s1, s2 = np.diag([1.0, 2.0, 0.5]), np.diag([0.5, 1.0, 3.0])
    fd = fd_from_stats(mu1, s1, mu2, s2)
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0], s1 @ s2)
    np.testing.assert_allclose(seen[1], (s1 + 1e-6 * np.eye(3)) @ (s2 + 1e-6 * np.eye(3)), rtol=0, atol=1e-15)
    d1, d2 = np.diag(s1) + 1e-6, np.diag(s2) + 1e-6
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(d1 * d2))
    assert fd == pytest.approx(expected, rel=1e-12)


def test_the_extractor_names_its_layers_for_torch_fidelity():
    """torch-fidelity asks an extractor which layer each metric reads: logits for the Inception
    score, features for the rest."""
    assert ClassifierFeatures.get_provided_features_list() == ("features", "logits")
    assert ClassifierFeatures.get_default_feature_layer_for_metric("isc") == "logits"
    for metric in ("fid", "kid", "prc"):
        assert ClassifierFeatures.get_default_feature_layer_for_metric(metric) == "features"


def test_fd_agrees_with_torch_fidelity_on_full_covariances():
    s1, s2 = feature_stats(correlated(400, 16, 3)), feature_stats(correlated(400, 16, 4))
    theirs = fid_statistics_to_metric({"mu": s1[0], "sigma": s1[1]}, {"mu": s2[0], "sigma": s2[1]}, False)
    assert fd_from_stats(*s1, *s2) == pytest.approx(theirs["frechet_inception_distance"], rel=1e-8)


def test_image_fd_equals_fd_of_directly_computed_features(mnist, extractor, key, tmp_path):
    metrics = image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    direct = fd_from_stats(
        *feature_stats(direct_features(extractor, mnist.heldout)),
        *feature_stats(direct_features(extractor, mnist.reference)),
    )
    assert metrics["fd"][0] == pytest.approx(direct, rel=1e-4)
    assert metrics["fd"][1] is None
    # The same extractor through torch-fidelity's own entry point (its registry, no cache).
    theirs = torch_fidelity.calculate_metrics(
        input1=ImageTensorDataset(mnist.heldout),
        input2=ImageTensorDataset(mnist.reference),
        feature_extractor=FEATURE_EXTRACTOR,
        feature_extractor_weights_path=str(extractor.path),
        fid=True,
        cuda=False,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
        batch_size=500,
    )
    assert metrics["fd"][0] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)


def test_reference_features_are_cached_and_reused(mnist, extractor, key, tmp_path, monkeypatch):
    seen = []
    forward = ClassifierFeatures.forward
    monkeypatch.setattr(ClassifierFeatures, "forward", lambda self, x: seen.append(len(x)) or forward(self, x))
    first = image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    assert sum(seen) == 1000
    cache = tmp_path / f"{key}.pt"
    stamp = cache.stat().st_mtime_ns
    seen.clear()
    second = image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    assert sum(seen) == 500  # the samples only
    assert cache.stat().st_mtime_ns == stamp
    assert second == first


@pytest.mark.parametrize("damage", ["tampered", "truncated", "other-images"])
def test_a_damaged_reference_cache_is_detected_and_recomputed(mnist, extractor, key, tmp_path, damage):
    clean = image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    cache = tmp_path / f"{key}.pt"
    if damage == "tampered":  # a readable file whose features no longer match their stored hash
        blob = torch.load(cache, weights_only=True)
        blob["features"]["features"][0, 0] += 1.0
        torch.save(blob, cache)
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1000])
    else:  # another reference set cached under this name (it replaces the entry, with a warning)
        with pytest.warns(UserWarning, match="other images"):
            image_metrics(mnist.heldout, mnist.train[:500], extractor, reference_name=key, cache_root=tmp_path)
    with pytest.warns(UserWarning, match="recomputing"):
        again = image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    assert again == clean


def test_kid_subsets_vary_and_full_size_subsets_give_the_unbiased_mmd(mnist, extractor, key, tmp_path):
    rolled = torch.roll(mnist.heldout, 3, dims=3)  # a mediocre "generator": digits moved 3 px right
    kw = {"reference_name": key, "cache_root": tmp_path}
    half = image_metrics(rolled, mnist.reference, extractor, **kw)
    assert half["kid"][1] > 0
    full = image_metrics(rolled, mnist.reference, extractor, kid_subset_size=500, **kw)
    x = direct_features(extractor, rolled).astype(np.float64)
    y = direct_features(extractor, mnist.reference).astype(np.float64)
    d, m = x.shape[1], len(x)
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    mmd2 = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2
    assert full["kid"][0] == pytest.approx(mmd2, rel=1e-3)
    assert full["kid"][1] == pytest.approx(0, abs=1e-4 * abs(mmd2))  # every subset is the whole set (float32 sums)
    assert half["kid"][0] == pytest.approx(mmd2, rel=0.1)  # the same expectation, from 100 subsets of 250
    with pytest.raises(ValueError, match="kid_subset_size"):
        image_metrics(rolled, mnist.reference, extractor, kid_subset_size=501, **kw)


def test_the_classifier_view_of_real_digits_and_of_noise(mnist, extractor, key, tmp_path):
    kw = {"reference_name": key, "cache_root": tmp_path}
    real = image_metrics(mnist.heldout, mnist.reference, extractor, **kw)
    assert real["confidence"][0] >= 0.9
    assert 0.95 * LOG10 <= real["class_entropy"][0] <= LOG10 + 1e-12
    noise = torch.randint(0, 256, (500, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    fake = image_metrics(noise, mnist.reference, extractor, **kw)
    assert fake["class_entropy"][0] < 0.5 * LOG10
    assert fake["fd"][0] > 10 * real["fd"][0]
    assert fake["kid"][0] > 10 * abs(real["kid"][0])
    assert fake["precision"][0] < 0.05 < real["precision"][0]
    predicted = torch.bincount(extractor.net(to_model(noise)).argmax(1), minlength=10).double() / 500
    entropy = -sum(p * math.log(p) for p in predicted.tolist() if p > 0)
    assert fake["class_entropy"][0] == pytest.approx(entropy, abs=1e-9)


def test_metrics_leave_the_global_rng_alone(mnist, extractor, key, tmp_path):
    before = torch.random.get_rng_state()
    image_metrics(mnist.heldout, mnist.reference, extractor, reference_name=key, cache_root=tmp_path)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_registration_is_idempotent():
    register()
    register()
    assert FEATURE_EXTRACTORS_REGISTRY[FEATURE_EXTRACTOR] is ClassifierFeatures


def test_register_puts_the_classifier_extractor_in_torch_fidelitys_registry():
    """`register` runs at import; here it runs again on a registry without the entry."""
    saved = FEATURE_EXTRACTORS_REGISTRY.pop(FEATURE_EXTRACTOR)
    try:
        register()
        assert FEATURE_EXTRACTORS_REGISTRY[FEATURE_EXTRACTOR] is ClassifierFeatures
    finally:
        FEATURE_EXTRACTORS_REGISTRY[FEATURE_EXTRACTOR] = saved


def test_reference_key_names_data_count_and_weights(mnist, extractor):
    key = reference_key("mnist5k", "reference", mnist.content_hash, 500, extractor)
    assert key == f"mnist5k-reference-{mnist.content_hash[:12]}-n500-classifier-{extractor.weights_hash[:12]}"


class _Payload:
    ran = False

    def __reduce__(self):
        return (_Payload._run, ())

    @staticmethod
    def _run():
        _Payload.ran = True


def test_inception_without_weights_never_downloads(mnist, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", refuse)
    kw = {"reference_name": "inception-test", "cache_root": tmp_path}
    with pytest.raises(ValueError, match="never downloaded") as err:
        inception_metrics(mnist.heldout, mnist.reference, weights_path=None, **kw)
    assert INCEPTION_WEIGHTS_FILE in str(err.value) and "weights_path=" in str(err.value)
    with pytest.raises(FileNotFoundError, match=INCEPTION_WEIGHTS_FILE):
        inception_metrics(mnist.heldout, mnist.reference, weights_path=tmp_path / "missing.pth", **kw)
    hostile = tmp_path / INCEPTION_WEIGHTS_FILE
    torch.save({"weight": torch.zeros(1), "extra": _Payload()}, hostile)
    with pytest.raises(ValueError, match="weights_only"):
        inception_metrics(mnist.heldout, mnist.reference, weights_path=hostile, **kw)
    assert not _Payload.ran
    assert list(tmp_path.iterdir()) == [hostile]


def knn_precision_recall(fake: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkaanniemi et al. 2019, written out: a point's ball reaches its k-th nearest neighbour in
    its own set; precision is the share of generated points inside some real ball, recall the
    share of real points inside some generated ball."""

    def radii(points):
        d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def covered(queries, centres, r):
        d = np.sqrt(((queries[:, None] - centres[None]) ** 2).sum(-1))
        return float((d <= r[None]).any(1).mean())

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


def test_precision_and_recall_are_not_swapped(monkeypatch, tmp_path):
    """Generated features on a small part of the real ones: precision near 1, recall low. The
    glue (`compare`) must return them under their names, equal to the definition written out."""
    from types import SimpleNamespace

    from bench.evaluate import fidelity

    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 6))
    fake = 0.3 * rng.normal(size=(150, 6))  # the real distribution's core only
    features = {
        "samples": torch.tensor(fake, dtype=torch.float32),
        "reference": torch.tensor(real, dtype=torch.float32),
    }
    monkeypatch.setattr(fidelity, "extract", lambda images, space: {"features": features["samples"]})
    monkeypatch.setattr(fidelity, "reference_features", lambda images, space, **_: {"features": features["reference"]})
    metrics, _ = fidelity.compare(torch.zeros(150), torch.zeros(200), SimpleNamespace(metric_layer="features"),
                                  reference_name="r", cache_root=tmp_path)  # fmt: skip
    precision, recall = knn_precision_recall(fake.astype(np.float32), real.astype(np.float32))
    assert precision > 0.9 and recall < 0.5  # far apart: a swap cannot pass
    assert metrics["precision"][0] == pytest.approx(precision, abs=1e-9)
    assert metrics["recall"][0] == pytest.approx(recall, abs=1e-9)
