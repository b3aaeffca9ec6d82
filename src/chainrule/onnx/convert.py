"""Each chainrule layer as ONNX operators (opset 17), and ``export`` that walks a model.

Direct equivalents: Linear (Gemm, or MatMul + Add for inputs of rank > 2), Conv2d,
MaxPool2d, AvgPool2d (count_include_pad, as chainrule counts zero padding),
BatchNorm (eval: BatchNormalization on the running statistics), Dropout and Identity
(Identity), ReLU, Sigmoid, Tanh, LeakyReLU, ELU, Hardtanh (Clip), AbsRectify (Abs),
Softmax, LogSoftmax, PReLU. Compositions: Flatten (Reshape), Residual (Add), LPPool2d
(Pow, AveragePool, Pow: ONNX's LpPool takes integer p only), Softplus with beta (a
stable relu(z) + softplus(-|z|) form), GELU (Erf, or the tanh formula), Maxout and
MaxoutLinear (Reshape + ReduceMax), RBF (ReduceSumSquare, MatMul, Exp, as chainrule's
||x||^2 - 2 x w^T + ||w||^2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

# Host NumPy on purpose: an ONNX file holds host arrays (weights are copied off a device).
import numpy as np
import numpy.typing as npt

from chainrule import backend, nn
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentTypeError
from chainrule.nn.modes import evaluating
from chainrule.train.serialization import atomic_write_bytes

OPSET = 17

Converter = Callable[["Graph", Any, str, Tensor], str]
_CONVERTERS: dict[type, Converter] = {}


def register_converter(cls: type[nn.Module], converter: Converter) -> None:
    """Export ``cls`` with ``converter(graph, module, input_name, input_value) -> output_name``,
    adding nodes with ``graph.node(op, inputs, **attributes)`` and weights with
    ``graph.const(array)``; ``input_value`` is the layer's input tensor (for its shape)."""
    _CONVERTERS[cls] = converter


class Graph:
    """The nodes and initialisers of the graph being built."""

    def __init__(self, dtype: np.dtype) -> None:
        from onnx import helper, numpy_helper  # optional: onnx

        self._helper, self._numpy_helper = helper, numpy_helper
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = None) -> str:
        """An initialiser holding ``value`` (in the model's dtype unless ``dtype``)."""
        if not isinstance(value, int | float | np.ndarray):
            value = backend.to_numpy(value)  # a device array
        array = np.asarray(value, dtype=dtype or self.dtype)
        name = self._name("const")
        self.initializers.append(self._numpy_helper.from_array(array, name))
        return name

    def shape(self, dims: list[int]) -> str:
        return self.const(np.array(dims, dtype=np.int64), np.int64)

    def node(self, op: str, inputs: list[str], **attributes: Any) -> str:
        output = self._name(op.lower())
        self.nodes.append(self._helper.make_node(op, inputs, [output], **attributes))
        return output

    def convert(self, module: nn.Module, where: str, name: str, x: Tensor) -> tuple[str, Tensor]:
        """Add ``module`` applied to ``name``; returns the output's name and value."""
        converter = _CONVERTERS.get(type(module))
        if converter is None:
            exportable = ", ".join(sorted(cls.__name__ for cls in _CONVERTERS))
            raise ArgumentTypeError(
                f"cannot export {where} ({type(module).__name__}) to ONNX: no converter for it; "
                f"exportable layers: {exportable} (chainrule.onnx.register_converter adds one)"
            )
        if isinstance(module, nn.Sequential):
            for child_name, child in module.named_children():
                name, x = self.convert(child, f"{where}.{child_name}", name, x)
            return name, x
        if isinstance(module, nn.Autoencoder):  # in eval mode: no corruption, decoder(encoder(x))
            name, x = self.convert(module.encoder, f"{where}.encoder", name, x)
            return self.convert(module.decoder, f"{where}.decoder", name, x)
        if isinstance(module, nn.Residual):
            fx_name, _ = self.convert(module.f, f"{where}.f", name, x)
            short_name = name
            if module.projection is not None:
                short_name, _ = self.convert(module.projection, f"{where}.projection", name, x)
            return self.node("Add", [fx_name, short_name]), module(x)
        return converter(self, module, name, x), module(x)


