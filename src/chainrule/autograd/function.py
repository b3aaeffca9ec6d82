"""``Function``: one node of the graph, a forward on arrays and the backward beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainrule.autograd import anomaly, grad_mode
from chainrule.errors import ChainruleError, DTypeError, GraphError, ShapeError

if TYPE_CHECKING:
    from chainrule.autograd.tensor import Tensor


class Function:
    """Subclass with ``forward(ctx, *arrays, **params) -> array`` and
    ``backward(ctx, grad_out) -> tuple of one gradient (or None) per input array``.

    ``ctx`` is the node itself: ``forward`` stores what ``backward`` needs on it
    (``ctx.save_for_backward(...)`` or plain attributes) and may read
    ``ctx.needs_input_grad`` to skip work. Backward need not undo broadcasting: the
    engine sums each gradient back to its input's shape.
    """

    inputs: tuple[Tensor, ...]
    saved: tuple[Any, ...] = ()
    needs_input_grad: tuple[bool, ...]

    @staticmethod
    def forward(ctx: Any, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, grad_out: Any) -> tuple[Any, ...]:
        raise NotImplementedError

    @staticmethod
    def backward_graph(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        """``backward`` written with chainrule's own ops on Tensors, so that the gradients
        it returns are in a graph and can be differentiated again (``create_graph=True``).

        It reads ``ctx.inputs`` (the input Tensors) and whatever constants ``forward``
        stored; ``backward``'s fast path on arrays is left as it is.
        """
        raise GraphError(
            f"{type(ctx).__name__.lower()} does not support create_graph=True: it has no "
            "differentiable backward (backward_graph), so its gradient cannot be "
            "differentiated again; use create_graph=False, or an op that supports it"
        )

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays; record the node if any input needs grad."""
        # NOTE: the hot path of every op; kept to plain attribute reads (no properties).
        ctx = cls.__new__(cls)
        needs = tuple([t._requires_grad for t in inputs])
        record = grad_mode._enabled and True in needs
        ctx.needs_input_grad = needs if record else (False,) * len(needs)
        try:
            data = cls.forward(ctx, *[t.data for t in inputs], **params)
        except ChainruleError:
            raise
        except ValueError as error:  # NumPy's words, re-said with the op and the shapes
            shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
            raise ShapeError(
                f"{cls.__name__.lower()}: cannot apply to shapes {shapes}: {error}"
            ) from error
        except (TypeError, OverflowError) as error:  # a dtype NumPy cannot do this op in
            dtypes = ", ".join(str(t.dtype) for t in inputs)
            raise DTypeError(
                f"{cls.__name__.lower()}: cannot apply to inputs of dtype {dtypes}: {error}"
            ) from error
        if anomaly._enabled:
            anomaly.check_forward(ctx, inputs, data)
        out = _wrap(data, record)
        if record:
            ctx.inputs = inputs
            out._ctx = ctx
        return out

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _wrap(data: Any, requires_grad: bool) -> Tensor:
    """Tensor._wrap, bound on first use (tensor.py imports this module)."""
    global _wrap
    from chainrule.autograd.tensor import Tensor  # cycle: tensor.py imports this module

    _wrap = Tensor._wrap
    return _wrap(data, requires_grad)
