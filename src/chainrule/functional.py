"""The functional API: every differentiable op as a function (``chainrule.ops`` by another name)."""

from chainrule.ops import *  # noqa: F403
from chainrule.ops import __all__  # noqa: F401
