"""The scikit-learn estimators inside GridSearchCV / cross_val_score, and the metrics."""

import numpy as np
import pytest

from chainrule.train import accuracy, confusion_matrix, precision_recall, top_k_accuracy

sklearn = pytest.importorskip("sklearn")


def digits_subset(n=400):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype(np.float32), y[:n]


def test_classifier_works_inside_grid_search_cv():
    from sklearn.model_selection import GridSearchCV

    from chainrule.train import NeuralNetClassifier

    x, y = digits_subset()
    search = GridSearchCV(
        NeuralNetClassifier(epochs=8, batch_size=32, lr=1e-2),
        {"hidden_layer_sizes": [(8,), (64,)]},
        cv=2,
    )
    search.fit(x, y)
    assert search.best_params_ == {"hidden_layer_sizes": (64,)}
    assert search.best_score_ > 0.85
    assert search.predict(x[:5]).shape == (5,)


def test_classifier_and_regressor_work_with_cross_val_score():
    from sklearn.model_selection import cross_val_score

    from chainrule.train import NeuralNetClassifier, NeuralNetRegressor

    x, y = digits_subset()
    scores = cross_val_score(NeuralNetClassifier(epochs=6, lr=1e-2), x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8

    rng = np.random.default_rng(0)
    xr = rng.normal(size=(300, 3)).astype(np.float32)
    yr = xr @ np.array([1.0, -2.0, 0.5]) + 0.1
    r2 = cross_val_score(
        NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=30, lr=1e-2), xr, yr, cv=3
    )
    assert r2.mean() > 0.95


def test_classifier_keeps_original_labels_and_gives_probabilities():
    from chainrule.train import NeuralNetClassifier

    x, y = digits_subset(200)
    labels = np.array(list("abcdefghij"))[y]
    model = NeuralNetClassifier(epochs=5, lr=1e-2).fit(x, labels)
    assert set(model.predict(x)) <= set(labels)
    proba = model.predict_proba(x)
    assert proba.shape == (200, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert model.n_features_in_ == 64 and len(model.history_) == 5


def test_a_seeded_fit_leaves_the_callers_random_stream_and_an_unseeded_one_draws_on_it():
    import chainrule as cr
    from chainrule.train import NeuralNetClassifier

    x, y = digits_subset(100)
    cr.manual_seed(5)
    expected = cr.rand(3).numpy()
    cr.manual_seed(5)
    NeuralNetClassifier(epochs=1, seed=0).fit(x, y)
    np.testing.assert_array_equal(cr.rand(3).numpy(), expected)
    cr.manual_seed(5)
    NeuralNetClassifier(epochs=1, seed=None).fit(x, y)  # the library's stream, as sklearn's None
    assert not np.array_equal(cr.rand(3).numpy(), expected)


def test_accuracy_and_top_k_by_hand():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    targets = np.array([1, 1, 2, 1])
    assert accuracy(outputs, targets) == 0.5
    assert top_k_accuracy(outputs, targets, k=2) == 1.0
    assert accuracy(outputs, np.eye(3)[targets]) == 0.5  # one-hot targets


def test_confusion_matrix_and_precision_recall_by_hand():
    outputs = np.eye(3)[[0, 1, 1, 2, 2, 2]]
    targets = np.array([0, 1, 2, 2, 2, 0])
    matrix = confusion_matrix(outputs, targets)
    np.testing.assert_array_equal(matrix, [[1, 0, 1], [0, 1, 0], [0, 1, 2]])
    report = precision_recall(outputs, targets)
    np.testing.assert_allclose(report["precision"], [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(report["recall"], [0.5, 1.0, 2 / 3])
