"""The playground: the lectures' interactive 2-D classification demo, trained by chainrule.

``chainrule playground`` serves a page on 127.0.0.1 where a student picks a data set,
input features, layers, optimiser and regularisation, presses play and watches a real
chainrule model learn: loss curves, the decision surface, every neuron's heat map, the
weights, and the doctor's findings; the run exports as an experiment file or a script.
Needs the ``playground`` extra (Starlette and uvicorn); ``settings`` and ``session``
need only chainrule.
"""

from chainrule.playground.settings import Settings, experiment, export_script, export_toml

__all__ = ["Settings", "experiment", "export_script", "export_toml"]
