"""The autoencoder: it learns to reconstruct, the denoising variant corrupts only in
training, and its encoder initialises a classifier."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ArgumentError
from chainrule.train import fit


def small_autoencoder(**kwargs):
    cr.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid())
    decoder = nn.Sequential(nn.Linear(4, 16), nn.Sigmoid())
    return nn.Autoencoder(encoder, decoder, **kwargs)


def low_rank_images(n=128):
    rng = np.random.default_rng(0)
    codes = rng.uniform(size=(n, 2))
    basis = rng.uniform(size=(2, 16))
    x = (codes @ basis) / 2
    return x.reshape(n, 1, 4, 4).astype(np.float32)


def test_autoencoder_learns_to_reconstruct_its_input():
    x = low_rank_images()
    target = x.reshape(len(x), -1)
    ae = small_autoencoder()
    ae.eval()
    before = nn.reconstruction_loss(ae(x), x).item()
    fit(
        ae,
        (x, target),
        loss=nn.reconstruction_loss,
        optimizer=optim.Adam(ae.parameters(), lr=0.02),
        epochs=30,
        verbose=0,
    )
    ae.eval()
    after = nn.reconstruction_loss(ae(x), x).item()
    assert after < before / 5


@pytest.mark.parametrize("corruption", ["gaussian", "mask"])
def test_denoising_corrupts_in_training_only(corruption):
    ae = small_autoencoder(noise=0.5, corruption=corruption)
    x = cr.tensor(np.full((8, 1, 4, 4), 0.5, dtype=np.float32))
    ae.eval()
    clean = ae(x).numpy()
    np.testing.assert_array_equal(ae(x).numpy(), clean)
    ae.train()
    corrupted = ae.corrupt(x).numpy()
    assert not np.array_equal(corrupted, x.numpy())
    if corruption == "mask":
        assert set(np.unique(corrupted)) <= {0.0, 0.5}


def test_autoencoder_refuses_a_mask_fraction_of_one_and_says_the_range():
    with pytest.raises(ArgumentError, match=r"noise must be in \[0, 1\); got noise=1.0"):
        small_autoencoder(noise=1.0, corruption="mask")


def test_encoder_initialises_a_classifier_by_sharing_its_learned_weights():
    ae = small_autoencoder()
    classifier = nn.Sequential(*ae.encoder, nn.Linear(4, 3))
    np.testing.assert_array_equal(classifier[1].weight.numpy(), ae.encoder[1].weight.numpy())
    assert classifier(low_rank_images(5)).shape == (5, 3)
