"""Adam and AdamW where eps matters: tiny gradients (sqrt(r_hat) near eps) and a large
eps, against the published update written out here (Kingma & Ba 2015; Loshchilov &
Hutter 2019): theta <- theta - lr s_hat / (sqrt(r_hat) + eps), eps outside the root."""

import numpy as np
import pytest

from chainrule import nn, optim


def reference(theta, grads, lr, betas, eps, weight_decay, decoupled, amsgrad=False, inside=False):
    s = np.zeros_like(theta)
    r = np.zeros_like(theta)
    r_max = np.zeros_like(theta)
    for t, g in enumerate(grads, 1):
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        s = betas[0] * s + (1 - betas[0]) * g
        r = betas[1] * r + (1 - betas[1]) * g * g
        r_max = np.maximum(r_max, r)
        s_hat = s / (1 - betas[0] ** t)
        r_hat = (r_max if amsgrad else r) / (1 - betas[1] ** t)
        root = np.sqrt(r_hat + eps) if inside else np.sqrt(r_hat) + eps
        theta = theta - lr * s_hat / root
    return theta


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize(
    "scale,eps",
    [(1e-8, 1e-8), (1e-6, 1e-8), (1.0, 0.1), (1.0, 1.0), (1e-3, 1e-2)],
    ids=["grad~eps", "tiny-grad", "eps-0.1", "eps-1", "eps-10x-grad"],
)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_trajectory_follows_the_formula_where_eps_matters(name, scale, eps, amsgrad):
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=(4, 3))
    grads = [scale * rng.normal(size=(4, 3)) for _ in range(6)]
    p = nn.Parameter(theta0.copy(), dtype="float64")
    decoupled = name == "AdamW"
    weight_decay = 0.05
    opt = getattr(optim, name)([p], lr=0.01, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    for g in grads:
        p.grad = nn.Parameter(g, dtype="float64")
        opt.step()
    expected = reference(theta0, grads, 0.01, (0.9, 0.999), eps, weight_decay, decoupled, amsgrad)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12, atol=1e-15)
    # the case is one where eps matters: eps inside the root moves the weights elsewhere
    wrong = reference(
        theta0, grads, 0.01, (0.9, 0.999), eps, weight_decay, decoupled, amsgrad, True
    )
    assert not np.allclose(wrong, expected, rtol=1e-6, atol=1e-12)
