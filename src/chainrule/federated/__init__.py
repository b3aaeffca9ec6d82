"""Federated averaging (McMahan et al. 2017): clients keep their data and train locally,
a server averages their models.

``FedAvg(model, clients, lr=, fraction=C, local_epochs=E, local_batch_size=B)`` and
``FedSGD`` (E = 1, B = inf) run rounds of communication over K clients, simulated in
one process or shared out over the processes of an mpiexec job (``strategy="mpi"``);
``iid_partition`` and ``pathological_non_iid_partition`` (sorted by label, two shards
per client) split a data set between clients. benchmarks/federated_mnist.py reproduces
the paper's MNIST 2NN comparison.
"""

from chainrule.federated.averaging import FedAvg, FedSGD, weighted_average, weighted_sum
from chainrule.federated.client import is_stackable, train_sequential, train_stacked
from chainrule.federated.partition import iid_partition, pathological_non_iid_partition

__all__ = [
    "FedAvg",
    "FedSGD",
    "iid_partition",
    "is_stackable",
    "pathological_non_iid_partition",
    "train_sequential",
    "train_stacked",
    "weighted_average",
    "weighted_sum",
]
