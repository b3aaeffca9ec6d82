"""Train a small MLP on scikit-learn's digits with chainrule's Python API (the README's example)."""

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import load_digits
from chainrule.model_selection import train_val_test_split
from chainrule.train import EarlyStopping, evaluate, fit


def main(epochs: int = 50) -> dict:
    cr.manual_seed(0)
    x, y = load_digits()  # (1797, 8, 8) images in [0, 1], labels 0-9
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = train_val_test_split(
        x, y, ratios=(0.7, 0.15, 0.15), seed=0
    )
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10)
    )
    model.summary((8, 8))
    fit(
        model,
        (x_tr, y_tr),
        loss="cross_entropy",
        optimizer=optim.Adam(model.parameters(), lr=1e-3),
        epochs=epochs,
        batch_size=32,
        validation_data=(x_val, y_val),
        metrics=["accuracy"],
        callbacks=[EarlyStopping(patience=5, restore_best_weights=True)],
        verbose=0,
    )
    test = evaluate(model, (x_te, y_te), loss="cross_entropy", metrics=["accuracy"])
    print(f"test accuracy {test['accuracy']:.4f}")
    return test


if __name__ == "__main__":
    main()
