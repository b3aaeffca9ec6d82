"""Covariate shift corrected by importance weights, the lecture's way.

Training inputs come from p_train(x), the model is used on p_test(x), and p(y | x) is the
same. Weighting each training sample by w(x) = p_test(x) / p_train(x) makes the training
loss an unbiased estimate of the test loss. w is estimated by a logistic regression that
tells (unlabelled) test inputs from training inputs: w = p(test | x) / p(train | x), up to
the ratio of the sample sizes, clipped. Run:
    python examples/covariate_shift.py
"""

import numpy as np

from chainrule.data import make_covariate_shift
from chainrule.train import NeuralNetClassifier, effective_sample_size, importance_weights


def main(seed: int = 0, epochs: int = 40, hidden: tuple[int, ...] = ()) -> dict[str, float]:
    generator = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test), density_ratio = make_covariate_shift(
        n_train=500, n_test=5000, generator=generator
    )
    unlabelled = x_test[:500]  # what the weights may see of the test distribution: inputs only
    weights = {
        "unweighted": None,
        "importance (logistic regression)": importance_weights(x_train, unlabelled, clip=20.0),
        "oracle p_test / p_train": density_ratio(x_train),
    }
    accuracies = {}
    print(f"{'training':34s} {'test accuracy':>14s} {'ESS':>6s}")
    for name, w in weights.items():
        model = NeuralNetClassifier(hidden_layer_sizes=hidden, epochs=epochs, lr=1e-2, seed=seed)
        model.fit(x_train, y_train, sample_weight=w)
        accuracies[name] = model.score(x_test[500:], y_test[500:])
        ess = len(x_train) if w is None else effective_sample_size(w)
        print(f"{name:34s} {accuracies[name]:14.3f} {ess:6.0f}")
    return accuracies


if __name__ == "__main__":
    main()
