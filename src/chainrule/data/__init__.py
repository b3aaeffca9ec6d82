"""Data: datasets, the mini-batch ``DataLoader``, preprocessing and augmentation.

Host-side NumPy code: batches become chainrule Tensors as the loader yields them.
SciPy and scikit-learn are imported only by the functions that need them.
"""

from chainrule.data import transforms
from chainrule.data.dataset import Dataset, Subset, TensorDataset
from chainrule.data.datasets import (
    load_digits,
    make_blobs,
    make_covariate_shift,
    make_spirals,
    make_xor,
)
from chainrule.data.loader import DataLoader
from chainrule.data.mnist import DatasetNotFoundError, IDXFormatError, load_mnist, read_idx
from chainrule.data.plane import load_plane, make_plane, plane_features
from chainrule.data.preprocessing import one_hot, scale_to_unit, standardize

__all__ = [
    "DataLoader",
    "Dataset",
    "DatasetNotFoundError",
    "IDXFormatError",
    "Subset",
    "TensorDataset",
    "load_digits",
    "load_mnist",
    "load_plane",
    "make_blobs",
    "make_covariate_shift",
    "make_plane",
    "make_spirals",
    "make_xor",
    "one_hot",
    "plane_features",
    "read_idx",
    "scale_to_unit",
    "standardize",
    "transforms",
]
