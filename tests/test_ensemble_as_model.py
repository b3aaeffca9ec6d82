"""An Ensemble goes wherever a model does: train.predict / predict_proba / evaluate with the
same conventions as one model; doctor diagnoses each member; optimiser factories as users
write them."""

import functools

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.ensemble import Ensemble, train_ensemble
from chainrule.train import evaluate, predict, predict_proba

X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
Y = np.arange(30) % 3


def members(outputs=3, count=3):
    cr.manual_seed(0)
    return [nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, outputs)) for _ in range(count)]


def test_train_predict_proba_of_an_ensemble_is_its_averaged_probabilities():
    ensemble = Ensemble(members())
    np.testing.assert_allclose(predict_proba(ensemble, X), ensemble.predict_proba(X), atol=1e-6)
    assert predict(ensemble, X).shape == (30, 3)
    np.testing.assert_array_equal(predict(ensemble, X).argmax(axis=1), ensemble.predict(X))


def test_a_binary_ensemble_keeps_the_one_output_convention():
    ensemble = Ensemble(members(outputs=1))
    p = predict_proba(ensemble, X)
    assert p.shape == (30, 1)
    np.testing.assert_allclose(p[:, 0], ensemble.predict_proba(X)[:, 1], atol=1e-6)


def test_evaluate_gives_the_ensembles_loss_and_accuracy():
    ensemble = Ensemble(members())
    logs = evaluate(ensemble, (X, Y), loss="cross_entropy", metrics=["accuracy"])
    p = ensemble.predict_proba(X)
    assert logs["loss"] == pytest.approx(-np.log(p[np.arange(30), Y]).mean(), rel=1e-5)
    assert logs["accuracy"] == pytest.approx(ensemble.evaluate(X, Y)["average"])


def test_an_ensemble_is_a_module_with_its_members_state():
    ensemble = Ensemble(members(count=2))
    assert len(ensemble.state_dict()) == 2 * 4 and len(list(ensemble.parameters())) == 8
    ensemble.eval()
    assert not any(m.training for m in ensemble.modules())


@pytest.mark.parametrize(
    "optimizer",
    [
        "sgd",
        optim.SGD,
        functools.partial(optim.SGD, lr=0.05),
        lambda params: optim.SGD(params, lr=0.05),
        lambda model: optim.SGD(model.parameters(), lr=0.05),
    ],
    ids=["name", "class", "partial", "params-factory", "model-factory"],
)
def test_train_ensemble_takes_the_optimisers_users_write(optimizer):
    ensemble, histories = train_ensemble(
        lambda: nn.Sequential(nn.Linear(4, 3)),
        n_members=2,
        train_data=(X, Y),
        loss="cross_entropy",
        optimizer=optimizer,
        epochs=1,
        verbose=0,
    )
    assert len(ensemble) == 2 and len(histories) == 2


def test_doctor_on_an_ensemble_run_diagnoses_each_member(tmp_path, capsys):
    from chainrule.cli import main

    overfit = "epoch,loss,val_loss\n" + "".join(
        f"{e},{2.0 / e},{v}\n" for e, v in enumerate([2.0, 1.1, 0.8, 0.7, 0.75, 0.8, 0.9, 1.0], 1)
    )
    for member in ("0", "1"):
        (tmp_path / "members" / member).mkdir(parents=True)
        (tmp_path / "members" / member / "history.csv").write_text(overfit)
    assert main(["doctor", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("Overfitting: the validation loss turned at epoch 4") == 2
    assert out.index("member 0") < out.index("member 1")


def test_an_ensemble_fits_through_the_estimator_api():
    """NeuralNetClassifier(module=...) takes a factory of Ensembles as of any model: its
    probabilities are the members' mean, and it clones like any estimator."""
    from sklearn.base import clone

    from chainrule.train import NeuralNetClassifier

    def factory(n_in, n_out):
        return Ensemble(
            [nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out)) for _ in range(3)]
        )

    clf = NeuralNetClassifier(module=factory, epochs=3, lr=0.01).fit(X, Y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert isinstance(clf.model_, Ensemble) and len(clf.model_.members) == 3
    assert clone(clf).get_params()["module"] is factory
