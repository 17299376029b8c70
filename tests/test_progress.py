"""Progress bars: shown only when asked for."""

import numpy as np
import pytest
from tqdm.auto import tqdm

from tests.helpers import interrupt_at
from unboxed import BlackBox
from unboxed._progress import progress


def test_verbose_false_prints_nothing_and_verbose_true_shows_the_bar(capsys):
    assert list(progress(range(3), verbose=False, desc="quiet-bar")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), verbose=True, desc="loud-bar")) == [0, 1, 2]
    assert "loud-bar" in capsys.readouterr().err


def test_a_bar_counts_towards_its_total_in_its_unit(capsys):
    bar = progress(verbose=True, desc="manual-bar", total=4, unit="img")
    bar.update(4)
    bar.close()
    err = capsys.readouterr().err
    assert "0/4" in err and "img/s" in err


def test_the_default_unit_is_it(capsys):
    list(progress(range(2), verbose=True, desc="plain-bar"))
    assert "it/s" in capsys.readouterr().err


def test_a_finished_bar_is_erased_not_left_behind(capsys):
    # leave=False: a library's inner loops must not pile finished bars up in the
    # user's terminal; tqdm blanks the line and returns the cursor instead of "\n".
    list(progress(range(3), verbose=True, desc="gone-bar"))
    err = capsys.readouterr().err
    assert err.endswith("\r") and not err.endswith("\n")


def _interrupted_training(digits, monkeypatch):
    import torch

    from unboxed import zoo

    interrupt_at(monkeypatch, torch.optim.Adam, "step", stop=3)
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(8,), random_state=0)
    zoo.train(model, digits, epochs=2, batch_size=256, verbose=True)


def _interrupted_permutation(digits, monkeypatch):
    from unboxed.probes import PermutationImportance

    box = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=2)
    interrupt_at(monkeypatch, box, "_proba_rows", stop=1)
    PermutationImportance(box, n_repeats=2, verbose=True).explain(
        digits.X_test[:40], digits.y_test[:40] % 2
    )


def _interrupted_deletion_test(digits, monkeypatch):
    from unboxed import Attribution
    from unboxed.evaluate import deletion_test

    box = BlackBox.from_callable(lambda X: np.full((len(X), 2), 0.5), n_classes=2)
    # The manipulated cases go to _proba_rows with their names; call 1 is predict's.
    interrupt_at(monkeypatch, box, "_proba_rows", stop=3)
    saliency = Attribution(digits.X_test[:20], np.zeros(20, dtype=int))
    deletion_test(box, digits.X_test[:20], saliency, [2, 4], n_boot=10, verbose=True)


def _bright(X):
    """Two classes by one pixel of the digits: varied predictions at no cost."""
    return np.stack([X[:, 20] <= 0.5, X[:, 20] > 0.5], 1).astype(float)


def _interrupted_keep_top_k(digits, monkeypatch):
    from unboxed import Attribution
    from unboxed.evaluate import keep_top_k

    box = BlackBox.from_callable(_bright, n_classes=2)
    interrupt_at(monkeypatch, box, "_proba_rows", stop=1)  # the kept rows, named
    saliency = Attribution(digits.X_test[:20], np.zeros(20, dtype=int))
    keep_top_k(box, digits.X_test[:20], np.zeros(20, dtype=int), saliency, 4, verbose=True)


def _interrupted_tree_depths(digits, monkeypatch):
    from unboxed.surrogates import TreeSurrogate

    box = BlackBox.from_callable(_bright, n_classes=2)
    interrupt_at(monkeypatch, TreeSurrogate, "_tree", stop=2)
    TreeSurrogate(box, max_depth="auto", depths=[1, 2, 3], verbose=True).fit(digits.X_test[:100])


def _interrupted_dmm_local_fits(digits, monkeypatch):
    from unboxed.surrogates import DMMMEN, _dmm

    box = BlackBox.from_callable(_bright, n_classes=2)
    interrupt_at(monkeypatch, _dmm, "_fit_local", stop=1)
    DMMMEN(n_iter=8, n_chains=1, random_state=0, verbose=True).explain_local(
        digits.X_test[:2], blackbox=box, n_samples=72, target=1
    )


@pytest.mark.parametrize(
    "interrupted",
    [
        _interrupted_training,
        _interrupted_permutation,
        _interrupted_deletion_test,
        _interrupted_keep_top_k,
        _interrupted_tree_depths,
        _interrupted_dmm_local_fits,
    ],
)
def test_an_interrupted_loop_closes_its_bar(interrupted, digits, monkeypatch, capsys):
    # An open bar stays on the terminal line the error or "interrupted" is printed on,
    # and a bar opened next is drawn one line lower. The traceback keeps the loop's
    # frame alive (here in `info`, in a REPL in sys.last_traceback), so a bar closed
    # only by its own finalizer stayed open.
    with pytest.raises(KeyboardInterrupt) as info:
        interrupted(digits, monkeypatch)
    assert isinstance(info.value, KeyboardInterrupt) and len(tqdm._instances) == 0
