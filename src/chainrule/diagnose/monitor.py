"""``Monitor``: a callback that watches a run, layer by layer, cheaply enough to leave on.

Per layer and per epoch it records the gradient norm ||dL/dW|| and the weight norm
||W|| of every layer that owns parameters, the update-to-weight ratio ||dW|| / ||W||
(healthy: about 1e-3), and, from one fixed monitoring batch run forward once per epoch
(eval mode, no graph), the mean and spread of every layer's output, the fraction of
dead ReLU units (never active on the batch) and of saturated sigmoid/tanh outputs.
Gradients are read every ``every`` steps, after the optimiser step while ``p.grad``
still holds them; every step's training loss is kept as well.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module, to_numpy
from chainrule.checks import is_int
from chainrule.data.dataset import gather
from chainrule.diagnose import doctor_plots
from chainrule.errors import ArgumentError
from chainrule.nn.activation import Activation
from chainrule.nn.modes import evaluating
from chainrule.nn.module import Module
from chainrule.train.callbacks import Callback, Logs
from chainrule.train.metrics import accuracy
from chainrule.train.serialization import atomic_write_text

DIAGNOSTICS_FILE = "diagnostics.json"
GRADIENT_PLOT_FILE = "gradient_norms.png"
FORMAT = "chainrule.diagnostics/1"

# A sigmoid output below 0.01 or above 0.99 has slope y (1 - y) < 0.01, under 4% of its
# maximum 0.25; a tanh output beyond +-0.99 has slope 1 - y^2 < 0.02: both pass almost no gradient.
SIGMOID_SATURATION = 0.01
TANH_SATURATION = 0.99
MONITOR_SIZE = 256  # samples in the monitoring batch: enough for a unit active on 1% to show
# training samples the final model's eval-mode training error is measured on: the
# standard error of an error rate near 5% on 2,048 samples is 0.5 percentage points
FINAL_ERROR_SIZE = 2048

_KINDS = ("grad", "weight", "update")
_ROLES = ("relu", "sigmoid", "tanh")  # activations with statistics of their own (dead, saturated)


def layer_role(module: Module) -> str | None:
    """'relu', 'sigmoid', 'tanh', 'activation' (another nonlinearity), 'weight' (owns a
    weight matrix or kernel), 'parametric' (owns other parameters) or None (not watched)."""
    if isinstance(module, Activation):
        name = type(module).__dict__.get("name")  # a subclass of ReLU is another activation
        return name if name in _ROLES else "activation"
    own = [p for p in module._parameters.values() if p is not None]
    if not own:
        return None
    weight = module._parameters.get("weight")
    return "weight" if weight is not None and weight.ndim >= 2 else "parametric"


class Monitor(Callback):
    """Record per-layer statistics of a run; with ``run_dir``, save them there as
    ``diagnostics.json`` after every epoch and plot the gradient norms at the end.

    ``every``: read gradients and updates on every ``every``-th step of an epoch (its
    first step always). ``monitor_data``: the inputs of the monitoring batch (default:
    ``monitor_size`` training samples spread evenly over the training set, untransformed).
    """

    writes_files = True

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        every: int = 10,
        monitor_data: Any = None,
        monitor_size: int = MONITOR_SIZE,
        plot: bool = True,
    ) -> None:
        if not is_int(every) or every < 1:
            raise ArgumentError(f"Monitor: every must be a positive integer; got every={every!r}")
        if not is_int(monitor_size) or monitor_size < 1:
            raise ArgumentError(
                f"Monitor: monitor_size must be a positive integer; got monitor_size={monitor_size!r}"
            )
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every = every
        self.monitor_data = monitor_data
        self.monitor_size = monitor_size
        self.plot = plot
        self.layers: list[dict[str, str]] = []
        self.epochs: list[int] = []
        self.stats: dict[str, dict[str, list[float]]] = {}
        self.batch_loss: list[float] = []
        self._unread_losses: list[tuple[int, Any]] = []  # (index, device loss) on a device
        self.epoch_steps: list[int] = []
        self.settings: dict[str, Any] = {}
        self.final_errors: dict[str, float] | None = None

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: Logs | None = None) -> None:
        model = self.trainer.model
        self._batch = self._monitoring_batch()
        self._watched = {
            name: (module, role)
            for name, module in model.named_modules()
            if (role := layer_role(module)) is not None
        }
        self._params = {
            name: [p for p in module._parameters.values() if p is not None]
            for name, (module, role) in self._watched.items()
            if role in ("weight", "parametric")
        }
        order = list(self._activation_pass())  # forward order, which module order need not be
        order += [name for name in self._watched if name not in order]
        self.layers = [
            {
                "name": name,
                "type": type(self._watched[name][0]).__name__,
                "role": self._watched[name][1],
            }
            for name in order
        ]
        self.epochs, self.batch_loss, self.epoch_steps = [], [], []
        self._unread_losses = []
        self.stats = {name: {} for name in order}
        self.settings = self._settings()
        self.final_errors = None
        self._reset_epoch()

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if batch % self.every == 0:
            self._before = {
                name: [p.data.copy() for p in params] for name, params in self._params.items()
            }

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        unread = getattr(self.trainer, "step_loss", None)
        if loss is None and unread is not None:  # on a device, a step whose logs were not read
            self._unread_losses.append((len(self.batch_loss), unread))
        self.batch_loss.append(math.nan if loss is None else float(loss))
        if self._before is None:  # the unread losses wait for the next norms' copy
            return
        squares = self._step_squares()
        for name in self._params:
            grad_sq, weight_sq, update_sq = (squares[name, kind] for kind in _KINDS)
            sums = self._sums[name]
            sums["grad_norm"] += math.sqrt(grad_sq)
            sums["grad_norm_max"] = max(sums["grad_norm_max"], math.sqrt(grad_sq))
            sums["update_ratio"] += math.sqrt(update_sq) / max(math.sqrt(weight_sq), 1e-12)
        self._samples += 1
        self._before = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._close_epoch(epoch)
        if self.run_dir is not None:
            self.save(self.run_dir, plot=False)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._samples:  # an epoch abandoned part way (a NaN loss): keep what it showed
            self._close_epoch(self.trainer.epoch)
        try:  # optional evidence: a run that ended in an error must end with its own
            self.final_errors = self._final_training_error()
        except Exception as error:
            self.final_errors = None
            self.trainer.log(f"Monitor: no eval-mode training error ({type(error).__name__})")
        if self.run_dir is None:
            return
        try:
            self.save(self.run_dir, plot=self.plot)
        except ImportError as error:  # matplotlib is optional: the statistics are saved anyway
            self.trainer.log(f"Monitor: no {GRADIENT_PLOT_FILE} ({error})")

    # ---------------------------------------------------------------- results
    def diagnostics(self) -> dict[str, Any]:
        """Everything recorded, JSON-ready: layers in forward order, per-layer series by
        epoch, every step's loss, and the run's history."""
        self._read_losses()
        history = self.trainer.history.history if hasattr(self, "trainer") else {}
        return {
            "format": FORMAT,
            "every": self.every,
            "layers": self.layers,
            "epochs": self.epochs,
            "stats": self.stats,
            "batch_loss": self.batch_loss,
            "epoch_steps": self.epoch_steps,
            "settings": self.settings,
            "final_errors": self.final_errors,
            "history": {k: list(v) for k, v in history.items()},
        }

    def save(self, run_dir: str | os.PathLike[str], plot: bool = True) -> Path:
        """Write ``diagnostics.json`` (and, with ``plot``, ``gradient_norms.png``) into ``run_dir``."""
        run_dir = Path(run_dir)
        diagnostics = self.diagnostics()
        path = run_dir / DIAGNOSTICS_FILE
        atomic_write_text(path, json.dumps(diagnostics))
        if plot:
            doctor_plots.plot_gradient_norms(diagnostics, run_dir / GRADIENT_PLOT_FILE)
        return path

    def state_dict(self) -> dict[str, Any]:
        self._read_losses()
        return {
            "layers": self.layers,
            "epochs": self.epochs,
            "stats": self.stats,
            "batch_loss": self.batch_loss,
            "epoch_steps": self.epoch_steps,
            "sums": self._sums,
            "samples": self._samples,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.layers = [dict(layer) for layer in state["layers"]]
        self.epochs = [int(e) for e in state["epochs"]]
        self.stats = {
            k: {s: [float(x) for x in v] for s, v in d.items()} for k, d in state["stats"].items()
        }
        self.batch_loss = [float(x) for x in state["batch_loss"]]
        self.epoch_steps = [int(x) for x in state["epoch_steps"]]
        self._sums = {k: {s: float(x) for s, x in d.items()} for k, d in state["sums"].items()}
        self._samples = int(state["samples"])

    # ---------------------------------------------------------------- inside
    def _step_squares(self) -> dict[tuple[str, str], float]:
        """||grad||^2, ||W||^2 and ||dW||^2 of each watched layer for this step.

        NOTE: every squared norm is computed where the weights are and all are read back
        in one copy: reading them one float() at a time would wait on a GPU ~3x per
        layer per step.
        """
        terms, owners = [], []
        unread, self._unread_losses = self._unread_losses, []
        for _, loss in unread:  # the step losses not read yet come back in the same copy
            terms.append(loss.astype(get_array_module(loss).float64))
            owners.append(("", "loss"))
        for name, params in self._params.items():
            arrays = {
                "grad": [p.grad.data for p in params if p.grad is not None],
                "weight": [p.data for p in params],
                "update": [p.data - old for p, old in zip(params, self._before[name])],
            }
            for kind in _KINDS:
                for array in arrays[kind]:
                    flat = array.reshape(-1)
                    terms.append(get_array_module(flat).vdot(flat, flat))
                    owners.append((name, kind))
        squares = {(name, kind): 0.0 for name in self._params for kind in _KINDS}
        if terms:
            values = to_numpy(get_array_module(terms[0]).stack(terms)).tolist()
            for (index, _), value in zip(unread, values):
                self.batch_loss[index] = value
            for owner, value in zip(owners[len(unread) :], values[len(unread) :]):
                squares[owner] += value
        return squares

    def _reset_epoch(self) -> None:
        self._before: dict[str, list[Any]] | None = None
        self._samples = 0
        self._sums = {
            name: {"grad_norm": 0.0, "grad_norm_max": 0.0, "update_ratio": 0.0}
            for name in self._params
        }

    def _read_losses(self) -> None:
        """The step losses a device left unread, read back in one copy."""
        if not self._unread_losses:
            return
        unread, self._unread_losses = self._unread_losses, []
        xp = get_array_module(unread[0][1])
        values = to_numpy(xp.stack([loss.astype(xp.float64) for _, loss in unread])).tolist()
        for (index, _), value in zip(unread, values):
            self.batch_loss[index] = value

    def _close_epoch(self, epoch: int) -> None:
        """Append the epoch's gradient averages, weight norms and activation statistics."""
        self._read_losses()
        for name, params in self._params.items():
            series, sums = self.stats[name], self._sums[name]
            count = max(self._samples, 1)
            _append(series, "grad_norm", sums["grad_norm"] / count)
            _append(series, "grad_norm_max", sums["grad_norm_max"])
            _append(series, "update_ratio", sums["update_ratio"] / count)
            _append(series, "weight_norm", math.sqrt(sum(_sq_norm(p.data) for p in params)))
        for name, values in self._activation_pass().items():
            for key, value in values.items():
                _append(self.stats[name], key, value)
        self.epochs.append(int(epoch))
        self.epoch_steps.append(len(self.batch_loss))
        self._reset_epoch()

    def _settings(self) -> dict[str, Any]:
        """What the doctor's advice is fitted to: optimiser, learning rate, batch size, shuffling."""
        trainer = self.trainer
        group = trainer.optimizer.param_groups[0]
        loader = _host_loader(trainer)
        settings: dict[str, Any] = {
            "optimizer": type(trainer.optimizer).__name__,
            "lr": float(group["lr"]),
            "momentum": float(group.get("momentum", 0.0) or 0.0),
            "clip_grad_norm": getattr(trainer, "clip_grad_norm", None),
        }
        if loader is not None:
            settings["batch_size"] = int(loader.batch_size)
            settings["shuffle"] = bool(loader.shuffle)
            settings["train_size"] = len(loader.dataset)
        return settings

    def _final_training_error(self) -> dict[str, float] | None:
        """The final model's error in eval mode on up to FINAL_ERROR_SIZE training samples
        (evenly spread, untransformed): the lectures' training error. None unless the run
        logs accuracy and its training set holds labels."""
        loader = _host_loader(self.trainer)
        metrics = [name for name, _ in getattr(self.trainer, "metrics", [])]
        labels = loader.labels() if loader is not None and hasattr(loader, "labels") else None
        if "accuracy" not in metrics or labels is None:
            return None
        n = len(loader.dataset)
        indices = np.unique(np.linspace(0, n - 1, min(FINAL_ERROR_SIZE, n)).astype(np.int64))
        inputs = gather(loader.dataset, indices)[0]
        model = self.trainer.model
        with evaluating(model):
            outputs = [
                to_numpy(model(Tensor(inputs[i : i + 256])).data)
                for i in range(0, len(inputs), 256)
            ]
        error = 1.0 - accuracy(np.concatenate(outputs), labels[indices])
        return {"train_error": error, "train_samples": float(len(indices))}

    def _monitoring_batch(self) -> Tensor:
        if self.monitor_data is not None:
            data = self.monitor_data
            return data if isinstance(data, Tensor) else Tensor(np.asarray(data))
        # NOTE: Trainer keeps the training loader private; the dataset is only read here.
        loader = getattr(self.trainer, "_loader", None)
        if loader is None:
            raise ArgumentError(
                "Monitor needs monitor_data (inputs for the monitoring batch) outside Trainer.fit"
            )
        n = len(loader.dataset)
        indices = np.unique(np.linspace(0, n - 1, min(self.monitor_size, n)).astype(np.int64))
        return Tensor(gather(loader.dataset, indices)[0])  # evenly spread: draws nothing random

    def _activation_pass(self) -> dict[str, dict[str, float]]:
        """Run the monitoring batch forward with hooks; statistics of each watched output."""
        results: dict[str, dict[str, float]] = {}

        def hook_for(name: str, role: str) -> Callable[[Module, tuple[Any, ...], Any], None]:
            def hook(module: Module, inputs: tuple[Any, ...], output: Any) -> None:
                if isinstance(output, Tensor):
                    results[name] = _output_stats(output.data, role)

            return hook

        model = self.trainer.model
        handles = [
            module.register_forward_hook(hook_for(name, role))
            for name, (module, role) in self._watched.items()
        ]
        try:
            with evaluating(model):
                model(self._batch)
        finally:
            for handle in handles:
                handle.remove()
        return results


def _host_loader(trainer: Any) -> Any:
    """The trainer's training DataLoader (under MPI, the one its DistributedLoader splits)."""
    loader = getattr(trainer, "_loader", None)
    return getattr(loader, "loader", loader)


def _sq_norm(array: Any) -> float:
    flat = array.reshape(-1)
    return float(get_array_module(array).vdot(flat, flat))


def _append(series: dict[str, list[float]], key: str, value: float) -> None:
    series.setdefault(key, []).append(float(value))


def _output_stats(out: Any, role: str) -> dict[str, float]:
    """Mean and spread of a layer's output; dead fraction (ReLU), saturated fraction (sigmoid, tanh)."""
    xp = get_array_module(out)
    stats = {"act_mean": float(out.mean()), "act_std": float(out.std())}
    units = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)
    if role == "relu":
        stats["dead_fraction"] = 1.0 - float((units > 0).any(axis=0).mean())
    elif role == "sigmoid":
        saturated = (units < SIGMOID_SATURATION) | (units > 1.0 - SIGMOID_SATURATION)
        stats["saturated_fraction"] = float(saturated.mean())
    elif role == "tanh":
        stats["saturated_fraction"] = float((xp.abs(units) > TANH_SATURATION).mean())
    return stats
