"""Ensembles: averaging and voting as written out by hand, members that differ by seed or
configuration, and an ensemble at least as accurate as its average member."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import load_digits
from chainrule.ensemble import Ensemble, combine, train_ensemble
from chainrule.errors import ArgumentError, ArgumentTypeError, ShapeError
from chainrule.train import History, fit

# Member probabilities (M=4 members, N=3 samples, C=3 classes), crafted so that:
#   sample 0: three members say class 0 weakly, one says class 1 strongly:
#             vote -> 0, average -> 1
#   sample 1: two votes for class 0, two for class 2, class 1 second everywhere:
#             average -> 1; vote ties 0 and 2, the tie goes to 2 (mean 0.305 > 0.265),
#             not to class 1 (no votes) though it has the highest mean
#   sample 2: everyone says class 2
PROBA = np.array(
    [
        [[0.40, 0.35, 0.25], [0.45, 0.44, 0.11], [0.1, 0.1, 0.8]],
        [[0.40, 0.35, 0.25], [0.45, 0.44, 0.11], [0.1, 0.1, 0.8]],
        [[0.40, 0.35, 0.25], [0.11, 0.44, 0.45], [0.1, 0.1, 0.8]],
        [[0.01, 0.98, 0.01], [0.05, 0.40, 0.55], [0.1, 0.1, 0.8]],
    ]
)
X = np.eye(3, dtype=np.float32)  # sample i is the one-hot e_i, so member m outputs log PROBA[m]


def crafted_member(proba):
    """A Linear layer whose logits for e_i are log(proba[i]): its softmax is proba."""
    layer = nn.Linear(3, 3, bias=False, dtype=cr.float64)
    layer.weight.data[...] = np.log(proba).T
    return layer


def crafted_ensemble():
    return Ensemble([crafted_member(p) for p in PROBA])


def test_average_is_the_argmax_of_the_mean_softmax_probabilities():
    ensemble = crafted_ensemble()
    np.testing.assert_allclose(ensemble.predict_proba(X), PROBA.mean(axis=0), atol=1e-12)
    assert ensemble.predict(X, method="average").tolist() == [1, 1, 2]


def test_vote_is_the_majority_class_with_ties_broken_by_mean_probability():
    assert crafted_ensemble().predict(X, method="vote").tolist() == [0, 2, 2]
    assert combine(PROBA, "vote").tolist() == [0, 2, 2]


def test_a_three_way_tie_goes_to_the_class_with_the_highest_mean_probability():
    proba = np.array([[[0.5, 0.3, 0.2]], [[0.1, 0.6, 0.3]], [[0.3, 0.25, 0.45]]])
    # votes 1 / 1 / 1; means 0.300, 0.383, 0.317: not member 0's class, not the lowest index
    assert combine(proba, "vote").tolist() == [1]


def test_evaluate_reports_each_member_and_the_ensemble_by_both_methods():
    y = np.array([1, 2, 2])
    report = crafted_ensemble().evaluate(X, y)
    # members predict [0,0,2], [0,0,2], [0,2,2], [1,2,2]
    assert report["members"] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0])
    assert report["mean_member"] == pytest.approx(7 / 12)
    assert report["best_member"] == 1.0
    assert report["average"] == pytest.approx(2 / 3)  # [1, 1, 2]
    assert report["vote"] == pytest.approx(2 / 3)  # [0, 2, 2]
    assert crafted_ensemble().evaluate(X, np.eye(3)[y]) == report  # one-hot targets too


def test_binary_members_with_one_output_vote_and_average():
    members = []
    for w in (0.2, 0.2, -5.0):  # p(class 1) = sigmoid(w x): 0.55, 0.55, 0.007 at x = 1
        layer = nn.Linear(1, 1, bias=False, dtype=cr.float64)
        layer.weight.data[...] = w
        members.append(layer)
    x = np.array([[1.0], [-1.0]])
    ensemble = Ensemble(members)
    assert ensemble.predict_proba(x).shape == (2, 2)
    assert ensemble.predict(x, method="vote").tolist() == [1, 0]  # two of three say so
    assert ensemble.predict(x, method="average").tolist() == [0, 1]  # the confident one wins


def test_ensemble_refuses_bad_members_and_methods():
    with pytest.raises(ArgumentError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ArgumentTypeError, match="member 1 must be a chainrule.nn.Module"):
        Ensemble([nn.Linear(2, 3), "model"])
    with pytest.raises(ShapeError, match=r"\(4, 3\), \(4, 2\)"):
        Ensemble([nn.Linear(2, 3), nn.Linear(2, 2)]).predict_proba(np.zeros((4, 2), np.float32))
    with pytest.raises(ArgumentError, match="'average' or 'vote'"):
        crafted_ensemble().predict(X, method="median")


# ------------------------------------------------------------------- training
def blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, n)
    return (centres[y] + rng.normal(0, 0.8, (n, 2))).astype(np.float32), y


def mlp(hidden=16):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def weights(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


FIT = {"loss": "cross_entropy", "epochs": 2, "batch_size": 32, "verbose": 0}


def test_members_differ_by_seed_and_the_same_seeds_give_the_same_members():
    data = blobs()
    ensemble, histories = train_ensemble(mlp, n_members=3, train_data=data, optimizer="adam", **FIT)
    assert len(ensemble) == len(histories) == 3
    assert all(isinstance(h, History) and len(h) == 2 for h in histories)
    w = [weights(m) for m in ensemble]
    assert not np.allclose(w[0], w[1]) and not np.allclose(w[1], w[2])
    again, _ = train_ensemble(mlp, seeds=[0, 1, 2], train_data=data, optimizer="adam", **FIT)
    assert all(np.array_equal(a, weights(b)) for a, b in zip(w, again))


def test_members_can_differ_by_configuration_with_a_train_function():
    data = blobs()

    def build(config):
        return mlp(config["hidden"])

    def train(model, config):
        return fit(model, data, optimizer=optim.SGD(model.parameters(), lr=config["lr"]), **FIT)

    configs = [{"hidden": 4, "lr": 0.1}, {"hidden": 32, "lr": 0.01}]
    ensemble, histories = train_ensemble(build, train, configs=configs, seeds=[7, 7])
    assert [m[0].out_features for m in ensemble] == [4, 32]
    assert [h["lr"][-1] for h in histories] == pytest.approx([0.1, 0.01])


def test_optimizer_may_be_a_factory_but_not_one_shared_instance():
    data = blobs()
    _, histories = train_ensemble(
        mlp,
        n_members=2,
        train_data=data,
        optimizer=lambda params: optim.SGD(params, lr=0.05),
        **FIT,
    )
    assert [h["lr"][-1] for h in histories] == pytest.approx([0.05, 0.05])
    shared = optim.SGD(mlp().parameters(), lr=0.1)
    with pytest.raises(ArgumentError, match="optimiser instance"):
        train_ensemble(mlp, n_members=2, train_data=data, optimizer=shared, **FIT)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_members": 2}, "train_fn"),
        ({"n_members": 2, "train_fn": lambda m: None, "loss": "mse"}, "not both"),
        ({"n_members": 2, "loss": "mse"}, "train_data"),
        ({"train_fn": lambda m: None}, "n_members, seeds or configs"),
        ({"n_members": 3, "seeds": [0, 1], "train_fn": lambda m: None}, "must agree"),
        ({"n_members": 0, "train_fn": lambda m: None}, "positive"),
    ],
)
def test_train_ensemble_refuses_unclear_requests(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        train_ensemble(mlp, **kwargs)


def test_an_ensemble_of_small_mlps_on_digits_beats_its_mean_member():
    images, labels = load_digits()
    x = images.reshape(len(images), -1)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1200], order[1200:]

    def build():
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    ensemble, _ = train_ensemble(
        build,
        n_members=5,
        train_data=(x[train], labels[train]),
        loss="cross_entropy",
        optimizer=lambda params: optim.Adam(params, lr=0.01),
        epochs=3,
        batch_size=64,
        verbose=0,
    )
    report = ensemble.evaluate(x[test], labels[test])
    assert len(report["members"]) == 5
    assert report["mean_member"] > 0.8
    assert report["average"] >= report["mean_member"]
    assert report["vote"] >= report["mean_member"]
