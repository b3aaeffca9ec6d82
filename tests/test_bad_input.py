"""Every conversion into a tensor goes through one checked path: ragged lists, dicts,
strings, complex numbers and objects are refused with chainrule's error naming the
argument, wherever they come in (``cr.tensor``, ops, layers, losses); datasets and
loaders refuse what they cannot index."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import data, nn
from chainrule import functional as F
from chainrule.errors import ChainruleError, SampleIndexError

BAD = {
    "ragged": [[1.0], [1.0, 2.0]],
    "dict": {"a": 1.0},
    "string": "1.5",
    "strings in a list": ["1", "2"],
    "complex": 1 + 2j,
    "complex in a list": [1.0, 2j],
    "complex array": np.ones(2, np.complex64),
    "objects": [object(), object()],
    "None": None,
    "set": {1.0, 2.0},
}

CALLS = {  # name -> (call, the argument its error must name)
    "cr.tensor": (cr.tensor, ("data",)),
    "cr.Tensor": (cr.Tensor, ("data",)),
    "F.relu": (F.relu, ("input",)),
    "F.exp": (F.exp, ("input",)),
    "F.add (first)": (lambda v: F.add(v, cr.ones(2)), ("input",)),
    "F.add (second)": (lambda v: F.add(cr.ones(2), v), ("other",)),
    "tensor * value": (lambda v: cr.ones(2) * v, ("other",)),
    "F.mse_loss target": (lambda v: F.mse_loss(cr.ones(2), v), ("target",)),
    "F.cross_entropy target": (lambda v: F.cross_entropy(cr.ones((2, 3)), v), ("target",)),
    "F.cross_entropy input": (lambda v: F.cross_entropy(v, cr.tensor([0, 1])), ("input",)),
    "nn.ReLU": (nn.ReLU(), ("input",)),
    "nn.Conv2d": (nn.Conv2d(1, 1, 1), ("input",)),
    "nn.MaxPool2d": (nn.MaxPool2d(2), ("input",)),
    "nn.BatchNorm1d": (nn.BatchNorm1d(2), ("input",)),
    "nn.Linear": (nn.Linear(2, 2), ("input", "data")),  # nn/linear.py converts with Tensor(x)
}


def names(message, words):
    return any(re.search(rf"(?<!\w){word}(?!\w)", message) for word in words)


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_bad_data_is_refused_naming_the_argument(call, bad):
    fn, argument = CALLS[call]
    with pytest.raises(ChainruleError) as caught:
        fn(BAD[bad])
    assert isinstance(caught.value, ValueError | TypeError)
    message = str(caught.value)
    assert names(message, argument), message
    assert "expected" in message or "must be" in message, message


def test_the_checked_path_still_takes_numbers_of_every_kind():
    assert cr.tensor([[1, 2], [3, 4]]).dtype == np.int64
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor(np.ones(2), dtype="float64").dtype == np.float64
    assert cr.tensor(True).dtype == np.bool_
    source = np.ones(3, np.float32)
    copy = cr.tensor(source)
    source[0] = 5.0
    assert copy.numpy()[0] == 1.0  # cr.tensor copies
    assert (F.add(cr.ones(2), [1, 2]).numpy() == [2.0, 3.0]).all()


def test_tensor_dataset_indexing_names_the_index_and_the_length():
    ds = data.TensorDataset(np.zeros((3, 2)), np.arange(3))
    with pytest.raises(SampleIndexError, match=r"index 3 is out of range for 3 samples"):
        ds[3]
    with pytest.raises(IndexError):  # still an IndexError: iteration ends as for any sequence
        ds[-4]
    with pytest.raises(SampleIndexError, match=r"index array holds values from 0 to 7"):
        ds[np.array([0, 7])]
    with pytest.raises(TypeError, match=r"index must be an int, a slice or an array of ints"):
        ds[1.5]
    with pytest.raises(TypeError, match=r"index array must hold ints; got dtype float64"):
        ds[np.array([0.0, 1.0])]
    assert len(list(ds)) == 3 and ds[-1][1] == 2 and len(ds[0:2][0]) == 2


@pytest.mark.parametrize("dataset", [[1, 2, 3], (np.zeros(3), np.zeros(3)), "abc", np.zeros(4)])
def test_a_loader_refuses_a_plain_container_as_its_dataset(dataset):
    with pytest.raises(TypeError, match=r"DataLoader: dataset must be a Dataset") as caught:
        data.DataLoader(dataset, 1)
    assert type(dataset).__name__ in str(caught.value)
