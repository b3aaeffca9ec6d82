"""ClientUpdate (McMahan et al. 2017, algorithm 1): E epochs of plain SGD over a client's
own data in batches of B, starting from the global model; the client's model comes back.

Two ways to run the selected clients, with the same result: one after another through
the model itself (any model), or all at once when the model is a ``Sequential`` of
``Linear`` layers, elementwise activations and ``Flatten`` (the paper's 2NN): then the
K clients' weights are stacked, transposed, (K, in, out), and each local step is one batched
forward and backward for every client together. Clients with fewer samples than the
largest run out of batches first; their missing samples are padded with weight 0, so
their weights stop moving (plain SGD, no momentum: a zero gradient is no step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from chainrule import backend, nn
from chainrule.autograd.tensor import Tensor
from chainrule.ops import matmul

Client = tuple[np.ndarray, np.ndarray]
State = dict[str, np.ndarray]


def _elementwise(module: nn.Module) -> bool:
    """Whether ``module`` maps each entry on its own with nothing to learn (so one layer
    serves every client's stacked weights): a parameter-free activation, or Identity."""
    if isinstance(module, nn.Identity):
        return True
    return isinstance(module, nn.Activation) and not any(True for _ in module.parameters())


def batch_plan(
    num_samples: int, batch_size: int | None, generator: np.random.Generator
) -> list[np.ndarray]:
    """One local epoch: a fresh permutation cut into batches of ``batch_size`` (None: one
    batch of everything, the paper's B = inf)."""
    order = generator.permutation(num_samples)
    size = batch_size or num_samples
    return [order[i : i + size] for i in range(0, num_samples, size)]


def is_stackable(model: nn.Module) -> bool:
    """Whether ``model`` is a Sequential that ``train_stacked`` can run for many clients at once."""
    if not isinstance(model, nn.Sequential):
        return False
    layers = list(model.children())
    flatten_all = all(
        m.start_axis == 1 and m.end_axis == -1 for m in layers if isinstance(m, nn.Flatten)
    )
    return (
        flatten_all
        and any(isinstance(m, nn.Linear) for m in layers)
        and all(isinstance(m, nn.Linear | nn.Flatten) or _elementwise(m) for m in layers)
    )


def train_sequential(
    model: nn.Module,
    state: State,
    clients: Sequence[Client],
    *,
    epochs: int,
    batch_size: int | None,
    lr: float,
    loss_fn: Callable[..., Tensor],
    generators: Sequence[np.random.Generator],
) -> list[State]:
    """Each client's model after ClientUpdate from ``state``, one client after another."""
    results = []
    model.train()
    device = next(model.parameters()).device
    for (x, y), generator in zip(clients, generators):
        model.load_state_dict(state)
        params = [p for p in model.parameters() if p.requires_grad]
        # the client's data and each epoch's sample order go to the model's device once,
        # and batches are cut there: no copy per batch
        x, y = backend.asarray(x, device=device), backend.asarray(y, device=device)
        for _ in range(epochs):
            plan = batch_plan(len(x), batch_size, generator)
            order = backend.asarray(np.concatenate(plan), device=device)
            start = 0
            for batch in plan:
                index = order[start : start + len(batch)]
                start += len(batch)
                loss = loss_fn(model(Tensor(x[index])), Tensor(y[index]))
                model.zero_grad()
                loss.backward()
                for p in params:
                    p.data -= lr * p.grad.data  # w <- w - eta grad
        results.append(model.state_dict())
    return results


def train_stacked(
    model: nn.Module,
    state: State,
    clients: Sequence[Client],
    *,
    epochs: int,
    batch_size: int | None,
    lr: float,
    loss_fn: Callable[..., Tensor],
    generators: Sequence[np.random.Generator],
) -> list[State]:
    """Each client's model after ClientUpdate from ``state``, all clients in one batched
    computation (see the module's docstring); ``model`` itself is not changed."""
    k = len(clients)
    layers = list(model.named_children())
    stacked: dict[str, Tensor] = {}
    for name, layer in layers:
        if isinstance(layer, nn.Linear):
            stacked[f"{name}.weight"] = _tile(state[f"{name}.weight"].T, k)  # (K, in, out)
            if layer.bias is not None:
                bias = state[f"{name}.bias"]
                stacked[f"{name}.bias"] = _tile(bias.reshape(1, -1), k)  # (K, 1, out)
    features = clients[0][0].shape[1:]
    dtype = next(iter(stacked.values())).dtype
    for _ in range(epochs):
        plans = [batch_plan(len(x), batch_size, g) for (x, _), g in zip(clients, generators)]
        for step in range(max(len(plan) for plan in plans)):
            batches = [plan[step] if step < len(plan) else plan[0][:0] for plan in plans]
            width = max(len(b) for b in batches)
            x = np.zeros((k, width, *features), dtype=dtype)
            y = np.zeros((k, width), dtype=clients[0][1].dtype)
            weight = np.zeros((k, width), dtype=dtype)
            for i, ((cx, cy), batch) in enumerate(zip(clients, batches)):
                x[i, : len(batch)], y[i, : len(batch)] = cx[batch], cy[batch]
                weight[i, : len(batch)] = 1.0 / max(len(batch), 1)
            out = _forward(layers, stacked, Tensor(x))
            per_sample = loss_fn(
                out.reshape(k * width, -1), Tensor(y.reshape(-1)), reduction="none"
            )
            # sum_k mean over client k's batch: each client's weights get its own gradient
            (per_sample * Tensor(weight.reshape(-1))).sum().backward()
            for p in stacked.values():
                p.data -= lr * p.grad.data  # w_k <- w_k - eta grad_k
                p.grad = None
    return [
        {name: _unstack(name, p.data[i], state[name].shape) for name, p in stacked.items()}
        for i in range(k)
    ]


def _tile(array: np.ndarray, k: int) -> Tensor:
    return Tensor(np.repeat(array[None], k, axis=0), dtype=array.dtype, requires_grad=True)


def _unstack(name: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One client's array back in the layer's layout (weights were stacked transposed)."""
    return array.T.copy() if name.endswith(".weight") else array.reshape(shape)


def _forward(layers: list[tuple[str, nn.Module]], stacked: dict[str, Tensor], h: Tensor) -> Tensor:
    """The Sequential's forward for every client at once: h (K, B, ...) -> (K, B, out)."""
    for name, layer in layers:
        if isinstance(layer, nn.Flatten):
            h = h.reshape(h.shape[0], h.shape[1], -1)
        elif isinstance(layer, nn.Linear):
            h = matmul(h, stacked[f"{name}.weight"])  # x W_k^T, W^T stacked contiguous
            if layer.bias is not None:
                h = h + stacked[f"{name}.bias"]
        else:
            h = layer(h)
    return h


def stacked_or_sequential(model: nn.Module) -> Callable[..., list[State]]:
    """``train_stacked`` when the model allows it, else ``train_sequential``."""
    return train_stacked if is_stackable(model) else train_sequential
