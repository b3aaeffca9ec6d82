"""The training doctor: watch a run layer by layer, read its curves, say what is wrong.

``Monitor`` records per-layer gradient norms, weight norms, update-to-weight ratios and
activation statistics; ``Doctor`` also warns during training; ``diagnose_run`` and
``report`` explain a finished run; ``bias_variance`` is the lecture's table; ``lr_find``
is the learning-rate range test. matplotlib is imported only when a plot is drawn.
"""

from chainrule.diagnose.doctor import Doctor, diagnose_run, load_run, report, write_plots
from chainrule.diagnose.findings import Finding, bias_variance, diagnose
from chainrule.diagnose.lr_range import LRFindResult, lr_find
from chainrule.diagnose.monitor import Monitor

__all__ = [
    "Doctor",
    "Finding",
    "LRFindResult",
    "Monitor",
    "bias_variance",
    "diagnose",
    "diagnose_run",
    "load_run",
    "lr_find",
    "report",
    "write_plots",
]
