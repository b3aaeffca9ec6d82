"""The Keras MNIST models the benchmarks share, built from either library's ``nn``.

chainrule's layers take PyTorch's names and arguments, so one builder serves both:
``keras_mlp(chainrule.nn)`` and ``keras_mlp(torch.nn)`` are the same network.
"""

from __future__ import annotations

from typing import Any


def keras_mlp(nn: Any, flatten: bool = False) -> Any:
    """784-512-512-10 ReLU, dropout 0.2 (Keras' mnist_mlp); ``flatten`` takes (N, 28, 28)."""
    layers = [nn.Flatten()] if flatten else []
    layers += [
        nn.Linear(784, 512),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(512, 10),
    ]
    return nn.Sequential(*layers)


def keras_cnn(nn: Any) -> Any:
    """conv 32 3x3, conv 64 3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5 (mnist_cnn)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
