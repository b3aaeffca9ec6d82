"""scikit-learn's own estimator checks on NeuralNetClassifier and NeuralNetRegressor, and
the prediction contract: deterministic, independent of batch composition."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from chainrule.train import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

# Small and quick, yet enough to pass the checks that demand a decent fit.
CHECKED = [
    NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=20, lr=1e-2),
    NeuralNetRegressor(hidden_layer_sizes=(16,), epochs=20, lr=1e-2),
]

# The one check we fail, and why (the reason a scikit-learn maintainer would read).
# Not strict: the regressor passes it on our machine, by the luck of float32 rounding.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32 training: weighted and repeated full-batch fits agree to float32 "
        "rounding (~3e-7), not to the check's rtol=1e-7; the loss is exact in float64 "
        "(tests/test_loss_weights.py) and SGD steps equal in expectation "
        "(tests/test_weighted_training.py)"
    ),
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def blobs(n=300, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, 4))
    y = rng.integers(0, classes, n)
    return centres[y] + rng.normal(0, 1, (n, 4)), y


def test_prediction_does_not_depend_on_the_batch_it_is_in():
    x, y = blobs()
    model = NeuralNetClassifier(hidden_layer_sizes=(32,), epochs=3).fit(x, y)
    many = np.concatenate([x] * 5)  # 1500 rows: more than one prediction batch
    at_once = model.predict_proba(many)
    one_by_one = np.concatenate([model.predict_proba(row[None]) for row in x[:50]])
    np.testing.assert_allclose(one_by_one, at_once[:50], rtol=1e-7, atol=0)
    np.testing.assert_allclose(model.predict_proba(many[1100:1200]), at_once[1100:1200], rtol=1e-7)
    np.testing.assert_allclose(at_once[:300], at_once[1200:], rtol=1e-7)
    regressor = NeuralNetRegressor(hidden_layer_sizes=(8,), epochs=2).fit(x, y.astype(float))
    np.testing.assert_allclose(
        np.concatenate([regressor.predict(row[None]) for row in x[:20]]),
        regressor.predict(x)[:20],
        rtol=1e-7,
    )


def test_fit_is_deterministic_and_leaves_the_callers_random_stream_alone():
    import chainrule as cr

    x, y = blobs()
    cr.manual_seed(123)
    before = cr.backend.get_rng_state()
    first = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=2).fit(x, y).predict_proba(x)
    assert cr.backend.get_rng_state() == before
    second = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=2).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, second)
    other = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=2, seed=1).fit(x, y)
    assert not np.array_equal(other.predict_proba(x), first)


def test_sample_weight_reaches_the_estimator_through_grid_search_cv():
    from sklearn.model_selection import GridSearchCV

    x, y = blobs(200, 2)
    w = np.where(y == 1, 5.0, 1.0)
    search = GridSearchCV(
        NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=3), {"lr": [1e-3, 1e-2]}, cv=2
    ).fit(x, y, sample_weight=w)
    direct = NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=3, **search.best_params_)
    unweighted = direct.fit(x, y).predict_proba(x)
    weighted = direct.fit(x, y, sample_weight=w).predict_proba(x)
    np.testing.assert_array_equal(search.best_estimator_.predict_proba(x), weighted)
    assert not np.allclose(weighted, unweighted)


def test_class_weight_balanced_is_scikit_learns_and_helps_the_rare_class():
    from sklearn.metrics import recall_score
    from sklearn.utils.class_weight import compute_sample_weight

    x, y = blobs(400, 2, seed=4)
    x = x + np.random.default_rng(1).normal(0, 3, x.shape)  # overlapping classes
    keep = (y == 0) | (np.arange(len(y)) % 8 == 0)  # about 1 in 9 samples of class 1
    x, y = x[keep], np.where(y[keep] == 1, "rare", "common")
    params = dict(hidden_layer_sizes=(16,), epochs=10, lr=1e-2)
    balanced = NeuralNetClassifier(class_weight="balanced", **params).fit(x, y)
    by_hand = NeuralNetClassifier(**params).fit(
        x, y, sample_weight=compute_sample_weight("balanced", y)
    )
    np.testing.assert_array_equal(balanced.predict_proba(x), by_hand.predict_proba(x))
    plain = NeuralNetClassifier(**params).fit(x, y)
    recall = {
        name: recall_score(y, model.predict(x), pos_label="rare")
        for name, model in (("plain", plain), ("balanced", balanced))
    }
    assert recall["balanced"] > recall["plain"]
    as_dict = NeuralNetClassifier(class_weight={"rare": 8.0}, **params).fit(x, y)
    assert recall_score(y, as_dict.predict(x), pos_label="rare") > recall["plain"]


def test_classifier_refuses_a_single_class_with_a_message():
    x, y = blobs(50, 2)
    with pytest.raises(ValueError, match=r"needs samples of at least 2 classes.*got 1 class"):
        NeuralNetClassifier(epochs=1).fit(x, np.zeros(50))
    weights = (y == 0).astype(float)
    with pytest.raises(ValueError, match=r"at least 2 classes \(with weight > 0\)"):
        NeuralNetClassifier(epochs=1).fit(x, y, sample_weight=weights)
