"""Optional dependencies (SciPy, scikit-learn), imported only when a function needs them."""

from __future__ import annotations

import importlib
import types

_PIP_NAMES = {"scipy": "scipy", "sklearn": "scikit-learn"}


def require(module: str, feature: str) -> types.ModuleType:
    """Import ``module`` (e.g. 'scipy.ndimage') for ``feature``, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = _PIP_NAMES.get(module.split(".")[0], module)
        raise ImportError(
            f"{feature} needs {package}, which is not installed; "
            'install it with pip install "chainrule[data]"'
        ) from error
