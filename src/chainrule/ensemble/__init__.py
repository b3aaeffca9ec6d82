"""Ensembles: several trained models predicting together, by averaged probabilities or vote.

ensemble, histories = train_ensemble(build_model, n_members=5, train_data=(x, y),
                                     loss="cross_entropy", optimizer="adam", epochs=10)
ensemble.evaluate(x_test, y_test)  # each member's accuracy and the ensemble's
"""

from chainrule.ensemble.ensemble import Ensemble, combine
from chainrule.ensemble.training import train_ensemble

__all__ = ["Ensemble", "combine", "train_ensemble"]
