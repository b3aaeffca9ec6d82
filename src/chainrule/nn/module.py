"""``Module``: a tree of layers that owns parameters, buffers and a train/eval mode."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.errors import ArgumentTypeError, DTypeError, ShapeError
from chainrule.nn.parameter import Parameter
from chainrule.nn.summary import summarize


class Module:
    """Base of every layer and model.

    Assigning a ``Parameter`` or a ``Module`` to an attribute registers it; buffers
    (state that is saved but not learned, such as batch norm's running mean) are
    registered with ``register_buffer``. Subclasses define ``forward``.
    """

    training: bool
    _parameters: OrderedDict[str, Parameter]
    _buffers: OrderedDict[str, Tensor | None]
    _modules: OrderedDict[str, Module]
    _forward_hooks: dict[int, Any] | None = None  # an instance dict once a hook is registered
    # Layers with running statistics (batch norm) set this: ``freeze`` may pin them to eval.
    has_running_stats: bool = False
    _pinned_eval: bool = False  # set by freeze(): train() leaves this module in eval mode

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        target = (
            self._parameters
            if isinstance(value, Parameter)
            else self._modules
            if isinstance(value, Module)
            else None
        )
        for table in (self._parameters, self._buffers, self._modules):
            if table is not target:
                table.pop(name, None)
        if target is not None:
            target[name] = value  # NOTE: a replaced entry keeps its place (Sequential order)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Keep ``tensor`` with the module and in its state_dict, but do not learn it."""
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        if parameter is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, parameter)

    def add_module(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise ArgumentTypeError(
                f"add_module: {name!r} must be a Module; got {type(module).__name__}"
            )
        setattr(self, name, module)

    # ------------------------------------------------------------------ running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in tuple(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(
        self, hook: Callable[[Module, tuple[Any, ...], Any], object]
    ) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None result
        replaces the output. ``handle.remove()`` unregisters it."""
        if not callable(hook):
            raise ArgumentTypeError(
                f"register_forward_hook: hook must be callable; got {type(hook).__name__}"
            )
        if self._forward_hooks is None:
            object.__setattr__(self, "_forward_hooks", {})
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on this module and below.

        Batch-norm layers that ``freeze()`` pinned to eval mode stay in eval mode.
        """
        for module in self.modules():
            object.__setattr__(module, "training", mode and not module._pinned_eval)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off, running statistics) on this module and below."""
        return self.train(False)

    # ------------------------------------------------------------- freezing
    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter below (PyTorch's); returns self.

        A parameter that does not require grad gets no gradient, and optimisers skip it
        (no update, no state). Batch norm's running statistics still move in training
        mode: ``freeze()`` is the call that also stops those.
        """
        if not isinstance(requires_grad, bool):
            raise ArgumentTypeError(
                f"requires_grad_: expected True or False; got {requires_grad!r}"
            )
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def freeze(self, batchnorm_eval: bool = True) -> Module:
        """Stop this module (or a ``Sequential`` slice, ``model[:4]``) from learning; returns self.

        Every parameter below stops requiring grad. With ``batchnorm_eval`` (the default,
        Keras' ``trainable = False``), batch-norm layers below are also pinned to eval
        mode: they normalise with the running statistics learned before and stop
        updating them, even inside ``model.train()``. ``batchnorm_eval=False`` is
        PyTorch's ``requires_grad_(False)``: batch statistics and running updates go on.
        """
        if not isinstance(batchnorm_eval, bool):
            raise ArgumentTypeError(
                f"freeze: batchnorm_eval must be True or False; got {batchnorm_eval!r}"
            )
        self.requires_grad_(False)
        for module in self.modules():
            if module.has_running_stats:
                object.__setattr__(module, "_pinned_eval", batchnorm_eval)
                if batchnorm_eval:
                    object.__setattr__(module, "training", False)
        return self

    def unfreeze(self) -> Module:
        """Undo ``freeze``: every parameter below learns again, and batch norm follows the
        next ``train()`` / ``eval()`` call again (it stays in eval mode until then)."""
        self.requires_grad_(True)
        for module in self.modules():
            object.__setattr__(module, "_pinned_eval", False)
        return self

    # ----------------------------------------------------------------- walking
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, each once, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """``named_modules`` without the names (every step's ``zero_grad`` walks this)."""
        seen: set[int] = set()
        stack: list[Module] = [self]
        while stack:
            module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack.extend(reversed(module._modules.values()))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter below this module, each once (shared ones under their first name)."""
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        """``named_parameters`` without the names, in the same order."""
        seen: set[int] = set()
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def to(self, target: str | backend.DTypeLike) -> Module:
        """Move every parameter and buffer to a device ('cpu', 'cuda'), or cast the floating
        ones to a floating dtype ('float64', ``chainrule.float64``...), in place; returns self.

        The Parameters stay the same objects. Make the optimiser after moving or casting
        the model: its state (momentum, ...) is created like its parameters are then.
        """
        if isinstance(target, str) and not _names_a_dtype(target):
            backend.array_module(target)  # checks the name, and that CuPy is there for 'cuda'
            convert = functools.partial(backend.to_device, device=target)
        else:
            dtype = backend.as_dtype(target)
            if dtype.kind != "f":
                raise DTypeError(
                    f"{type(self).__name__}.to: expected a device ('cpu', 'cuda') or a "
                    f"floating dtype ('float32', 'float64'); got {target!r}"
                )
            convert = functools.partial(_cast_floating, dtype=dtype)
        for p in self.parameters():
            p.data = convert(p.data)
            if p.grad is not None:
                p.grad = Tensor._wrap(convert(p.grad.data), False)
        for _, b in self.named_buffers():
            b.data = convert(b.data)
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64, in place; returns self."""
        return self.to("float64")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32, in place; returns self."""
        return self.to("float32")

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (set them to None)."""
        for p in self.parameters():
            p.grad = None

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, backend.HostArray]:
        """Parameters and buffers by dotted name, as host (NumPy) array copies."""
        state: OrderedDict[str, Any] = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = backend.to_numpy(p.data).copy()
        for name, b in self.named_buffers():
            state[name] = backend.to_numpy(b.data).copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy ``state`` into this module's parameters and buffers, in place.

        ``strict`` (the default): the keys must be exactly this module's. ``strict=False``
        (to reuse part of another model): keys missing from ``state`` keep their values
        and unexpected keys are ignored. Either way a shape mismatch is an error naming
        the key and both shapes, and nothing is copied unless everything fits. Returns
        ``LoadResult(missing_keys, unexpected_keys, matched_keys)``, as PyTorch does.
        """
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        matched = [k for k in own if k in state]
        wrong_shape = [
            f"{k}: expected {tuple(own[k].shape)}, got {tuple(_shape_of(state[k]))}"
            for k in matched
            if tuple(_shape_of(state[k])) != tuple(own[k].shape)
        ]
        problems = []
        if missing and strict:
            problems.append(f"missing keys: {', '.join(missing)}")
        if unexpected and strict:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if wrong_shape:
            problems.append(f"shape mismatch: {'; '.join(wrong_shape)}")
        if problems:
            raise ShapeError(f"load_state_dict into {type(self).__name__}: " + " | ".join(problems))
        for name in matched:
            tensor = own[name]
            value = state[name].data if isinstance(state[name], Tensor) else state[name]
            value = backend.asarray(value, dtype=tensor.dtype)
            tensor.data[...] = backend.to_device(value, tensor.device)
        return LoadResult(missing, unexpected, matched)

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): {_indent(repr(m))}" for name, m in self._modules.items()]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def summary(
        self,
        input_shape: tuple[int, ...],
        dtype: backend.DTypeLike = None,
        print_fn: Callable[[str], object] | None = print,
    ) -> str:
        """Print (and return) a table of layers, output shapes and parameter counts.

        ``input_shape`` leaves out the batch axis, as in Keras: ``(1, 28, 28)``.
        """
        text = summarize(self, input_shape, dtype)
        if print_fn is not None:
            print_fn(text)
        return text


class LoadResult(NamedTuple):
    """What ``load_state_dict`` did: the keys it lacked, ignored, and copied."""

    missing_keys: list[str]
    unexpected_keys: list[str]
    matched_keys: list[str]


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` takes the hook out again."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


def _names_a_dtype(name: str) -> bool:
    try:
        backend.as_dtype(name)
    except TypeError:  # DTypeError: then it is a device name, checked as one
        return False
    return True


def _cast_floating(array: Any, dtype: Any) -> Any:
    """``array`` as ``dtype`` when it is floating (integer buffers keep theirs)."""
    return array.astype(dtype, copy=False) if array.dtype.kind == "f" else array


def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
