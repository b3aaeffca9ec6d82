"""Model selection: train / validation / test splits and k-fold cross-validation."""

from chainrule.model_selection.splits import KFold, StratifiedKFold, train_val_test_split

__all__ = ["KFold", "StratifiedKFold", "train_val_test_split"]
