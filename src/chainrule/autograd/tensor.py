"""``Tensor``: an array that remembers the op that made it, so gradients can flow back."""

from __future__ import annotations

from collections.abc import Sequence
from types import EllipsisType
from typing import Any

from chainrule import backend
from chainrule.autograd import engine, hooks
from chainrule.autograd.function import Function
from chainrule.errors import ArgumentTypeError, DTypeError, GraphError, ShapeError


class Tensor:
    """A backend array plus what reverse-mode differentiation needs.

    ``Tensor(data, dtype=None, requires_grad=False, device=None)``: floating data gets
    the default dtype (float32) unless ``dtype`` says otherwise; integer and boolean
    data keep theirs. ``grad`` is a Tensor filled by ``backward()``.
    """

    __slots__ = ("__weakref__", "_ctx", "_requires_grad", "data", "grad", "name")
    data: backend.Array
    __array_ufunc__ = None  # numpy defers to our reflected operators: 2.0 * t is a Tensor

    def __init__(
        self,
        data: TensorLike,
        dtype: backend.DTypeLike = None,
        requires_grad: bool = False,
        device: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.asarray(data, dtype, device)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self._requires_grad = False
        self.name: str | None = None
        if requires_grad:
            self.requires_grad = True

    @staticmethod
    def _wrap(data: backend.Array, requires_grad: bool) -> Tensor:
        """A tensor around an array an op produced (no conversion, no checks)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t._ctx = None
        t._requires_grad = requires_grad
        t.name = None
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise DTypeError(
                f"requires_grad=True needs a floating-point tensor; got dtype {self.data.dtype}"
            )
        if self._ctx is not None and not value:
            raise GraphError(
                "requires_grad can only be switched off on a leaf tensor; use .detach() "
                "to get a tensor without a graph"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> backend.DType:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The op that produced this tensor (None for leaves)."""
        return self._ctx

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ShapeError("len() of a 0-d tensor")
        return self.data.shape[0]

    __hash__ = object.__hash__  # tensors key optimiser state; == is elementwise

    # ---------------------------------------------------------------- conversion
    def numpy(self) -> backend.HostArray:
        """The values as a NumPy array (copied to the host if on a GPU)."""
        return backend.to_numpy(self.data)

    def __array__(
        self, dtype: backend.DTypeLike = None, copy: bool | None = None
    ) -> backend.HostArray:
        array = backend.to_numpy(self.data)
        return array if dtype is None else array.astype(dtype)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element; got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return backend.to_numpy(self.data).tolist()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data, False)

    def astype(self, dtype: backend.DTypeLike) -> Tensor:
        """A copy in another dtype; differentiable between floating dtypes."""
        return _ops.astype(self, dtype)

    def to(self, target: str | backend.DTypeLike) -> Tensor:
        """Move to a device ('cpu', 'cuda') or convert to a dtype."""
        if isinstance(target, str) and (target == "cpu" or target.startswith("cuda")):
            return _ops.to_device(self, target)
        return self.astype(target)

    def float(self) -> Tensor:
        return self.astype(backend.float32)

    def double(self) -> Tensor:
        return self.astype(backend.float64)

    def __repr__(self) -> str:
        body = backend.format_array(self.data, prefix="tensor(")
        extras = []
        if self.dtype != backend.default_float_dtype() or self.dtype.kind != "f":
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ backward
    def backward(
        self,
        grad: Tensor | backend.Array | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Fill ``.grad`` of every leaf this tensor depends on with d(self)/d(leaf).

        ``grad`` (d(loss)/d(self)) may be left out only when this tensor is a scalar.
        ``create_graph=True`` computes the gradients with differentiable ops: each ``.grad``
        is then a Tensor in a graph, to be differentiated again (``retain_graph`` defaults
        to ``create_graph``). Without it no graph of the gradients is built.
        """
        if not self._requires_grad:
            raise GraphError(
                "backward() on a tensor that does not require grad: none of its inputs "
                "had requires_grad=True (or it was computed under no_grad())"
            )
        xp = backend.get_array_module(self.data)
        given = grad
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() without a gradient needs a scalar; got shape {self.shape}. "
                    "Pass grad= (d(loss)/d(this), same shape) or reduce first, e.g. .sum()"
                )
            grad = xp.ones(self.shape, dtype=self.dtype)
        else:
            grad = xp.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ShapeError(
                    f"backward(): grad has shape {grad.shape}; expected the tensor's shape "
                    f"{self.shape}"
                )
        if create_graph:
            seed = engine._seed_tensor(grad, given)
            if self._ctx is None:
                seed = hooks.run_graph(self, seed)
                self.grad = seed if self.grad is None else self.grad + seed
                return
            engine.backward_graph(self, seed, True if retain_graph is None else retain_graph)
            return
        if self._ctx is None:
            grad = hooks.run(self, grad)
            self.grad = Tensor._wrap(grad if self.grad is None else self.grad.data + grad, False)
            return
        engine.backward(self, grad, bool(retain_graph))

    def zero_grad(self) -> None:
        self.grad = None

    def retain_grad(self) -> None:
        """Keep this intermediate tensor's gradient in ``.grad`` at the next backward.

        Leaves that require grad keep theirs anyway; a no-op for them.
        """
        if not self._requires_grad:
            raise GraphError(
                "retain_grad() on a tensor that does not require grad: no gradient will flow to it"
            )
        if self._ctx is not None and not hooks.retains_grad(self):
            hooks.register(self, hooks.RetainGrad(self))

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this (non-leaf) tensor."""
        return hooks.retains_grad(self)

    def register_hook(self, hook: hooks.Hook) -> hooks.RemovableHandle:
        """Call ``hook(grad)`` with d(loss)/d(self) during every backward through this tensor.

        ``hook`` may return a Tensor (or array) of the same shape to use instead of the
        gradient, or None to leave it. Returns a handle whose ``remove()`` unregisters it.
        """
        if not callable(hook):
            raise ArgumentTypeError(f"register_hook: hook must be callable; got {hook!r}")
        if not self._requires_grad:
            raise GraphError(
                "register_hook() on a tensor that does not require grad: no gradient will "
                "flow to it"
            )
        return hooks.register(self, hook)

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other: TensorLike) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other: TensorLike) -> Tensor:
        return _ops.lt(self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return _ops.le(self, other)

    def __gt__(self, other: TensorLike) -> Tensor:
        return _ops.gt(self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return _ops.ge(self, other)

    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return _ops.eq(self, other)

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return _ops.ne(self, other)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data)

    def __getitem__(self, index: Index) -> Tensor:
        return _ops.getitem(self, index)

    # ---------------------------------------------------------- elementwise maths
    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def clip(self, min: backend.Scalar | None = None, max: backend.Scalar | None = None) -> Tensor:
        return _ops.clip(self, min, max)

    def maximum(self, other: TensorLike) -> Tensor:
        return _ops.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return _ops.minimum(self, other)

    # ---------------------------------------------------------------- reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis, keepdims)

    def var(
        self, axis: int | Sequence[int] | None = None, keepdims: bool = False, ddof: int = 0
    ) -> Tensor:
        return _ops.var(self, axis, keepdims, ddof)

    def std(
        self, axis: int | Sequence[int] | None = None, keepdims: bool = False, ddof: int = 0
    ) -> Tensor:
        return _ops.std(self, axis, keepdims, ddof)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmin(self, axis, keepdims)

    def any(self, axis: int | None = None) -> Tensor:
        return _ops.any(self, axis)

    def all(self, axis: int | None = None) -> Tensor:
        return _ops.all(self, axis)

    # --------------------------------------------------------------------- shape
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)  # type: ignore[arg-type]

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        return self.reshape(*shape)

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        return _ops.transpose(self, axis0, axis1)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        return _ops.permute(self, axes[0] if len(axes) == 1 else axes)  # type: ignore[arg-type]

    @property
    def T(self) -> Tensor:
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        return _ops.broadcast_to(self, shape[0] if len(shape) == 1 else shape)  # type: ignore[arg-type]

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return _ops.broadcast_to(self, shape)

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        return _ops.flatten(self, start_axis, end_axis)

    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor:
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return _ops.unsqueeze(self, axis)


# What a Tensor is made from or combined with: a Tensor, a backend array, host data.
TensorLike = Tensor | backend.ArrayLike
# An index: ints, slices, None, Ellipsis, integer or boolean arrays (or Tensors), a tuple.
Index = int | slice | EllipsisType | None | Tensor | backend.Array | tuple["Index", ...]

# ops builds on Tensor, and Tensor's methods call ops: bound last to close the cycle.
from chainrule import ops as _ops  # noqa: E402
