"""The glue between the harness and torch-fidelity, checked where its choices change a number or a
file: the KID seed and subset sizes it hands over (against torch-fidelity's own KID), the bounds it
accepts, the class-entropy formula, the reference cache's format, validation and crash point, the
extractor's errors, and that a metric prints nothing.

Most tests stand a fake extractor in for the classifier (features computed from the pixels), so
they run in milliseconds; the ones that need the real extractor say so."""

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from bench.evaluate import fidelity
from bench.evaluate.fidelity import (
    ClassifierFeatures,
    FeatureSpace,
    classifier_space,
    default_kid_subset_size,
    extract,
    image_metrics,
    images_hash,
    reference_features,
    reference_key,
)
from bench.store import faults
from bench.store import tensors_hash as weights_hash

SPACE = FeatureSpace("fake", ("features", "logits"), "features", "fake-space")


def fake_extract(images, space):
    """Features that depend on the pixels: the first 6 pixels as features, the next 10 as logits."""
    flat = images.reshape(len(images), -1).float() / 255
    return {"features": flat[:, :6].clone(), "logits": flat[:, 6:16].clone()}


def images(n, seed):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.fixture
def fake(monkeypatch):
    calls = []
    monkeypatch.setattr(fidelity, "extract", lambda x, space: calls.append(len(x)) or fake_extract(x, space))
    return calls


# --- compare: the numbers torch-fidelity is asked for --------------------------------------------


def test_kid_is_torch_fidelitys_kid_with_our_seed_and_subsets_and_the_seed_matters(fake, tmp_path):
    samples, reference = images(40, 1), images(50, 2)
    kw = {"reference_name": "r", "cache_root": tmp_path}
    default, _ = fidelity.compare(samples, reference, SPACE, **kw)
    seeded = {s: fidelity.compare(samples, reference, SPACE, kid_seed=s, **kw)[0]["kid"] for s in (0, 1)}
    f1, f2 = fake_extract(samples, SPACE)["features"], fake_extract(reference, SPACE)["features"]
    for seed in (0, 1):
        theirs = kid_features_to_metric(f1, f2, kid_subsets=100, kid_subset_size=20, rng_seed=seed, verbose=False)
        assert seeded[seed] == (theirs["kernel_inception_distance_mean"], theirs["kernel_inception_distance_std"])
    assert default["kid"] == seeded[0]  # the default seed is 0
    assert seeded[0] != seeded[1]


def test_image_metrics_hands_its_kid_seed_on_and_defaults_to_zero(fake, tmp_path):
    extractor = SimpleNamespace(path=tmp_path / "unused.pt", weights_hash="0" * 64, label="fake")
    samples, reference = images(40, 3), images(50, 4)
    kw = {"reference_name": "r", "cache_root": tmp_path}
    default = image_metrics(samples, reference, extractor, **kw)
    assert default == image_metrics(samples, reference, extractor, kid_seed=0, **kw)
    assert default["kid"] != image_metrics(samples, reference, extractor, kid_seed=1, **kw)["kid"]


def test_class_entropy_is_the_entropy_of_the_predicted_class_histogram(monkeypatch, tmp_path):
    """Predicted classes 0 x 5, 1 x 1, 2 x 3, 7 x 1 (ten samples, six classes never predicted):
    entropy = -sum p log p over the four classes that occur, written out."""
    classes = [0] * 5 + [1] + [2] * 3 + [7]
    logits = torch.full((10, 10), -5.0)
    logits[torch.arange(10), torch.tensor(classes)] = 5.0
    feats = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(fidelity, "extract", lambda x, space: {"features": feats, "logits": logits})
    monkeypatch.setattr(fidelity, "reference_features", lambda *a, **k: {"features": feats, "logits": logits})
    extractor = SimpleNamespace(path=tmp_path / "unused.pt", weights_hash="0" * 64, label="fake")
    metrics = image_metrics(torch.zeros(10), torch.zeros(10), extractor, reference_name="r", cache_root=tmp_path)
    p = [5 / 10, 1 / 10, 3 / 10, 1 / 10]
    assert metrics["class_entropy"] == (pytest.approx(-sum(q * math.log(q) for q in p), abs=1e-12), None)
    top = math.exp(5) / (math.exp(5) + 9 * math.exp(-5))
    assert metrics["confidence"] == (pytest.approx(top, abs=1e-12), None)


