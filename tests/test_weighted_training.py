"""sample_weight and class_weight in fit / Trainer / evaluate, and the weighted metrics:
an integer weight equals repeating the sample (exactly for a full batch, in expectation
for mini-batch SGD), "balanced" is scikit-learn's, weighted metrics are scikit-learn's."""

from itertools import combinations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.data import TensorDataset
from chainrule.errors import ArgumentError, DataError, ShapeError
from chainrule.train import Trainer, accuracy, confusion_matrix, evaluate, fit, precision_recall
from chainrule.train.weights import class_sample_weight

rng = np.random.default_rng(3)
X = rng.standard_normal((6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2])
COUNTS = np.array([1, 3, 0, 2, 1, 4])


def make_model():
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3))


def flat_params(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def test_integer_weights_equal_repeated_samples_for_a_full_batch_step():
    weighted, repeated = make_model(), make_model()
    common = dict(loss="cross_entropy", epochs=3, verbose=0)
    fit(
        weighted,
        (X, Y),
        sample_weight=COUNTS,
        batch_size=len(X),
        optimizer=optim.SGD(weighted.parameters(), lr=0.5),
        **common,
    )
    fit(
        repeated,
        (X.repeat(COUNTS, axis=0), Y.repeat(COUNTS)),
        batch_size=int(COUNTS.sum()),
        optimizer=optim.SGD(repeated.parameters(), lr=0.5),
        **common,
    )
    moved = np.abs(flat_params(weighted) - flat_params(make_model())).max()
    assert moved > 1e-2  # training did something
    np.testing.assert_allclose(flat_params(weighted), flat_params(repeated), rtol=1e-5, atol=1e-6)


def expected_gradient(trainer, x, y, weight, batch_size):
    """The mean gradient over every possible mini-batch of ``batch_size`` samples (drawn
    without replacement, as the loader does): SGD's expected step direction, exactly."""
    grads = []
    for batch in combinations(range(len(x)), batch_size):
        batch = list(batch)
        w = None if weight is None else cr.tensor(weight[batch])
        trainer.train_step(cr.tensor(x[batch]), cr.tensor(y[batch]), w)
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in trainer.model.parameters()]))
    return np.mean(grads, axis=0)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_integer_weights_equal_repeated_samples_in_expectation_for_sgd(batch_size):
    normalised = COUNTS / COUNTS.mean()  # what fit does to the weights
    model = make_model()
    trainer = Trainer(model, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.0))
    weighted = expected_gradient(trainer, X, Y, normalised.astype(np.float32), batch_size)
    xr, yr = X.repeat(COUNTS, axis=0), Y.repeat(COUNTS)
    repeated = expected_gradient(trainer, xr, yr, None, batch_size)
    np.testing.assert_allclose(weighted, repeated, rtol=1e-5, atol=1e-7)


def test_weighted_epoch_loss_is_the_weighted_mean_and_scale_free():
    model = make_model()
    with cr.no_grad():
        expected = F.cross_entropy(model(cr.tensor(X)), Y, sample_weight=COUNTS).item()
    logs = []
    for scale in (1.0, 10.0):
        model = make_model()
        history = fit(
            model,
            (X, Y),
            sample_weight=COUNTS * scale,
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=len(X),
            metrics=["accuracy"],
            verbose=0,
        )
        logs.append(history.history["loss"][0])
    assert logs[0] == pytest.approx(expected, rel=1e-5)
    assert logs[1] == pytest.approx(logs[0], rel=1e-6)


def test_class_weight_balanced_and_dict_match_scikit_learn():
    utils = pytest.importorskip("sklearn.utils.class_weight")
    y = np.array(["a", "b", "b", "c", "c", "c", "c"])
    for class_weight in ("balanced", {"a": 3.0, "c": 0.5}):
        np.testing.assert_allclose(
            class_sample_weight(y, class_weight), utils.compute_sample_weight(class_weight, y)
        )
    one_hot = np.eye(3)[[0, 1, 1, 2]]
    np.testing.assert_allclose(
        class_sample_weight(one_hot, "balanced"),
        utils.compute_sample_weight("balanced", [0, 1, 1, 2]),
    )


