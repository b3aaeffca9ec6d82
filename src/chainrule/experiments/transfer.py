"""``[transfer]``: start a run from the lower layers of another one.

    [transfer]
    from = "runs/mnist-0-4"   # a run directory, or a saved state_dict (.npz)
    layers = 7                # reuse model.layers[0:7] (default: all before the head)
    freeze = 7                # freeze model.layers[0:7] (default: those reused)
    batchnorm_eval = true     # frozen batch norm keeps its running statistics (Keras)
    fine_tune_epochs = 3      # then unfreeze everything for 3 more epochs ...
    fine_tune_lr = 1e-4       # ... at this learning rate (default: optimizer.lr / 10)

Without ``[model]``, the model is the source run's with a new head: its last linear layer
gets ``out`` = this data's number of classes (from an ``[autoencoder]`` run: its encoder
with a linear head after it). The layers that are not reused (the head
at least) start from their initialisation. A layer index counts ``[model] layers``, not
the Flatten that ``data.flatten`` puts in front.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule import nn
from chainrule.experiments.config import LayerConfig, ModelConfig, TransferConfig
from chainrule.experiments.schema import (
    ConfigError,
    boolean,
    fail,
    integer,
    number,
    parse_fields,
    string,
)
from chainrule.train.serialization import load

if TYPE_CHECKING:
    from chainrule.experiments.config import DataConfig, ExperimentConfig


def source_files(source: str) -> tuple[Path | None, Path]:
    """(the source run's config.toml or None, the weights file) of ``transfer.from``."""
    path = Path(source).expanduser()
    if path.is_dir():
        config, weights = path / "config.toml", path / "checkpoints" / "best.npz"
        if config.is_file() and weights.is_file():
            return config, weights
        raise ConfigError(
            f"transfer.from: {source} is a directory but not a finished run (it needs "
            "config.toml and checkpoints/best.npz)"
        )
    if path.is_file():
        return None, path
    raise ConfigError(
        f"transfer.from: {source} does not exist; expected a run directory or a saved "
        "state_dict (.npz)"
    )


def head_index(layers: tuple[LayerConfig, ...]) -> int:
    """The index of the head: the last linear layer."""
    for i in range(len(layers) - 1, -1, -1):
        if layers[i].type == "linear":
            return i
    raise ConfigError(
        "[transfer]: the model has no linear layer to serve as the head; say which layers "
        "to reuse with transfer.layers"
    )


def parse_transfer(
    table: Mapping[str, Any],
    model: ModelConfig | None,
    data: DataConfig,
    default_lr: float,
) -> tuple[TransferConfig, ModelConfig]:
    """The ``[transfer]`` table, checked, and the model: ``model`` or the source's with a new head."""
    values = parse_fields(
        table,
        {
            "from": string,
            "layers": integer(1),
            "freeze": integer(0),
            "batchnorm_eval": boolean,
            "fine_tune_epochs": integer(0),
            "fine_tune_lr": number(0, low_open=True),
        },
        "transfer",
        required=("from",),
    )
    if model is None:
        config_path, _ = source_files(values["from"])
        if config_path is None:
            raise ConfigError(
                "[model]: missing; a saved state_dict does not say the architecture, so "
                "give [model] (or transfer from a run directory)"
            )
        from chainrule.experiments.parse import load_config  # cycle: parse.py imports this module

        source = load_config(config_path)
        layers = source.model.layers
        if source.autoencoder is not None:  # its encoder, then a head
            from chainrule.experiments.parse import _layer  # cycle: parse.py imports this module

            head = _layer({"type": "linear", "out": data.num_classes}, "transfer")
            model = ModelConfig((*layers, head))
        else:
            head = head_index(layers)
            new_head = replace(layers[head], args={**layers[head].args, "out": data.num_classes})
            model = ModelConfig((*layers[:head], new_head, *layers[head + 1 :]))
    count = len(model.layers)
    taken = values.get("layers", head_index(model.layers))
    if taken > count:
        raise fail("transfer.layers", f"at most the {count} layers of [model]", taken)
    frozen = values.get("freeze", taken)
    if frozen > taken:
        raise fail(
            "transfer.freeze", f"at most the {taken} layers reused (transfer.layers)", frozen
        )
    epochs = values.get("fine_tune_epochs", 0)
    if "fine_tune_lr" in values and not epochs:
        raise ConfigError("transfer.fine_tune_lr: set transfer.fine_tune_epochs too")
    config = TransferConfig(
        source=values["from"],
        layers=taken,
        freeze=frozen,
        batchnorm_eval=values.get("batchnorm_eval", True),
        fine_tune_epochs=epochs,
        fine_tune_lr=values.get("fine_tune_lr", default_lr / 10) if epochs else None,
    )
    return config, model


def _layer_keys(state: Mapping[str, Any], offset: int, count: int) -> dict[str, Any]:
    """``state``'s entries of layers 0 .. count - 1 (Sequential index = layer + offset), by
    layer-relative key ``"<layer>.<name>"``."""
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head.isdigit() and 0 <= int(head) - offset < count:
            out[f"{int(head) - offset}.{rest}"] = value
    return out


def apply_transfer(model: nn.Sequential, config: ExperimentConfig) -> dict[str, Any]:
    """Load the reused layers into ``model`` and freeze those asked; returns the record.

    Every parameter and buffer of the reused layers must be in the source with the same
    shape; the error names the one that is not.
    """
    transfer = config.transfer
    if transfer is None:
        raise ConfigError(f"{config.name!r} has no [transfer] table")
    config_path, weights_path = source_files(transfer.source)
    source_offset, encoder_only = 0, False
    if config_path is not None:
        from chainrule.experiments.parse import load_config  # cycle: parse.py imports this module

        source = load_config(config_path)
        source_offset, encoder_only = int(source.data.flatten), source.autoencoder is not None
    offset = int(config.data.flatten)
    state = load(weights_path)
    if not isinstance(state, Mapping):
        raise ConfigError(f"transfer.from: {weights_path} does not hold a state_dict")
    if encoder_only:  # an autoencoder run: its encoder's weights are encoder.<layer>.<name>
        state = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    wanted = _layer_keys(model.state_dict(), offset, transfer.layers)
    given = _layer_keys(state, source_offset, transfer.layers)
    missing = [k for k in wanted if k not in given]
    if missing:
        raise ConfigError(
            f"transfer.from: {weights_path} has no weights for layer {missing[0].split('.')[0]} "
            f"({missing[0]}); transfer.layers = {transfer.layers} reuses layers 0 to "
            f"{transfer.layers - 1}, so the source must have them"
        )
    renamed = {
        f"{int(k.split('.')[0]) + offset}.{k.partition('.')[2]}": v for k, v in given.items()
    }
    try:
        result = model.load_state_dict(renamed, strict=False)
    except Exception as error:
        raise ConfigError(f"transfer.from: {weights_path}: {error}") from None
    modules = list(model)[offset:]
    for layer in modules[: transfer.freeze]:
        layer.freeze(batchnorm_eval=transfer.batchnorm_eval)
    types = [layer.type for layer in config.model.layers]
    return {
        "from": transfer.source,
        "weights": str(weights_path),
        "reused_layers": [f"{i}: {types[i]}" for i in range(transfer.layers)],
        "frozen_layers": [f"{i}: {types[i]}" for i in range(transfer.freeze)],
        "new_layers": [f"{i}: {types[i]}" for i in range(transfer.layers, len(types))],
        "matched_keys": result.matched_keys,
        "initialised_keys": result.missing_keys,
        "frozen_parameters": sum(p.size for p in model.parameters() if not p.requires_grad),
        "batchnorm_eval": transfer.batchnorm_eval,
        "fine_tune_epochs": transfer.fine_tune_epochs,
        "fine_tune_lr": transfer.fine_tune_lr,
    }


def describe(record: Mapping[str, Any]) -> str:
    """What ``chainrule train`` prints: what was reused, frozen and left new."""

    pinned = record["batchnorm_eval"] and any("batchnorm" in x for x in record["frozen_layers"])

    def span(items: list[str]) -> str:
        return ", ".join(items) if items else "none"

    lines = [
        f"transfer from {record['from']}:",
        f"  reused layers {span(record['reused_layers'])} ({len(record['matched_keys'])} tensors)",
        f"  frozen layers {span(record['frozen_layers'])} ({record['frozen_parameters']:,} "
        "parameters" + (", batch norm in eval mode)" if pinned else ")"),
        f"  new layers {span(record['new_layers'])}",
    ]
    if record["fine_tune_epochs"]:
        lines.append(
            f"  then fine-tuning: every layer unfrozen for {record['fine_tune_epochs']} "
            f"epochs at lr {record['fine_tune_lr']:g}"
        )
    return "\n".join(lines)