def test_the_sizes_compare_accepts(fake, tmp_path):
    kw = {"reference_name": "r", "cache_root": tmp_path}
    with pytest.raises(ValueError, match=r"^precision/recall need more than 3 images in each set$"):
        fidelity.compare(images(3, 0), images(10, 1), SPACE, **kw)
    metrics, _ = fidelity.compare(images(4, 0), images(10, 1), SPACE, kid_subset_size=2, **kw)  # the smallest allowed
    assert set(metrics) == {"fd", "kid", "precision", "recall"}
    for bad in (1, 5):
        with pytest.raises(ValueError, match=rf"^kid_subset_size must be in \[2, 4\], got {bad}$"):
            fidelity.compare(images(4, 0), images(10, 1), SPACE, kid_subset_size=bad, **kw)


def test_the_default_kid_subset_is_half_the_smaller_set_at_most_1000():
    assert default_kid_subset_size(10, 40) == 5
    assert default_kid_subset_size(41, 12) == 6
    assert default_kid_subset_size(2500, 2400) == 1000
    assert default_kid_subset_size(2002, 2002) == 1000


def test_a_metric_prints_nothing(mnist, extractor, tmp_path, capfd):
    """torch-fidelity prints progress and values unless told not to (its default is verbose): through
    the real extractor, and on a pair of sets whose KID is negative (it prints a note then)."""
    image_metrics(mnist.heldout[:60], mnist.reference[:80], extractor, reference_name="q", cache_root=tmp_path)
    same = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    kid = fidelity.kid_featuresdict_to_metric({"f": same}, {"f": same}, "f", kid_subsets=5, kid_subset_size=10,
                                              rng_seed=0, verbose=False)  # fmt: skip
    assert kid["kernel_inception_distance_mean"] < 0  # the case in which torch-fidelity prints a note
    space = SimpleNamespace(metric_layer="f")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fidelity, "extract", lambda x, s: {"f": same})
        m.setattr(fidelity, "reference_features", lambda *a, **k: {"f": same})
        fidelity.compare(torch.zeros(30), torch.zeros(30), space, reference_name="r", cache_root=tmp_path)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# --- the reference cache ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", "..", "../up"])
def test_a_reference_name_must_be_a_plain_file_stem(fake, tmp_path, name):
    with pytest.raises(ValueError, match=rf"^reference_name must be a plain file stem, got {name!r}$"):
        reference_features(images(5, 0), SPACE, reference_name=name, cache_root=tmp_path)
    assert fake == [] and list(tmp_path.iterdir()) == []


def test_a_cache_in_the_documented_format_is_reused(fake, tmp_path):
    """A cache file written by hand in the format the module documents (so one written by an earlier
    revision) is used as is: features, their content hash, and what they were made from."""
    reference = images(8, 0)
    features = {"features": torch.ones(8, 3), "logits": torch.zeros(8, 10)}
    meta = {"space": SPACE.identity, "layers": list(SPACE.layers), "images": images_hash(reference)}
    torch.save({"features": features, "features_hash": weights_hash(features), "meta": meta}, tmp_path / "r.pt")
    before = dict(fidelity.REFERENCE_CACHE_EVENTS)
    got = reference_features(reference, SPACE, reference_name="r", cache_root=tmp_path)
    assert fake == [] and set(got) == set(features)
    assert all(torch.equal(got[k], features[k]) for k in features)
    assert fidelity.REFERENCE_CACHE_EVENTS == {"computed": before["computed"], "reused": before["reused"] + 1}


def test_the_cache_events_count_each_computation_and_each_reuse_once(fake, tmp_path):
    reference = images(8, 0)
    before = dict(fidelity.REFERENCE_CACHE_EVENTS)
    first = reference_features(reference, SPACE, reference_name="r", cache_root=tmp_path)
    assert fidelity.REFERENCE_CACHE_EVENTS == {"computed": before["computed"] + 1, "reused": before["reused"]}
    blob = torch.load(tmp_path / "r.pt", weights_only=True)
    assert blob["meta"] == {"space": "fake-space", "layers": ["features", "logits"], "images": images_hash(reference)}
    second = reference_features(reference, SPACE, reference_name="r", cache_root=tmp_path)
    assert fidelity.REFERENCE_CACHE_EVENTS == {"computed": before["computed"] + 1, "reused": before["reused"] + 1}
    assert fake == [8] and all(torch.equal(first[k], second[k]) for k in first)


def _blob(reference, features):
    meta = {"space": SPACE.identity, "layers": list(SPACE.layers), "images": images_hash(reference)}
    return {"features": features, "features_hash": weights_hash(features), "meta": meta}


