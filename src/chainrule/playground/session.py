"""Playground sessions: one chainrule model, optimiser and data set per browser tab.

One worker thread trains every playing session, an epoch at a time in turn, each
epoch a ``Trainer.fit`` continued from the last, exactly as ``chainrule train`` runs
the exported experiment. chainrule's random generator and grad mode are process-wide,
so every computation (building, training, drawing) holds ``ENGINE``, and each session
swaps its own random state in and out: sessions side by side train exactly as alone.

A session's state (losses, weights, surfaces, the doctor's findings) is computed at
most ``SNAPSHOT_INTERVAL`` apart while it trains and kept encoded, so reading it costs
the server nothing. Sessions not read for ``ttl`` seconds are closed; at most
``max_sessions`` are open at once.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
from typing import Any

import numpy as np

from chainrule import nn, optim
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_rng_state, manual_seed, set_rng_state
from chainrule.data.plane import load_plane, plane_features
from chainrule.diagnose.findings import diagnose
from chainrule.diagnose.monitor import Monitor
from chainrule.errors import ChainruleError
from chainrule.experiments.data_prep import prepare_data
from chainrule.experiments.layers import build_model
from chainrule.experiments.member_training import build_regularizer
from chainrule.nn.modes import evaluating
from chainrule.playground.settings import N_SAMPLES, Settings, experiment
from chainrule.train.callbacks import Logs
from chainrule.train.loop import Trainer

ENGINE = threading.Lock()  # one chainrule computation at a time (see the module doc)

GRID = 40  # surfaces and heat maps are GRID x GRID samples of the plane ...
EXTENT = 6.0  # ... [-EXTENT, EXTENT]^2, cell centres
SNAPSHOT_INTERVAL = 0.1  # seconds: at most 10 state updates a second per session
CURVE_POINTS = 400  # loss curves are thinned to this many epochs
MAX_EPOCHS = 10_000  # a session pauses here: its history stays small
DOCTOR_SHARE = 0.1  # the doctor may take a tenth of a session's time, at most once a second


class SessionLimitError(ChainruleError, RuntimeError):
    """Every session slot is taken by a tab that is still open."""


def _grid() -> np.ndarray:
    """(GRID * GRID, 2): the plane's sample points, row by row from the top (x2 = +EXTENT)."""
    ticks = (np.arange(GRID) + 0.5) / GRID * 2 * EXTENT - EXTENT
    x1, x2 = np.meshgrid(ticks, ticks[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _encode(values: np.ndarray, scale: Any) -> np.ndarray:
    """values in [-scale, scale] as levels 0..255 (0 is -scale, 255 is +scale), uint8."""
    levels = np.clip(np.rint((np.nan_to_num(values) / scale + 1.0) * 127.5), 0, 255)
    return levels.astype(np.uint8)


def _base64(levels: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(levels).tobytes()).decode("ascii")


def _heat_maps(values: np.ndarray) -> list[dict[str, Any]]:
    """One heat map per column of values (GRID * GRID, K), each scaled by its largest |value|."""
    values = np.nan_to_num(values.astype(np.float64))
    scales = np.abs(values).max(axis=0)
    scales = np.where(scales > 0, scales, 1.0)
    levels = _encode(values, scales).T
    return [{"map": _base64(row), "scale": float(c)} for row, c in zip(levels, scales)]


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None  # JSON has no NaN


class _KeepingMonitor(Monitor):
    """A ``Monitor`` whose record survives the one-epoch ``fit`` calls a session makes."""

    def on_train_begin(self, logs: Logs | None = None) -> None:
        kept = (self.layers, self.epochs, self.stats, self.batch_loss, self.epoch_steps)
        super().on_train_begin(logs)
        if kept[0]:
            self.layers, self.epochs, self.stats, self.batch_loss, self.epoch_steps = kept


class Session:
    """One tab's run. Build, train and snapshot only while holding ``ENGINE``."""

    def __init__(self, settings: Settings) -> None:
        self.id = secrets.token_urlsafe(16)
        self.playing = False
        self.steps_wanted = 0
        self.closed = False
        self.last_seen = time.monotonic()
        self.version = 0
        self.state = b"{}"
        self.build(settings)

    # ---------------------------------------------------------------- running
    def build(self, settings: Settings) -> None:
        """A fresh network for ``settings`` (epoch 0), as ``chainrule train`` builds it."""
        config = experiment(settings)
        manual_seed(config.seed)
        model = build_model(config)
        data = prepare_data(config)
        optimizer = optim.get(config.optimizer.name, model.parameters(), **config.optimizer.args)
        self.monitor = _KeepingMonitor()
        self.trainer = Trainer(
            model,
            loss="cross_entropy",
            optimizer=optimizer,
            metrics=["accuracy"],
            callbacks=[self.monitor],
            regularizer=build_regularizer(config.regularization),
            verbose=0,
        )
        self.settings, self.model, self.data = settings, model, data
        self.rng_state = get_rng_state()
        self.points = load_plane(
            settings.dataset, N_SAMPLES, settings.noise, settings.train_fraction, settings.seed
        )
        self.grid_inputs = plane_features(_grid(), settings.features)
        self._input_maps = [
            {"name": name, **heat_map}
            for name, heat_map in zip(settings.features, _heat_maps(self.grid_inputs))
        ]
        self._points = json.dumps(  # fixed for the run: encoded once
            {
                role: np.column_stack([np.round(x, 3), y]).tolist()
                for role, (x, y) in zip(("train", "test"), self.points)
            }
        )
        self.playing, self.steps_wanted, self.message = False, 0, ""
        self.start = {  # epoch 0's losses: evaluation draws nothing random
            "train": self.trainer.evaluate(data.train),
            "test": self.trainer.evaluate(data.test),
        }
        self.findings: list[dict[str, Any]] = []
        self._doctor_next = 0.0
        self.snapshot(force=True)

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    def train_epoch(self) -> None:
        """One more epoch, continuing the run exactly; pauses on a NaN or at MAX_EPOCHS."""
        set_rng_state(self.rng_state)
        try:
            self.trainer.fit(
                self.data.train,
                epochs=self.epoch + 1,
                batch_size=self.settings.batch_size,
                validation_data=self.data.validation,
            )
        finally:
            self.rng_state = get_rng_state()
        if self.trainer.stop_reason:
            self.playing, self.message = False, self.trainer.stop_reason
        elif self.epoch >= MAX_EPOCHS:
            self.playing, self.message = (
                False,
                f"paused at {MAX_EPOCHS} epochs, the most a run keeps",
            )

    # ---------------------------------------------------------------- state
    def snapshot(self, force: bool = False) -> bool:
        """Recompute the state the page draws, unless one was made under SNAPSHOT_INTERVAL ago."""
        now = time.monotonic()
        if not force and now - getattr(self, "_snapshot_at", -math.inf) < SNAPSHOT_INTERVAL:
            return False
        self._snapshot_at = now
        self.version += 1
        history = self.trainer.history.history
        epochs = len(history.get("loss", []))
        chosen = np.unique(
            np.linspace(0, epochs, min(epochs + 1, CURVE_POINTS)).round().astype(int)
        )
        train = [self.start["train"]["loss"], *history.get("loss", [])]
        test = [self.start["test"]["loss"], *history.get("val_loss", [])]
        last = {
            "train_loss": train[-1],
            "test_loss": test[-1],
            "train_accuracy": (history.get("accuracy") or [self.start["train"]["accuracy"]])[-1],
            "test_accuracy": (history.get("val_accuracy") or [self.start["test"]["accuracy"]])[-1],
        }
        state = {
            "id": self.id,
            "version": self.version,
            "epoch": self.epoch,
            "playing": self.playing,
            "message": self.message,
            "settings": self.settings.to_json(),
            "curves": {
                "epoch": chosen.tolist(),
                "train": [_number(train[i]) for i in chosen],
                "test": [_number(test[i]) for i in chosen],
            },
            "last": {k: _number(v) for k, v in last.items()},
            "grid": {"size": GRID, "extent": EXTENT},
            **self._surfaces(),
            "doctor": self._doctor(now),
        }
        text = json.dumps(state, allow_nan=False)
        self.state = f'{text[:-1]}, "points": {self._points}}}'.encode()
        return True

    def _surfaces(self) -> dict[str, Any]:
        """The output's P(class 1), every input feature, hidden unit and logit over the grid;
        the weights and biases of every layer. Eval mode, no graph."""
        hidden, current = [], None
        x = Tensor(self.grid_inputs)
        with evaluating(self.model):
            for module in self.model:
                if isinstance(module, nn.Linear) and current is not None:
                    hidden.append(current)  # the previous block's output
                x = module(x)
                if not isinstance(module, nn.Dropout):
                    current = x.numpy()
        logits = x.numpy().astype(np.float64)
        p1 = 1.0 / (1.0 + np.exp(np.clip(logits[:, 0] - logits[:, 1], -500, 500)))
        linears = [m for m in self.model if isinstance(m, nn.Linear)]
        return {
            "output": _base64(_encode(2.0 * p1 - 1.0, 1.0)),
            "inputs": self._input_maps,
            "neurons": [_heat_maps(h) for h in hidden],
            "logits": _heat_maps(logits),
            "weights": [np.nan_to_num(m.weight.numpy()).tolist() for m in linears],
            "biases": [np.nan_to_num(m.bias.numpy()).tolist() for m in linears],  # type: ignore[union-attr]
        }

    def _doctor(self, now: float) -> list[dict[str, Any]]:
        """The doctor's findings so far, refreshed at most once a second (and less often when
        diagnosing a long run would take more than DOCTOR_SHARE of the time)."""
        if self.epoch == 0:
            return []
        if now >= self._doctor_next or not self.playing:
            started = time.perf_counter()
            history = self.trainer.history.history
            findings = diagnose(history, self.monitor.diagnostics(), finished=False)
            self.findings = [
                {
                    "severity": f.severity,
                    "title": f.title,
                    "evidence": f.evidence,
                    "remedies": list(f.remedies),
                }
                for f in findings
            ]
            cost = time.perf_counter() - started
            self._doctor_next = now + max(1.0, cost / DOCTOR_SHARE)
        return self.findings


class SessionPool:
    """The open sessions and the worker thread that trains them."""

    def __init__(self, max_sessions: int = 32, ttl: float = 120.0) -> None:
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.sessions: dict[str, Session] = {}
        self.expired = 0
        self._cond = threading.Condition()  # guards sessions and their flags; wakes the worker
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="playground-worker", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- requests
    def create(self, settings: Settings) -> Session:
        self._check_room()  # before building, so a full pool costs nothing
        with ENGINE:
            session = Session(settings)
        with self._cond:
            self._check_room()
            self.sessions[session.id] = session
        return session

    def _check_room(self) -> None:
        with self._cond:
            self._expire()
            if len(self.sessions) >= self.max_sessions:
                raise SessionLimitError(
                    f"all {self.max_sessions} sessions are in use; close a playground tab "
                    f"(an idle one closes after {self.ttl:g} s)"
                )

    def get(self, session_id: str) -> Session | None:
        with self._cond:
            session = self.sessions.get(session_id)
            if session is not None:
                session.last_seen = time.monotonic()
            return session

    def rebuild(self, session: Session, settings: Settings) -> None:
        """New settings or a reset: the session starts over, paused at epoch 0."""
        with ENGINE:
            session.build(settings)

    def play(self, session: Session, playing: bool) -> None:
        with self._cond:
            session.playing = playing and session.epoch < MAX_EPOCHS
            if playing:
                session.message = ""
            self._cond.notify_all()
        with ENGINE:
            session.snapshot(force=True)

    def step(self, session: Session, timeout: float = 60.0) -> bool:
        """Pause and train one more epoch; True once it is done (False on timeout)."""
        with self._cond:
            session.playing = False
            session.steps_wanted += 1
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: session.steps_wanted == 0, timeout)
            session.last_seen = time.monotonic()  # waiting is no idleness
            return done

    def close(self, session_id: str) -> bool:
        with self._cond:
            session = self.sessions.pop(session_id, None)
            if session is not None:
                session.closed = True
            return session is not None

    def shutdown(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._worker.join(timeout=10)

    # ---------------------------------------------------------------- worker
    def _expire(self) -> None:
        deadline = time.monotonic() - self.ttl
        for session_id in [i for i, s in self.sessions.items() if s.last_seen < deadline]:
            self.sessions.pop(session_id).closed = True
            self.expired += 1

    def _work(self) -> None:
        while True:
            with self._cond:
                self._expire()
                runnable = [s for s in self.sessions.values() if s.playing or s.steps_wanted]
                if self._stopping:
                    return
                if not runnable:
                    self._cond.wait(timeout=1.0)
                    continue
            for session in runnable:
                self._turn(session)
                time.sleep(0)  # let request threads at ENGINE in between

    def _turn(self, session: Session) -> None:
        """One epoch of one session, then its state when due."""
        with ENGINE:
            stepping = session.steps_wanted > 0
            if session.closed:
                with self._cond:
                    session.steps_wanted = 0
                    self._cond.notify_all()
                return
            try:
                session.train_epoch()
                session.snapshot(force=stepping or not session.playing)
            except Exception as error:  # this session stops; the worker and the others go on
                session.playing, session.message = False, f"training failed: {error}"
        with self._cond:
            if stepping:
                session.steps_wanted -= 1
            self._cond.notify_all()