def export(
    model: nn.Module,
    example_input: Tensor | npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    opset: int = OPSET,
) -> None:
    """Write ``model``, in eval mode, as an ONNX file at ``path`` (atomically), checked by
    ``onnx.checker``. ``example_input`` (N, ...) fixes every axis but the batch axis."""
    try:
        import onnx  # optional: onnx
        from onnx import TensorProto, helper  # optional: onnx
    except ImportError as error:
        raise ImportError('ONNX export needs: pip install "chainrule[onnx]"') from error
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"export: expected a Module; got {type(model).__name__}")
    x = example_input if isinstance(example_input, Tensor) else Tensor(example_input)
    if x.ndim == 0:
        raise ArgumentTypeError("export: example_input needs a batch axis; got a scalar")
    kinds = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float64"): TensorProto.DOUBLE}
    if x.dtype not in kinds:
        raise ArgumentTypeError(f"export: example_input must be float32 or float64; got {x.dtype}")
    graph = Graph(x.dtype)
    with evaluating(model):
        name, y = graph.convert(model, "model", "input", x)
    graph.nodes.append(helper.make_node("Identity", [name], ["output"]))
    kind = kinds[x.dtype]
    onnx_graph = helper.make_graph(
        graph.nodes,
        "chainrule",
        [helper.make_tensor_value_info("input", kind, ["N", *x.shape[1:]])],
        [helper.make_tensor_value_info("output", kind, ["N", *y.shape[1:]])],
        graph.initializers,
    )
    onnx_model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="chainrule"
    )
    onnx_model.ir_version = 8  # what opset 17 came with: older runtimes read it too
    onnx.checker.check_model(onnx_model, full_check=True)
    atomic_write_bytes(path, onnx_model.SerializeToString())


# ------------------------------------------------------------------ converters
def _linear(g: Graph, weight: Tensor, bias: Tensor | None, name: str, x: Tensor) -> str:
    if x.ndim == 2:
        inputs = [name, g.const(weight.data)] + ([g.const(bias.data)] if bias is not None else [])
        return g.node("Gemm", inputs, transB=1)
    y = g.node("MatMul", [name, g.const(backend.to_numpy(weight.data).T)])
    return y if bias is None else g.node("Add", [y, g.const(bias.data)])


def _maxout(g: Graph, name: str, shape: tuple[int, ...], pieces: int, axis: int) -> str:
    axis = axis % len(shape)
    dims = [0] * axis + [shape[axis] // pieces, pieces, *shape[axis + 1 :]]
    grouped = g.node("Reshape", [name, g.shape(dims)])
    return g.node("ReduceMax", [grouped], axes=[axis + 1], keepdims=0)


def _pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]


def _conv(g: Graph, m: nn.Conv2d, name: str, x: Tensor) -> str:
    inputs = [name, g.const(m.weight.data)] + ([g.const(m.bias.data)] if m.bias is not None else [])
    return g.node(
        "Conv",
        inputs,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=_pads(m.padding),
    )


def _pool(op: str, **extra: Any) -> Converter:
    def convert(g: Graph, m: Any, name: str, x: Tensor) -> str:
        return g.node(
            op,
            [name],
            kernel_shape=list(m.kernel_size),
            strides=list(m.stride),
            pads=_pads(m.padding),
            **extra,
        )

    return convert


def _lppool(g: Graph, m: nn.LPPool2d, name: str, x: Tensor) -> str:
    powered = g.node("Pow", [name, g.const(m.p)])
    mean = g.node(
        "AveragePool", [powered], kernel_shape=list(m.kernel_size), strides=list(m.stride)
    )
    root = g.node("Sqrt", [mean]) if m.p == 2 else g.node("Pow", [mean, g.const(1.0 / m.p)])
    if m.root_of == "sum":
        root = g.node(
            "Mul", [root, g.const(float(m.kernel_size[0] * m.kernel_size[1]) ** (1 / m.p))]
        )
    return root


def _batchnorm(g: Graph, m: Any, name: str, x: Tensor) -> str:
    n = m.num_features
    scale = m.weight.data if m.affine else np.ones(n)
    shift = m.bias.data if m.affine else np.zeros(n)
    stats = [g.const(m.running_mean.data), g.const(m.running_var.data)]
    return g.node(
        "BatchNormalization", [name, g.const(scale), g.const(shift), *stats], epsilon=m.eps
    )


def _flatten(g: Graph, m: nn.Flatten, name: str, x: Tensor) -> str:
    start = m.start_axis % x.ndim
    end = m.end_axis % x.ndim
    dims = [0] * start + [-1] + list(x.shape[end + 1 :])
    if start == 0:  # the batch axis is merged: the others must be spelt out
        dims = [-1, *x.shape[end + 1 :]]
    return g.node("Reshape", [name, g.shape(dims)])


