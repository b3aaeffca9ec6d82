"""The state of a training run: saved as a checkpoint, loaded to resume (see
``train.checkpoint`` for what it holds). Each process's random generators are found
here: the library's, the loader's, its transforms' and the model's layers'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.backend import get_rng_state, set_rng_state
from chainrule.errors import CheckpointError

if TYPE_CHECKING:
    from chainrule.train.loop import Trainer

# What Trainer.state_dict holds; a file without all of them is not a run checkpoint.
RUN_STATE_KEYS = (
    "model",
    "optimizer",
    "callbacks",
    "history",
    "progress",
    "order",
    "totals",
    "rng",
    "generators",
)


def save_run(trainer: Trainer) -> None:
    """Checkpoint ``trainer``'s run: every process takes part (each one's random state goes
    in); the writer saves."""
    rng_by_rank = trainer.strategy.all_gather(get_rng_state())
    if trainer.strategy.is_writer:
        state = trainer.state_dict()  # only the writer runs the file-writing callbacks
        if len(rng_by_rank) > 1:
            state["rng_by_rank"] = rng_by_rank
        trainer.checkpointer.save(state, trainer.global_step)


def resume_run(trainer: Trainer) -> str:
    """Load the newest good checkpoint into ``trainer`` (read by the writer, given to every
    process); returns its path."""
    state, path = trainer.strategy.on_writer(
        lambda: trainer.checkpointer.load_latest(trainer.check_fits)
    )
    trainer.load_state_dict(state)
    return path


def run_state(trainer: Trainer) -> dict[str, Any]:
    """Everything needed to continue ``trainer``'s run exactly."""
    return {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "callbacks": [cb.state_dict() for cb in trainer.callbacks],
        "history": trainer.history.state_dict(),
        "progress": {
            "epoch": trainer.epoch,
            "batch": trainer.batch,
            "global_step": trainer.global_step,
            "stop_training": trainer.stop_training,
            "stop_reason": trainer.stop_reason,
            "training_seconds": trainer.elapsed(),
        },
        "order": trainer._order if trainer.batch else None,
        "totals": trainer.stats.host_totals(),
        "rng": get_rng_state(),
        "generators": [g.bit_generator.state for g in own_generators(trainer)],
    }


def load_run_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put ``trainer`` where ``state`` was (after ``check_fits``); the callbacks' states
    wait in ``trainer._pending_callback_state`` until ``on_train_begin`` has reset them."""
    check_fits(trainer, state)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer._pending_callback_state = state["callbacks"]
    trainer.history.load_state_dict(state["history"])
    progress = state["progress"]
    trainer.epoch, trainer.batch, trainer.global_step = (
        progress["epoch"],
        progress["batch"],
        progress["global_step"],
    )
    trainer.stop_training, trainer.stop_reason = progress["stop_training"], progress["stop_reason"]
    seconds = progress.get("training_seconds")  # older checkpoints lack it
    trainer.training_seconds = 0.0 if seconds is None else float(seconds)
    trainer.training_seconds_partial = seconds is None
    trainer._order = state["order"]
    trainer.stats.totals = {k: float(v) for k, v in state["totals"].items()}
    by_rank = state.get("rng_by_rank")  # saved by a distributed run: each process its own
    same_world = by_rank is not None and len(by_rank) == trainer.strategy.world_size
    set_rng_state(by_rank[trainer.strategy.rank] if same_world else state["rng"])
    generators = own_generators(trainer)
    if len(generators) != len(state["generators"]):
        raise CheckpointError(
            f"the checkpoint holds the states of {len(state['generators'])} private random "
            f"generator(s) but this run has {len(generators)} (loader, transforms, layers); "
            "resume with the same data pipeline and model"
        )
    for generator, generator_state in zip(generators, state["generators"]):
        generator.bit_generator.state = generator_state


def own_generators(trainer: Trainer) -> list[np.random.Generator]:
    """The generators besides the library's that the run draws from: the loader's, its
    transforms' (through ``Compose``) and the model's layers', in that order."""
    found: list[np.random.Generator] = []

    def visit(obj: Any) -> None:
        generator = getattr(obj, "generator", None)
        if isinstance(generator, np.random.Generator) and not any(generator is g for g in found):
            found.append(generator)
        for inner in getattr(obj, "transforms", None) or ():
            visit(inner)

    visit(trainer._loader)
    visit(getattr(trainer._loader, "transform", None))
    for module in trainer.model.modules():
        visit(module)
    return found


def check_fits(trainer: Trainer, state: Any) -> None:
    """Refuse, changing nothing, a ``state`` that is not a checkpoint of ``trainer``'s run:
    keys, the model's parameter names and shapes, the number of callbacks."""
    if not isinstance(state, dict):
        raise CheckpointError(f"not a run checkpoint: it holds a {type(state).__name__}")
    missing = sorted(set(RUN_STATE_KEYS) - set(state))
    if missing:
        raise CheckpointError(
            f"not a run checkpoint (it lacks {', '.join(missing)}): resume needs a file "
            "that Trainer.state_dict wrote, not a model's weights"
        )
    own = trainer.model.state_dict()
    model = state["model"]
    if not isinstance(model, dict):
        raise CheckpointError(f"its model state is a {type(model).__name__}, not a dict")
    misfits = sorted(set(own) ^ set(model)) + [
        f"{k}: {tuple(np.shape(model[k]))} here {tuple(own[k].shape)}"
        for k in own
        if k in model and tuple(np.shape(model[k])) != tuple(own[k].shape)
    ]
    if misfits:
        raise CheckpointError(
            f"its model does not fit this one ({len(misfits)} keys or shapes differ: "
            f"{'; '.join(misfits[:4])})"
        )
    if not isinstance(state["callbacks"], list) or len(state["callbacks"]) != len(
        trainer.callbacks
    ):
        raise CheckpointError(
            f"the checkpoint has {len(state['callbacks'])} callback states but this trainer "
            f"has {len(trainer.callbacks)} callbacks; resume with the same callbacks"
        )