class _Payload:
    ran = False

    def __reduce__(self):
        return (_Payload._run, ())

    @staticmethod
    def _run():
        _Payload.ran = True
        return {}


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("hash", "its features do not match their stored hash"),
        ("layers", "its features have the wrong layers or lengths"),
        ("lengths", "its features have the wrong layers or lengths"),
        ("pickle", "Weights only load failed"),
        ("images", "it was made for other images, another extractor or other layers"),
    ],
)
def test_each_kind_of_unusable_cache_is_named_and_recomputed(fake, tmp_path, damage, reason):
    """Each check on its own: a cache that fails only that check is rejected with its reason, in a
    warning, and recomputed; a pickle that would run code is never unpickled."""
    reference = images(8, 0)
    good = {"features": torch.ones(8, 3), "logits": torch.zeros(8, 10)}
    if damage == "hash":
        blob = _blob(reference, good) | {"features_hash": "0" * 64}
    elif damage == "layers":
        blob = _blob(reference, {"features": good["features"]})
    elif damage == "lengths":
        blob = _blob(reference, {"features": torch.ones(7, 3), "logits": torch.zeros(7, 10)})
    elif damage == "pickle":
        blob = _blob(reference, good) | {"extra": _Payload()}
    else:
        blob = _blob(images(8, 1), good)
    torch.save(blob, tmp_path / "r.pt")
    with pytest.warns(UserWarning) as caught:
        got = reference_features(reference, SPACE, reference_name="r", cache_root=tmp_path)
    (warning,) = caught
    assert str(warning.message).startswith(f"{tmp_path / 'r.pt'}: unusable reference cache ({reason}")
    assert str(warning.message).endswith("); recomputing")
    assert not _Payload.ran
    assert fake == [8] and torch.equal(got["features"], fake_extract(reference, SPACE)["features"])
    assert torch.load(tmp_path / "r.pt", weights_only=True)["meta"]["images"] == images_hash(reference)


def test_a_crash_while_writing_the_cache_leaves_no_cache_file(fake, tmp_path, monkeypatch):
    """The write goes through the `features-tmp` crash point: stopped there, no cache file is left."""

    class Killed(Exception):
        pass

    def die():
        raise Killed

    monkeypatch.setenv(faults.ENV, "features-tmp:1")
    monkeypatch.setattr(faults, "_reached", {})
    monkeypatch.setattr(faults, "die", die)
    with pytest.raises(Killed):
        reference_features(images(8, 0), SPACE, reference_name="r", cache_root=tmp_path)
    assert not (tmp_path / "r.pt").exists()


# --- the classifier extractor and its feature space ---------------------------------------------


def test_the_classifier_extractor_names_what_it_needs(extractor):
    with pytest.raises(ValueError) as err:
        ClassifierFeatures("blendbench-classifier", ["features"])
    assert str(err.value) == (
        "blendbench-classifier needs feature_extractor_weights_path=<classifier checkpoint>, "
        "e.g. bench.evaluate.classifier.obtain_classifier(...).path"
    )
    wrong = "f" * 64
    with pytest.raises(ValueError) as err:
        ClassifierFeatures("x", ["features"], str(extractor.path), expected_weights_hash=wrong)
    assert (
        str(err.value) == f"{extractor.path} holds weights {extractor.weights_hash[:12]}, not the expected {wrong[:12]}"
    )
    fe = ClassifierFeatures(
        "x", ["logits", "features"], str(extractor.path), expected_weights_hash=extractor.weights_hash
    )
    for bad in (torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 27, dtype=torch.uint8)):
        with pytest.raises(ValueError) as err:
            fe(bad)
        assert str(err.value) == f"expected uint8 images [n, 1, 28, 28], got {bad.dtype} {tuple(bad.shape)}"
    logits, features = fe(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert logits.shape == (2, 10) and features.shape[0] == 2


def test_the_classifier_space_checks_the_weights_it_was_given(extractor):
    """The space carries the extractor's hash: the same file under another expected hash is refused."""
    space = classifier_space(extractor)
    assert space.identity == extractor.label and space.layers == ("features", "logits")
    other = classifier_space(dataclasses.replace(extractor, weights_hash="e" * 64))
    with pytest.raises(ValueError, match=f"not the expected {'e' * 12}$"):
        extract(images(3, 0), other)


def test_a_reference_key_takes_a_label_as_well_as_an_extractor():
    digest = "0123456789abcdef" * 4
    assert reference_key("blobs", "floor", digest, 64, "inception-42") == "blobs-floor-0123456789ab-n64-inception-42"