def _softplus(g: Graph, m: nn.Softplus, name: str, x: Tensor) -> str:
    z = g.node("Mul", [name, g.const(m.beta)]) if m.beta != 1 else name
    # log(1 + e^z) = relu(z) + log(1 + e^-|z|): no overflow for large z, as chainrule's
    tail = g.node("Softplus", [g.node("Neg", [g.node("Abs", [z])])])
    y = g.node("Add", [g.node("Relu", [z]), tail])
    return g.node("Div", [y, g.const(m.beta)]) if m.beta != 1 else y


def _gelu(g: Graph, m: nn.GELU, name: str, x: Tensor) -> str:
    if m.approximate == "tanh":  # 0.5 x (1 + tanh(c (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [name, name]), name])
        inner = g.node("Add", [name, g.node("Mul", [cube, g.const(0.044715)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.const(math.sqrt(2 / math.pi))])])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [name, g.const(math.sqrt(0.5))])])
    half_x = g.node("Mul", [name, g.const(0.5)])
    return g.node("Mul", [half_x, g.node("Add", [t, g.const(1.0)])])


def _prelu(g: Graph, m: nn.PReLU, name: str, x: Tensor) -> str:
    slope = backend.to_numpy(m.weight.data)
    if slope.size > 1:  # one per channel of axis 1
        slope = slope.reshape((slope.size,) + (1,) * (x.ndim - 2))
    return g.node("PRelu", [name, g.const(slope)])


def _rbf(g: Graph, m: nn.RBF, name: str, x: Tensor) -> str:
    w = backend.to_numpy(m.weight.data)
    xx = g.node("ReduceSumSquare", [name], axes=[1], keepdims=1)
    cross = g.node("MatMul", [name, g.const(w.T)])
    squared = g.node(
        "Add",
        [g.node("Sub", [xx, g.node("Mul", [cross, g.const(2.0)])]), g.const((w * w).sum(axis=1))],
    )
    distance2 = g.node("Relu", [squared])  # rounding can dip it below 0, as in chainrule
    return g.node("Exp", [g.node("Neg", [g.node("Div", [distance2, g.const(m.sigma * m.sigma)])])])


def _simple(op: str, **attributes: Callable[[Any], Any]) -> Converter:
    return lambda g, m, name, x: g.node(op, [name], **{k: f(m) for k, f in attributes.items()})


def _axis(op: str) -> Converter:
    return lambda g, m, name, x: g.node(op, [name], axis=m.axis % x.ndim)


_BUILTIN: dict[type, Converter] = {
    nn.Linear: lambda g, m, name, x: _linear(g, m.weight, m.bias, name, x),
    nn.MaxoutLinear: lambda g, m, name, x: _maxout(
        g,
        _linear(g, m.weight, m.bias, name, x),
        (*x.shape[:-1], m.out_features * m.num_pieces),
        m.num_pieces,
        -1,
    ),
    nn.Maxout: lambda g, m, name, x: _maxout(g, name, tuple(x.shape), m.num_pieces, m.axis),
    nn.Conv2d: _conv,
    nn.MaxPool2d: _pool("MaxPool"),
    nn.AvgPool2d: _pool("AveragePool", count_include_pad=1),
    nn.LPPool2d: _lppool,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.Dropout: _simple("Identity"),
    nn.Identity: _simple("Identity"),
    nn.Flatten: _flatten,
    nn.ReLU: _simple("Relu"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.AbsRectify: _simple("Abs"),
    nn.LeakyReLU: _simple("LeakyRelu", alpha=lambda m: float(m.alpha)),
    nn.ELU: _simple("Elu", alpha=lambda m: float(m.alpha)),
    nn.Softplus: _softplus,
    nn.Hardtanh: lambda g, m, name, x: g.node(
        "Clip", [name, g.const(m.min_val), g.const(m.max_val)]
    ),
    nn.Softmax: _axis("Softmax"),
    nn.LogSoftmax: _axis("LogSoftmax"),
    nn.GELU: _gelu,
    nn.PReLU: _prelu,
    nn.RBF: _rbf,
    nn.Sequential: lambda g, m, name, x: name,  # walked by Graph.convert
    nn.Residual: lambda g, m, name, x: name,  # walked by Graph.convert
    nn.Autoencoder: lambda g, m, name, x: name,  # walked by Graph.convert
}
for _cls, _converter in _BUILTIN.items():
    register_converter(_cls, _converter)
