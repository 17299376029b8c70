"""Prototypes of a class the black box never predicts: there are none, and the set
says which components it left out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from unboxed import BlackBox
from unboxed.surrogates import JGMMExplainer

#: The class the black box below never predicts.
NEVER = 2


@pytest.fixture(scope="module")
def never_three(digits):
    """A logistic regression of digits 0-3 as an ``nn.Sequential`` on the inputs, with
    class 2's bias so low that no row is put in it."""
    rows = digits.y_train < 4
    logreg = LogisticRegression(max_iter=1000).fit(digits.X_train[rows], digits.y_train[rows])
    net = nn.Sequential(nn.Identity(), nn.Linear(64, 4)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.as_tensor(logreg.coef_))
        net[1].bias.copy_(torch.as_tensor(logreg.intercept_))
        net[1].bias[NEVER] = -1e3
    names = ("zero", "one", "two", "three")
    box = BlackBox.from_torch(net, input_shape=(64,), class_names=names)
    return digits.X_train[rows], box


@pytest.mark.parametrize("e_step", ["labelled", "paper"])
@pytest.mark.parametrize("source", ["mined", "generated"])
def test_a_class_never_predicted_has_no_prototypes(never_three, e_step, source):
    X, box = never_three
    assert NEVER not in box.predict(X)
    explainer = JGMMExplainer(
        box, lower_layer="0", n_components_x=8, e_step=e_step, random_state=0, verbose=False
    )
    if e_step == "paper":  # its component stands for no class: JGMM says so
        with pytest.warns(UserWarning, match="do not map one-to-one"):
            explainer.fit(X)
    else:
        explainer.fit(X)
    empty = np.flatnonzero(explainer.jgmm_.pi_ == 0).tolist()
    assert len(empty) == 1
    prototypes = explainer.prototypes(n_per_class=3, source=source, random_state=0)
    # They were the densest rows of the other classes, titled "class two": the black
    # box put 0 of them in class 2.
    assert sorted(set(prototypes.groups.tolist())) == sorted({0, 1, 2, 3} - set(empty))
    assert len(prototypes) == 9 and prototypes.meta["empty_components"] == empty
    if e_step == "labelled":
        assert empty == [NEVER]
        assert explainer.faithfulness(prototypes).examples.mean == 1.0
    assert prototypes.plot() is not None