def test_class_weight_equals_the_same_sample_weight():
    per_sample = class_sample_weight(Y, {0: 2.0, 2: 4.0})
    runs = []
    for kwargs in ({"class_weight": {0: 2.0, 2: 4.0}}, {"sample_weight": per_sample}):
        model = make_model()
        fit(
            model,
            (X, Y),
            loss="cross_entropy",
            optimizer=optim.SGD(model.parameters(), lr=0.3),
            epochs=2,
            batch_size=2,
            verbose=0,
            **kwargs,
        )
        runs.append(flat_params(model))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_weighted_validation_and_evaluate_agree_with_the_weighted_formulas():
    model = make_model()
    w = np.array([1.0, 0.0, 2.0, 1.0, 3.0, 0.5])
    logs = evaluate(model, (X, Y), loss="cross_entropy", sample_weight=w, batch_size=4)
    with cr.no_grad():
        out = model(cr.tensor(X))
        expected = F.cross_entropy(out, Y, sample_weight=w).item()
    assert logs["loss"] == pytest.approx(expected, rel=1e-6)
    hits = (out.numpy().argmax(axis=1) == Y).astype(float)
    assert logs["accuracy"] == pytest.approx((hits * w).sum() / w.sum())
    history = fit(
        model,
        (X, Y),
        validation_data=(X, Y, w),
        loss="cross_entropy",
        optimizer=optim.SGD(model.parameters(), lr=0.0),
        metrics=["accuracy"],
        epochs=1,
        verbose=0,
    )
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(logs["accuracy"])


def test_weighted_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    outputs = rng.standard_normal((40, 3))
    targets = rng.integers(0, 3, 40)
    w = rng.uniform(0, 2, 40)
    predicted = outputs.argmax(axis=1)
    assert accuracy(outputs, targets, sample_weight=w) == pytest.approx(
        metrics.accuracy_score(targets, predicted, sample_weight=w)
    )
    np.testing.assert_allclose(
        confusion_matrix(outputs, targets, sample_weight=w),
        metrics.confusion_matrix(targets, predicted, sample_weight=w),
    )
    report = precision_recall(outputs, targets, sample_weight=w)
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(
        targets, predicted, sample_weight=w
    )
    np.testing.assert_allclose(report["precision"], precision)
    np.testing.assert_allclose(report["recall"], recall)
    np.testing.assert_allclose(report["f1"], f1)


def test_weighted_fit_refuses_bad_weights_with_a_message():
    def train(data, **kwargs):
        model = make_model()
        fit(
            model,
            data,
            loss=kwargs.pop("loss", "cross_entropy"),
            optimizer="sgd",
            epochs=1,
            verbose=0,
            **kwargs,
        )

    with pytest.raises(ShapeError, match=r"sample_weight must have shape \(6,\).*got shape \(4,\)"):
        train((X, Y), sample_weight=np.ones(4))
    with pytest.raises(DataError, match="sample_weight must be finite and >= 0"):
        train((X, Y), sample_weight=-np.ones(6))
    with pytest.raises(DataError, match="zero for every sample"):
        train((X, Y), sample_weight=np.zeros(6))
    with pytest.raises(ArgumentError, match="need the training data as \\(x, y\\) arrays"):
        train(TensorDataset(X, Y), sample_weight=np.ones(6))
    with pytest.raises(ArgumentError, match='class_weight must be "balanced" or a dict'):
        train((X, Y), class_weight="even")
    with pytest.raises(ArgumentError, match="not both"):
        train((X, Y, np.ones(6)), sample_weight=np.ones(6))
    with pytest.raises(ArgumentError, match="cannot weigh samples.*sample_weight= and reduction="):
        train((X, Y), sample_weight=np.ones(6), loss=lambda out, y: F.cross_entropy(out, y))
    with pytest.raises(ArgumentError, match="cannot weigh samples"):
        evaluate(make_model(), (X, Y), loss=lambda out, y: out.sum(), sample_weight=np.ones(6))
