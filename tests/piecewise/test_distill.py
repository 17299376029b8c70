import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from tests.helpers import assert_progress_shown, iris_refusing_a_petal_of_4
from unboxed import Attribution, BlackBox, BlackBoxError, NotFittedError
from unboxed.piecewise import PAPER_GRID, Distiller, LinearRegions
from unboxed.piecewise._distill import _check_grid, _kd_loss


@pytest.fixture(scope="module")
def weak_teacher(digits):
    # A teacher that systematically swaps 1 with 7 and 3 with 5, so that copying the
    # teacher and learning the labels are different goals.
    swapped = np.array([0, 7, 2, 5, 4, 3, 6, 1, 8, 9])[digits.y_train]
    model = LogisticRegression(C=1.0, max_iter=1000).fit(digits.X_train, swapped)
    return BlackBox.from_sklearn(model)


@pytest.fixture(scope="module")
def digits_logreg(digits):
    """A logistic regression on digits' true labels, fitted once for the tests that wrap
    it as a teacher of image-shaped inputs (they only query it)."""
    return LogisticRegression(max_iter=1000).fit(digits.X_train, digits.y_train)


def _fit(teacher, digits, grid, epochs=15):
    grid = {"lr": (5e-3,), "batch_size": (64,), **grid}
    return Distiller(widths=(32,), grid=grid, epochs=epochs, random_state=0, verbose=False).fit(
        teacher, digits.X_train, digits.y_train
    )


def test_distilled_student_agrees_more_than_a_label_trained_one(weak_teacher, digits):
    teacher_test = weak_teacher.predict(digits.X_test)
    assert np.mean(teacher_test == digits.y_test) < 0.85
    plain = _fit(weak_teacher, digits, {"alpha": (0.0,), "temperature": (1.0,)})
    distilled = _fit(weak_teacher, digits, {"alpha": (1.0,), "temperature": (3.0,)})
    agree_plain = np.mean(plain.predict(digits.X_test) == teacher_test)
    agree_kd = np.mean(distilled.predict(digits.X_test) == teacher_test)
    assert agree_kd > agree_plain + 0.1, (agree_kd, agree_plain)
    assert agree_kd > 0.85


def test_grid_search_records_every_point_and_is_deterministic(weak_teacher, digits):
    grid = {"temperature": (2.0, 5.0), "alpha": (0.9,)}
    first, second = _fit(weak_teacher, digits, grid, 3), _fit(weak_teacher, digits, grid, 3)
    assert [r["temperature"] for r in first.cv_results_] == [2.0, 5.0]
    best = max(first.cv_results_, key=lambda r: r["validation_agreement"])
    assert first.best_params_["temperature"] == best["temperature"]
    for a, b in zip(first.student_.parameters(), second.student_.parameters(), strict=True):
        assert torch.equal(a, b)
    # the fitted student is explained exactly
    X = digits.X_test[:20]
    attribution = first.explain(X)
    assert isinstance(attribution, Attribution) and attribution.image_shape is None
    # exact for the student; how far the student stands for the teacher goes with it
    assert attribution.meta["student_fidelity"] == first.fidelity_.as_dict()
    assert attribution.meta["max_abs_delta"] < 1e-9
    W, b = first.linear_regions().local_linear(X)
    logits = np.log(first.predict_proba(X))
    pred = (np.einsum("nkd,nd->nk", W, X) + b).argmax(1)
    np.testing.assert_array_equal(pred, logits.argmax(1))
    assert isinstance(first.linear_regions(), LinearRegions)


def test_kd_loss_reduces_to_cross_entropy_and_kl():
    s, t = torch.randn(6, 4), torch.log_softmax(torch.randn(6, 4), 1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(_kd_loss(s, t, y, 3.0, 0.0), torch.nn.functional.cross_entropy(s, y))
    # the soft term vanishes when the student already matches the teacher
    soft = _kd_loss(t.clone(), t, y, 1.0, 1.0)
    torch.testing.assert_close(soft, torch.tensor(0.0), atol=1e-6, rtol=0)


def test_grids_and_errors(weak_teacher, digits):
    assert len(_check_grid("paper")["lr"]) == 13 and _check_grid("paper") is PAPER_GRID
    for bad, message in (
        ("huge", "grid must be one of"),
        ({"momentum": (0.9,)}, "may only hold the keys"),
        ({"alpha": (1.5,)}, "grid\\['alpha'\\] must lie in"),
        ({"temperature": ()}, "temperature.*is empty"),
        ({"temperature": (0.0,)}, "grid\\['temperature'\\] must be a finite number > 0"),
        ({"batch_size": (0,)}, "batch_size must be an int >= 1"),
    ):
        with pytest.raises(ValueError, match=message):
            _check_grid(bad)
    # An infinite lr trained a student of NaN weights and returned it; a bare number
    # gave "'float' object is not iterable".
    for bad, message in (({"lr": (np.inf,)}, "finite number"), ({"lr": 0.01}, "sequence")):
        with pytest.raises(ValueError, match=message):
            _check_grid(bad)
    with pytest.raises(NotFittedError, match=r"Distiller is not fitted yet; call fit\(teacher"):
        Distiller().predict(digits.X_test)
    with pytest.raises(TypeError, match="BlackBox"):
        Distiller().fit(object(), digits.X_train)
    with pytest.raises(ValueError, match="NaN"):
        Distiller(verbose=False).fit(weak_teacher, np.full((5, 64), np.nan))


def test_grid_values_that_are_no_number_or_beyond_float32_are_refused_by_name():
    # alpha "a" and None raised a bare "'<=' not supported", True passed as alpha 1; an
    # lr of 1e300 raised Adam's bare "cannot be converted to type float without
    # overflow" in fit, a temperature of 1e300 a bare OverflowError squaring it.
    for bad, message in (
        ({"alpha": ("a",)}, r"grid\['alpha'\] must be a finite number >= 0, got 'a'"),
        ({"alpha": (None,)}, r"grid\['alpha'\] must be a finite number >= 0, got None"),
        ({"alpha": (True,)}, r"grid\['alpha'\] must be a finite number >= 0, got True"),
        ({"alpha": (1.5,)}, r"grid\['alpha'\] must lie in \[0, 1\], got \(1.5,\)"),
        ({"lr": (1e300,)}, r"grid\['lr'\] must be at most 3.4e\+37, got 1e\+300: the student"),
        ({"temperature": (1e300,)}, r"grid\['temperature'\] must be at most 1.84e\+19"),
    ):
        with pytest.raises(ValueError, match=message):
            Distiller(grid=bad)
    # 0 and 1 are alpha's ends, read as numbers
    assert _check_grid({"alpha": (0, 1)})["alpha"] == (0.0, 1.0)


def test_an_lr_whose_first_adam_step_overflows_float32_is_refused(weak_teacher, digits):
    from unboxed.piecewise._distill import _LARGEST

    # Adam's first step is lr / (1 - beta1) = 10 lr, in float32: an lr of 1e38, below
    # float32's largest number, passed the grid's check and raised Adam's bare "value
    # cannot be converted to type float without overflow" in fit.
    with pytest.raises(ValueError, match=r"grid\['lr'\] must be at most 3.4e\+37, got 1e\+38"):
        Distiller(grid={"lr": (1e38,)})
    # the largest lr let through trains
    grid = {"lr": (_LARGEST["lr"],), "temperature": (3.0,)}
    Distiller(widths=(4,), grid=grid, epochs=1, random_state=0, verbose=False).fit(
        weak_teacher, digits.X_train[:100]
    )


def test_a_grid_point_that_diverges_is_named(weak_teacher, digits):
    # A temperature of 1e-300 makes the soft targets NaN: the error said only "the
    # distillation loss became nan", not which of the grid's points it was.
    distiller = Distiller(widths=(8,), grid={"temperature": (3.0, 1e-300)}, epochs=1, verbose=False)
    with pytest.raises(
        FloatingPointError,
        match=r"grid point temperature=1e-300, alpha=0.9, lr=0.001, batch_size=128: the "
        "distillation loss became nan",
    ):
        distiller.fit(weak_teacher, digits.X_train[:200])


def test_mixup_transfer_set(weak_teacher, digits):
    from unboxed.piecewise._distill import _mixup

    X = np.eye(3, dtype=np.float32)
    mixed = _mixup(X, 50, np.random.default_rng(0))
    assert mixed.shape == (50, 3) and mixed.dtype == np.float32
    # convex combinations of two rows: non-negative, summing to 1, at most 2 non-zeros
    assert np.all(mixed >= 0) and np.allclose(mixed.sum(1), 1) and np.all((mixed > 0).sum(1) <= 2)
    before = weak_teacher.n_queries
    _fit_mix = Distiller(widths=(8,), epochs=1, n_mixup=100, verbose=False)
    _fit_mix.fit(weak_teacher, digits.X_train[:200])
    assert weak_teacher.n_queries - before == 300
    with pytest.raises(ValueError, match="n_mixup"):
        Distiller(n_mixup=-1, verbose=False).fit(weak_teacher, digits.X_train[:50])


def test_image_shaped_inputs_work_after_fitting_on_them(digits, digits_logreg):
    teacher = BlackBox.from_callable(
        lambda Z: digits_logreg.predict_proba(np.asarray(Z).reshape(len(Z), -1)),
        n_classes=10,
        input_shape=(1, 8, 8),
    )
    images = digits.X_train.reshape(-1, 1, 8, 8)
    distiller = Distiller(
        widths=(16,), grid={"lr": (5e-3,)}, epochs=2, random_state=0, verbose=False
    ).fit(teacher, images)
    flat, shaped = digits.X_test[:5], digits.X_test[:5].reshape(-1, 1, 8, 8)
    np.testing.assert_array_equal(distiller.predict_proba(shaped), distiller.predict_proba(flat))
    explained = distiller.explain(shaped)
    np.testing.assert_array_equal(explained.values, distiller.explain(flat).values)
    assert explained.image_shape == (1, 8, 8)


def test_kd_loss_is_t_squared_kl_of_teacher_to_student():
    torch.manual_seed(0)
    s, t = torch.randn(6, 4), torch.log_softmax(torch.randn(6, 4), 1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    T = 3.0
    p_t = torch.softmax(t / T, 1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s / T, 1))).sum(1).mean()
    torch.testing.assert_close(_kd_loss(s, t, y, T, 1.0), T**2 * kl)


def test_mixup_mixes_two_rows():
    from unboxed.piecewise._distill import _mixup

    mixed = _mixup(np.eye(3, dtype=np.float32), 50, np.random.default_rng(0))
    assert np.mean((mixed > 1e-6).sum(1) == 2) > 0.3


def _checkpointed(path, **kwargs):
    grid = {"temperature": (2.0, 5.0, 8.0), "alpha": (0.9,), "lr": (5e-3,), "batch_size": (64,)}
    settings = {"widths": (16,), "grid": grid, "epochs": 2, "random_state": 0, "verbose": False}
    return Distiller(**{**settings, "checkpoint": path, **kwargs})


def test_an_interrupted_search_resumes_to_the_same_student(
    weak_teacher, digits, tmp_path, monkeypatch
):
    from unboxed.piecewise import _distill

    X, path = digits.X_train[:400], tmp_path / "distil.safetensors"
    whole = _checkpointed(None).fit(weak_teacher, X)
    trained, real = [], _distill._train_student

    def counted(student, *args, **kwargs):
        if len(trained) == stop_after:
            raise KeyboardInterrupt
        trained.append(kwargs["temperature"])
        return real(student, *args, **kwargs)

    monkeypatch.setattr(_distill, "_train_student", counted)
    stop_after = 2
    with pytest.raises(KeyboardInterrupt):
        _checkpointed(path).fit(weak_teacher, X)
    assert trained == [2.0, 5.0] and path.is_file()
    stop_after = None
    resumed = _checkpointed(path).fit(weak_teacher, X)
    assert trained == [2.0, 5.0, 8.0]  # only the point left was trained
    keep = ("temperature", "validation_agreement")
    assert [{k: r[k] for k in keep} for r in resumed.cv_results_] == [
        {k: r[k] for k in keep} for r in whole.cv_results_
    ]
    assert resumed.best_params_ == whole.best_params_
    for a, b in zip(resumed.student_.parameters(), whole.student_.parameters(), strict=True):
        assert torch.equal(a, b)
    again = _checkpointed(path).fit(weak_teacher, X)  # a finished search trains nothing
    assert trained == [2.0, 5.0, 8.0] and again.best_params_ == whole.best_params_


def test_a_numpy_int_seed_checkpoints_and_resumes(weak_teacher, digits, tmp_path):
    X, path = digits.X_train[:200], tmp_path / "distil.safetensors"
    one_point = {"grid": {"temperature": (2.0,)}, "epochs": 1, "random_state": np.int64(0)}
    first = _checkpointed(path, **one_point).fit(weak_teacher, X)  # raised in json.dumps
    again = _checkpointed(path, **{**one_point, "random_state": 0}).fit(weak_teacher, X)
    assert again.cv_results_ == first.cv_results_  # resumed, not trained again


def test_a_0d_array_seed_checkpoints_as_its_int(weak_teacher, digits, tmp_path):
    # np.asarray(3) was refused with a checkpoint; and the settings recorded None for
    # it, so a resume with np.asarray(4) would have gone on from seed 3's students.
    X, path = digits.X_train[:200], tmp_path / "distil.safetensors"
    one_point = {"grid": {"temperature": (2.0,)}, "epochs": 1}
    by_int = _checkpointed(None, **one_point, random_state=3).fit(weak_teacher, X)
    first = _checkpointed(path, **one_point, random_state=np.asarray(3)).fit(weak_teacher, X)
    for a, b in zip(first.student_.parameters(), by_int.student_.parameters(), strict=True):
        assert torch.equal(a, b)
    again = _checkpointed(path, **one_point, random_state=3).fit(weak_teacher, X)
    assert again.cv_results_ == first.cv_results_  # resumed (its fit time too), not trained
    for other in (4, np.asarray(4)):
        with pytest.raises(ValueError, match="made with other settings or data"):
            _checkpointed(path, **one_point, random_state=other).fit(weak_teacher, X)


def test_a_checkpoint_of_other_settings_or_a_damaged_one_is_refused(weak_teacher, digits, tmp_path):
    X, path = digits.X_train[:200], tmp_path / "distil.safetensors"
    _checkpointed(path, grid={"temperature": (2.0,)}, epochs=1).fit(weak_teacher, X)
    with pytest.raises(ValueError, match="made with other settings or data"):
        _checkpointed(path, grid={"temperature": (2.0,)}, epochs=2).fit(weak_teacher, X)
    with pytest.raises(ValueError, match="made with other settings or data"):
        _checkpointed(path, grid={"temperature": (2.0,)}, epochs=1).fit(weak_teacher, X[1:])
    from unboxed.zoo._io import load_with_record, save_with_record

    tensors, record = load_with_record(path, what="distillation checkpoint")
    save_with_record(path, tensors, {**record, "best": 3})
    with pytest.raises(ValueError, match="damaged distillation checkpoint: its best point 3"):
        _checkpointed(path, grid={"temperature": (2.0,)}, epochs=1).fit(weak_teacher, X)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        _checkpointed(path, grid={"temperature": (2.0,)}, epochs=1).fit(weak_teacher, X)
    with pytest.raises(ValueError, match="reproducible random_state"):
        _checkpointed(path, random_state=None).fit(weak_teacher, X)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        _checkpointed(tmp_path).fit(weak_teacher, X)


def test_kd_loss_mixes_the_soft_and_hard_terms_by_alpha():
    torch.manual_seed(1)
    s, t = torch.randn(5, 3), torch.log_softmax(torch.randn(5, 3), 1)
    y = torch.tensor([0, 1, 2, 1, 0])
    T, alpha = 2.0, 0.25
    p_t = torch.softmax(t / T, 1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s / T, 1))).sum(1).mean()
    ce = -torch.log_softmax(s, 1)[torch.arange(5), y].mean()
    torch.testing.assert_close(_kd_loss(s, t, y, T, alpha), alpha * T**2 * kl + (1 - alpha) * ce)


def test_the_validation_rows_are_held_out_of_training(weak_teacher, digits, monkeypatch):
    from unboxed.piecewise import _distill

    seen = []

    def recording(student, X, *args, **kwargs):
        seen.append(X.numpy().copy())
        return train(student, X, *args, **kwargs)

    train = _distill._train_student
    monkeypatch.setattr(_distill, "_train_student", recording)
    X = digits.X_train[:100]
    Distiller(widths=(8,), epochs=1, validation_fraction=0.2, verbose=False).fit(weak_teacher, X)
    assert len(seen) == 2  # the two temperatures of the small grid
    rows = {row.tobytes() for row in X.astype(np.float32)}
    for trained_on in seen:
        # 80 distinct rows of X (they are all distinct): the other 20 only pick the point
        assert trained_on.shape == (80, 64) and len(np.unique(trained_on, axis=0)) == 80
        assert {row.tobytes() for row in trained_on} <= rows


def test_a_checkpoint_of_another_split_transfer_set_or_teacher_is_refused(
    weak_teacher, digits, tmp_path
):
    X, y, path = digits.X_train[:200], digits.y_train[:200], tmp_path / "distil.safetensors"
    one_point = {"grid": {"temperature": (2.0,)}, "epochs": 1}
    _checkpointed(path, **one_point).fit(weak_teacher, X, y)
    # Each changes the students, not X: the held-out rows, the mixed-in rows, the soft targets.
    honest = BlackBox.from_sklearn(LogisticRegression(max_iter=1000).fit(X, y))
    for other, teacher in (
        ({"validation_fraction": 0.3}, weak_teacher),
        ({"n_mixup": 20}, weak_teacher),
        ({}, honest),
    ):
        with pytest.raises(ValueError, match="made with other settings or data"):
            _checkpointed(path, **one_point, **other).fit(teacher, X, y)


def test_the_checkpoint_holds_the_best_student_not_the_last(weak_teacher, digits, tmp_path):
    from unboxed.zoo._io import load_with_record

    X, path = digits.X_train[:400], tmp_path / "distil.safetensors"
    # A learning rate of 1e-7 leaves the second student at its initial weights.
    fitted = _checkpointed(path, grid={"temperature": (2.0,), "lr": (5e-3, 1e-7)}).fit(
        weak_teacher, X
    )
    tensors, record = load_with_record(path, what="distillation checkpoint")
    agreements = [r["validation_agreement"] for r in record["results"]]
    assert agreements[0] > agreements[1] and record["best"] == 0
    assert fitted.best_params_["lr"] == 5e-3
    for key, value in fitted.student_.state_dict().items():
        assert torch.equal(tensors[f"student.{key}"], value), key


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda record, tensors: record["results"][0].update(temperature=3.0),
            "its record of grid points is not a start of this grid",
        ),
        (
            lambda record, tensors: (
                record["results"][0].update(validation_agreement=0.5),
                record["results"][1].update(validation_agreement=0.9),
                record.update(best=0),
            ),
            "its best point 0 is not the best it records",
        ),
        (
            lambda record, tensors: record.update(results=[]),
            "its record of grid points is not a start of this grid",
        ),
        (
            lambda record, tensors: tensors["student.fc1.weight"].fill_(float("nan")),
            "its student: fc1.weight holds NaN",
        ),
    ],
)
def test_a_tampered_checkpoint_is_refused(weak_teacher, digits, tmp_path, tamper, message):
    from unboxed.zoo._io import load_with_record, save_with_record

    X, path = digits.X_train[:200], tmp_path / "distil.safetensors"
    settings = {"grid": {"temperature": (2.0, 5.0)}, "epochs": 1}
    _checkpointed(path, **settings).fit(weak_teacher, X)
    tensors, record = load_with_record(path, what="distillation checkpoint")
    tamper(record, tensors)
    save_with_record(path, tensors, record)
    with pytest.raises(ValueError, match=f"damaged distillation checkpoint: {message}"):
        _checkpointed(path, **settings).fit(weak_teacher, X)


def _small(**kwargs):
    grid = {"temperature": (3.0,), "alpha": (0.9,), "lr": (5e-3,), "batch_size": (64,)}
    settings = {"widths": (32,), "epochs": 10, "random_state": 0, "verbose": False}
    return Distiller(**{**settings, **kwargs, "grid": {**grid, **kwargs.get("grid", {})}})


def test_the_split_must_leave_rows_on_both_sides(weak_teacher, digits):
    X = digits.X_train[:100]
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \(0, 1\), got 1.0"):
        _small(validation_fraction=1.0).fit(weak_teacher, X)
    with pytest.raises(ValueError, match="X has 1 rows; too few to hold out"):
        _small().fit(weak_teacher, X[:1])
    # 0.1% of 100 rows rounds to none: one row is held out all the same
    fitted = _small(validation_fraction=0.001, epochs=1).fit(weak_teacher, X)
    assert fitted.cv_results_[0]["validation_agreement"] in (0.0, 1.0)


def test_grid_points_are_scored_by_agreement_with_the_teacher(weak_teacher, digits):
    """With alpha = 1 the labels do not train the student; labels the teacher never gives
    must not score it either. Without labels, the hard term uses the teacher's."""
    X, X_test = digits.X_train[:400], digits.X_test
    never = (weak_teacher.predict(X) + 1) % 10
    soft = _small(grid={"alpha": (1.0,)}).fit(weak_teacher, X, never)
    # Seeds 0-5 score 0.50-0.83 on these 40 validation rows (seed 0: 0.825). A student
    # trained on the `never` labels, or scored by them, is near 0.
    assert soft.cv_results_[0]["validation_agreement"] > 0.3
    hard = _small(grid={"alpha": (0.0,), "temperature": (1.0,)}).fit(weak_teacher, X)
    assert np.mean(hard.predict(X_test) == weak_teacher.predict(X_test)) > 0.6


def test_a_teacher_of_hard_zero_one_probabilities_is_distilled(weak_teacher, digits):
    """Its log-probabilities are -inf: they are clipped, not turned into NaN losses."""
    one_hot = BlackBox.from_callable(
        lambda Z: np.eye(10)[weak_teacher.predict(np.asarray(Z))], n_classes=10
    )
    fitted = _small().fit(one_hot, digits.X_train[:400])
    assert np.mean(fitted.predict(digits.X_test) == weak_teacher.predict(digits.X_test)) > 0.6


def test_the_first_of_tied_grid_points_is_kept():
    from unboxed.piecewise._distill import _Search

    search = _Search(None, {}, [], None)
    first, second, third = object(), object(), object()
    for i, (student, agreement) in enumerate([(first, 0.5), (second, 0.8), (third, 0.8)]):
        search.add({"point": i}, agreement, 0.0, student)
    assert search.best is second and search.best_index == 1


def test_a_student_sees_every_row_each_epoch_at_a_cosine_learning_rate(monkeypatch):
    from unboxed import zoo
    from unboxed.piecewise._distill import _train_student

    rates, rows = [], []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            rates.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    student = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    forward = student.forward

    def counting(x):
        rows.append(len(x))
        return forward(x)

    monkeypatch.setattr(student, "forward", counting)
    generator = torch.Generator().manual_seed(0)
    X, logp = torch.randn(10, 3, generator=generator), torch.randn(10, 2, generator=generator)
    y = logp.argmax(1)
    kwargs = {"temperature": 2.0, "alpha": 0.5, "lr": 0.01, "batch_size": 4, "epochs": 2}
    _train_student(student, X, logp.log_softmax(1), y, seed=0, **kwargs)
    assert rows == [4, 4, 2, 4, 4, 2]  # 10 rows in batches of 4, twice
    np.testing.assert_allclose(rates, [0.005 * (1 + np.cos(np.pi * k / 6)) for k in range(6)])
    logp[0, 0] = float("nan")  # stops at the first bad loss, saying so
    with pytest.raises(FloatingPointError, match="the distillation loss became nan"):
        _train_student(student, X, logp.log_softmax(1), y, seed=0, **kwargs)


def _recording(monkeypatch):
    """Record what each grid point's student is trained on: (X, teacher_logp, y)."""
    from unboxed.piecewise import _distill

    seen, train = [], _distill._train_student

    def recording(student, X, logp, y, **kwargs):
        seen.append((X.numpy().copy(), logp.numpy().copy(), y.numpy().copy()))
        return train(student, X, logp, y, **kwargs)

    monkeypatch.setattr(_distill, "_train_student", recording)
    return seen


def test_labels_are_checked_before_training(weak_teacher, digits):
    X = digits.X_train[:100]
    for y, message in (
        (digits.y_train[:99], r"y must have shape \(100,\)"),
        (np.full(100, 10), "y holds class 10 but there are only 10 classes"),
        (np.full(100, 1.5), "integer class labels"),
    ):
        with pytest.raises(ValueError, match=message):
            _small(epochs=1).fit(weak_teacher, X, y)


def test_mixes_come_from_the_training_rows_and_carry_the_teachers_targets(
    weak_teacher, digits, monkeypatch
):
    from unboxed.piecewise import _distill

    mixed_from, mixup = [], _distill._mixup
    monkeypatch.setattr(
        _distill, "_mixup", lambda X, n, rng: (mixed_from.append(X.copy()), mixup(X, n, rng))[1]
    )
    seen = _recording(monkeypatch)
    X, y = digits.X_train[:100], digits.y_train[:100]
    _small(epochs=1, n_mixup=30, validation_fraction=0.2).fit(weak_teacher, X, y)
    ((X_fit, logp, y_fit),) = seen
    # The validation rows pick the grid point: no mix may be made from them.
    np.testing.assert_array_equal(mixed_from[0], X_fit[:80])
    assert X_fit.shape == (110, 64)
    # Given labels for the rows of X; the teacher's own for the mixes.
    rows = {row.tobytes(): label for row, label in zip(X.astype(np.float32), y, strict=True)}
    assert [rows[row.tobytes()] for row in X_fit[:80]] == list(y_fit[:80])
    np.testing.assert_array_equal(y_fit[80:], weak_teacher.predict(X_fit[80:]))
    # The soft targets are the teacher's log-probabilities, floored at 1e-12 only.
    proba = weak_teacher.predict_proba(X_fit)
    assert (proba < 1e-3).any()  # so a higher floor would show
    expected = np.log(np.maximum(proba, 1e-12))
    np.testing.assert_allclose(logp, expected, rtol=1e-5, atol=1e-5)


def test_the_validation_share_is_rounded_to_the_nearest_row(weak_teacher, digits, monkeypatch):
    seen = _recording(monkeypatch)
    # 25% of 30 rows is 7.5: 8 rows are held out (floor would hold out 7)
    _small(epochs=1, validation_fraction=0.25).fit(weak_teacher, digits.X_train[:30])
    assert seen[0][0].shape == (22, 64)


@pytest.mark.parametrize("other", [{"widths": (8,)}, {"random_state": 1}, {"labels": "shifted"}])
def test_a_checkpoint_of_other_widths_seed_or_labels_is_refused(
    weak_teacher, digits, tmp_path, other
):
    X, y, path = digits.X_train[:200], digits.y_train[:200], tmp_path / "distil.safetensors"
    one_point = {"grid": {"temperature": (2.0,)}, "epochs": 1}
    _checkpointed(path, **one_point).fit(weak_teacher, X, y)
    other = dict(other)
    labels = (y + 1) % 10 if other.pop("labels", None) else y
    with pytest.raises(ValueError, match="made with other settings or data"):
        _checkpointed(path, **one_point, **other).fit(weak_teacher, X, labels)


def test_the_best_point_is_kept_when_it_is_not_the_first(weak_teacher, digits):
    # A learning rate of 1e-7 leaves the first student at its initial weights.
    fitted = _small(grid={"lr": (1e-7, 5e-3)}, epochs=5).fit(weak_teacher, digits.X_train[:400])
    first, second = (r["validation_agreement"] for r in fitted.cv_results_)
    assert second > first + 0.3
    assert fitted.best_params_["lr"] == 5e-3
    again = _small(grid={"lr": (5e-3,)}, epochs=5).fit(weak_teacher, digits.X_train[:400])
    for a, b in zip(fitted.student_.parameters(), again.student_.parameters(), strict=True):
        assert torch.equal(a, b)  # the second point's student, as trained alone


def test_mixup_weights_are_drawn_per_row():
    from unboxed.piecewise._distill import _mixup

    mixed = _mixup(np.eye(2, dtype=np.float32), 400, np.random.default_rng(0))
    two = (mixed > 0).sum(1) == 2  # rows mixing row 0 with row 1: (lam, 1 - lam)
    lam = mixed[two, 0]
    assert two.sum() > 100 and np.unique(lam).size == two.sum()
    # lam ~ U(0, 1): mean 1/2, spread 1/sqrt(12)
    assert abs(lam.mean() - 0.5) < 0.06 and abs(lam.std() - 12**-0.5) < 0.04


def test_a_last_step_that_diverges_is_caught(monkeypatch):
    from unboxed import zoo
    from unboxed.piecewise._distill import _train_student

    class Diverging(torch.optim.Adam):
        def step(self, closure=None):
            out = super().step(closure)
            with torch.no_grad():  # the loss before this step was finite
                self.param_groups[0]["params"][0].fill_(float("inf"))
            return out

    monkeypatch.setattr(torch.optim, "Adam", Diverging)
    student = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    X, logp = torch.randn(8, 3), torch.randn(8, 2).log_softmax(1)
    kwargs = {"temperature": 2.0, "alpha": 0.5, "lr": 0.01, "batch_size": 8, "epochs": 1}
    with pytest.raises(FloatingPointError, match="training diverged"):
        _train_student(student, X, logp, logp.argmax(1), seed=0, **kwargs)


def test_each_epoch_shuffles_the_rows_anew(monkeypatch):
    from unboxed import zoo
    from unboxed.piecewise._distill import _train_student

    student = zoo.mlp((4,), n_features=1, n_classes=2, random_state=0)
    batches, forward = [], student.forward
    monkeypatch.setattr(
        student, "forward", lambda x: (batches.append(x[:, 0].tolist()), forward(x))[1]
    )
    X = torch.arange(12, dtype=torch.float32)[:, None]  # each row names itself
    logp = torch.zeros(12, 2).log_softmax(1)
    kwargs = {"temperature": 1.0, "alpha": 0.5, "lr": 1e-3, "batch_size": 4, "epochs": 3}
    _train_student(student, X, logp, torch.zeros(12, dtype=torch.long), seed=0, **kwargs)
    epochs = [[row for batch in batches[k : k + 3] for row in batch] for k in (0, 3, 6)]
    assert all(sorted(e) == list(range(12)) for e in epochs)  # every row once per epoch
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]


@pytest.fixture(scope="module")
def three_class():
    """A tiny 5-feature, 3-class teacher and a student distilled from it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    model = LogisticRegression(max_iter=1000).fit(X, np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5]))
    teacher = BlackBox.from_sklearn(model)
    return teacher, X, _small(widths=(8,), epochs=3).fit(teacher, X)


def test_the_fitted_sizes_are_the_teachers(three_class):
    _, X, distiller = three_class
    assert distiller.n_features_in_ == 5 and distiller.n_classes_ == 3
    assert distiller.predict_proba(X[:4]).shape == (4, 3)


def test_probabilities_are_float64_and_sum_to_one(three_class):
    _, X, distiller = three_class
    proba = distiller.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("value", [1e300, -1e39])
def test_values_beyond_the_students_float32_are_refused_not_nan(three_class, value):
    # Finite in float64, infinite in the float32 student: the probabilities were NaN.
    _, X, distiller = three_class
    X_big = X[:3].copy()
    X_big[1, 2] = value
    for method in (distiller.predict_proba, distiller.predict):
        with pytest.raises(ValueError, match="the student's logits are not finite"):
            method(X_big)


def test_rows_of_another_shape_are_refused_not_flattened(three_class, digits, digits_logreg):
    _, X, distiller = three_class
    with pytest.raises(ValueError):
        distiller.predict(X[:4].reshape(4, 5, 1))  # 5 features, but not as a flat row
    teacher = BlackBox.from_callable(
        lambda Z: digits_logreg.predict_proba(np.asarray(Z).reshape(len(Z), -1)),
        n_classes=10,
        input_shape=(1, 8, 8),
    )
    images = digits.X_train[:100].reshape(-1, 1, 8, 8)
    fitted = _small(widths=(8,), epochs=1).fit(teacher, images)
    with pytest.raises(ValueError):
        fitted.predict(digits.X_test[:4].reshape(4, 2, 32))  # 64 values, not a 1x8x8 image


def test_explain_passes_its_target_on(three_class):
    _, X, distiller = three_class
    rows = X[:6]
    default = distiller.explain(rows).values
    for target in (0, 2):
        values = distiller.explain(rows, target=target).values
        expected = distiller.linear_regions().explain(rows, target=target).values
        np.testing.assert_array_equal(values, expected)
    # the default explains each row's predicted class, so some target differs from it
    assert any(
        not np.array_equal(distiller.explain(rows, target=t).values, default) for t in range(3)
    )


def test_the_search_record_is_plain_json_for_numpy_grid_values(three_class):
    import json

    teacher, X, _ = three_class
    grid = {"batch_size": (np.int64(64),), "temperature": (np.float64(2.0),)}
    fitted = _small(widths=(4,), epochs=1, grid=grid).fit(teacher, X)
    assert type(fitted.best_params_["batch_size"]) is int
    json.dumps({"best": fitted.best_params_, "results": fitted.cv_results_})  # np.int64 raised


def test_a_two_axis_image_keeps_its_shape_in_the_explanation(digits, digits_logreg):
    # (8, 8) is an image as much as (1, 8, 8) is: the attribution must say so to be plotted
    teacher = BlackBox.from_callable(
        lambda Z: digits_logreg.predict_proba(np.asarray(Z).reshape(len(Z), -1)),
        n_classes=10,
        input_shape=(8, 8),
    )
    fitted = _small(widths=(8,), epochs=1).fit(teacher, digits.X_train[:100].reshape(-1, 8, 8))
    assert fitted.explain(digits.X_test[:3].reshape(-1, 8, 8)).image_shape == (8, 8)


def test_bad_widths_and_n_mixup_are_refused_before_the_teacher_is_queried(weak_teacher, digits):
    # A costly black box was queried on all of X first; widths="ab" then raised int()'s
    # bare "invalid literal for int() with base 10".
    X = digits.X_train[:50]
    for kwargs, message in (
        ({"widths": "ab"}, "widths must be a sequence of ints"),
        ({"widths": 16}, "widths must be a sequence of ints"),
        ({"widths": (16, 0)}, "widths must be an int >= 1, got 0"),
        ({"n_mixup": -1}, "n_mixup must be an int >= 0"),
    ):
        before = weak_teacher.n_queries
        with pytest.raises(ValueError, match=message):
            _small(epochs=1, **kwargs).fit(weak_teacher, X)
        assert weak_teacher.n_queries == before, kwargs
    # a numpy array of widths is a sequence like any other
    fitted = _small(widths=np.array([8]), epochs=1).fit(weak_teacher, X)
    assert fitted.student_.fc1.out_features == 8


def test_the_validation_agreement_is_the_students_with_the_teacher_on_the_held_out_rows(
    weak_teacher, digits
):
    """A grid point's score is the share of held-out rows on which its student gives the
    teacher's class: not the training rows, and not the labels passed to fit (here
    never the teacher's, and alpha = 1 keeps them out of training)."""
    from sklearn.metrics import accuracy_score

    X = digits.X_train[:200]
    never = (weak_teacher.predict(X) + 1) % 10
    fitted = _small(grid={"alpha": (1.0,)}, validation_fraction=0.25, epochs=3)
    fitted.fit(weak_teacher, X, never)
    # random_state=0: the split is the first draw of the seed's generator
    val = np.random.default_rng(0).permutation(200)[:50]
    expected = accuracy_score(weak_teacher.predict(X[val]), fitted.predict(X[val]))
    assert fitted.cv_results_[0]["validation_agreement"] == expected
    train = np.setdiff1d(np.arange(200), val)
    assert expected != accuracy_score(weak_teacher.predict(X[train]), fitted.predict(X[train]))


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_the_grid_bar_and_false_prints_nothing(
    verbose, planted, planted_blackbox, capfd
):
    grid = {"lr": (5e-3,), "batch_size": (64,), "alpha": (0.0, 1.0)}
    Distiller(widths=(4,), grid=grid, epochs=1, random_state=0, verbose=verbose).fit(
        planted_blackbox, planted.X_train[:200]
    )
    assert_progress_shown(capfd, verbose, "distil grid")


def test_fidelity_is_the_students_agreement_with_the_teacher(weak_teacher, digits):
    """fidelity_ on the held-out validation rows and fidelity(X) on fresh rows are
    the share of rows on which the student gives the teacher's class (not the labels
    passed to fit, which the weak teacher contradicts), with Wilson's interval."""
    from scipy.stats import binomtest
    from sklearn.metrics import accuracy_score

    X = digits.X_train[:200]
    fitted = _small(grid={"alpha": (0.5,)}, validation_fraction=0.25, epochs=3)
    fitted.fit(weak_teacher, X, digits.y_train[:200])
    assert fitted.teacher_ is weak_teacher
    val = np.random.default_rng(0).permutation(200)[:50]
    expected = accuracy_score(weak_teacher.predict(X[val]), fitted.predict(X[val]))
    assert fitted.fidelity_.mean == expected == fitted.cv_results_[0]["validation_agreement"]
    assert fitted.fidelity_.n == 50
    X_new = digits.X_test
    fresh = fitted.fidelity(X_new)
    agreed = int(np.sum(fitted.predict(X_new) == weak_teacher.predict(X_new)))
    assert fresh.mean == agreed / len(X_new) != accuracy_score(digits.y_test, fitted.predict(X_new))
    wilson = binomtest(agreed, len(X_new)).proportion_ci(method="wilson")
    np.testing.assert_allclose(fresh.ci, (wilson.low, wilson.high), atol=1e-12)


def test_y_and_target_are_the_teacher_labels_where_it_has_them(weak_teacher, digits):
    # The hard term's y was read as column indices: labels 1..10 trained every class
    # on its neighbour's column, and 10 was out of range.
    labelled = BlackBox.from_callable(
        weak_teacher.predict_proba, n_classes=10, input_shape=(64,), classes=range(1, 11)
    )
    X, y = digits.X_train[:200], digits.y_train[:200]
    grid = {"lr": (5e-3,), "batch_size": (64,), "alpha": (0.5,), "temperature": (2.0,)}

    def fit(teacher, labels):
        return Distiller(widths=(8,), grid=grid, epochs=2, random_state=0, verbose=False).fit(
            teacher, X, labels
        )

    by_label, by_index = fit(labelled, y + 1), fit(weak_teacher, y)
    rows = digits.X_test[:5]
    np.testing.assert_array_equal(by_label.predict_proba(rows), by_index.predict_proba(rows))
    explained = by_label.explain(rows, target=4)
    assert np.array_equal(explained.target, [3] * 5)
    # plots show the teacher's label of column 3, 4, not the column
    assert explained.class_names == tuple(str(c) for c in range(1, 11))
    # the name alone heads the panel; the whole citation made a row of titles overlap
    assert explained.plot(0).axes[0].get_title().startswith("linear regions: row 0")
    assert "OpenBox" in explained.meta["parameters"]["source"]
    assert "class 4" in explained.plot(0).axes[0].get_title()
    # and so do the student's own regions, which had none
    assert by_label.linear_regions().explain(rows).class_names == explained.class_names
    np.testing.assert_array_equal(explained.values, by_index.explain(rows, target=3).values)
    with pytest.raises(ValueError, match=r"y holds 0.*pass its labels"):
        fit(labelled, y)
    with pytest.raises(ValueError, match="target holds 0"):
        by_label.explain(rows, target=0)


def test_a_dataframe_is_read_by_its_column_names(planted, planted_named_blackbox):
    # The student read a DataFrame's columns by position: in another order than the
    # teacher's, its fidelity fell to 0 on a binary model.
    import pandas as pd

    from tests.helpers import PLANTED_COLUMNS

    frame = pd.DataFrame(planted.X_train, columns=list(PLANTED_COLUMNS))
    student = Distiller(
        widths=(8,), grid={"lr": (5e-3,), "batch_size": (64,)}, epochs=2, verbose=False
    ).fit(planted_named_blackbox, frame)
    test = pd.DataFrame(planted.X_test[:50], columns=list(PLANTED_COLUMNS))
    reversed_ = test.iloc[:, ::-1]
    np.testing.assert_array_equal(student.predict(reversed_), student.predict(test))
    assert student.fidelity(reversed_).mean == student.fidelity(test).mean
    with pytest.raises(ValueError, match="X's columns do not match.*unknown column 'y'"):
        student.explain(test.assign(y=0.0))


def test_the_explanation_names_the_teachers_features(planted, planted_named_blackbox):
    # The student's attributions came without the teacher's feature names, so their
    # bars were labelled x0, x1, ... where every other explainer names the columns.
    from tests.helpers import PLANTED_COLUMNS

    student = Distiller(
        widths=(8,), grid={"lr": (5e-3,), "batch_size": (64,)}, epochs=2, verbose=False
    ).fit(planted_named_blackbox, planted.X_train)
    explained = student.explain(planted.X_test[:3])
    assert explained.feature_names == PLANTED_COLUMNS
    labels = [tick.get_text() for tick in explained.plot(0).axes[0].get_yticklabels()]
    assert set(labels) <= set(PLANTED_COLUMNS) and labels


def test_the_explanation_names_a_dataframes_rows_by_its_index(weak_teacher, digits):
    # LinearRegions was handed the checked array, so the index was lost on the way.
    import pandas as pd

    student = Distiller(
        widths=(8,), grid={"lr": (5e-3,), "batch_size": (64,)}, epochs=1, verbose=False
    ).fit(weak_teacher, digits.X_train[:400])
    frame = pd.DataFrame(digits.X_test[:3], index=[70, 71, 72])
    explained = student.explain(frame)
    assert explained.row_names == ("70", "71", "72")
    assert student.explain(frame.to_numpy()).row_names is None


def test_a_teacher_that_raises_on_a_mixup_blend_names_it():
    # It said "on row 2 of the 20 rows queried", a row of X it never had.
    def only_rows_of_x(X):
        if np.any((X[:, 0] != 0) & (X[:, 0] != 1)):
            raise ValueError("feature 0 is 0 or 1")
        p1 = np.where(X[:, 0] == 1, 0.75, 0.25)
        return np.stack([1 - p1, p1], axis=1)

    teacher = BlackBox.from_callable(only_rows_of_x, n_classes=2)
    X = np.repeat(np.arange(40) % 2, 3).reshape(40, 3).astype(float)
    distiller = Distiller(widths=(4,), epochs=1, n_mixup=20, random_state=0, verbose=False)
    with pytest.raises(BlackBoxError) as raised:
        distiller.fit(teacher, X)
    assert str(raised.value) == (
        "black box 'only_rows_of_x' raised ValueError on mixup blend 2 of 20 (of two rows "
        "of X): feature 0 is 0 or 1"
    )


@pytest.mark.parametrize("method", ["fit", "fidelity"])
def test_a_teacher_that_raises_on_a_dataframes_row_names_it_by_its_label(method):
    # fit and fidelity said "on row 1 of the 6 rows queried" alone, where predict_proba
    # adds the row's label: row 1 of a split is not X.loc[1] (check_X dropped the index).
    teacher, X = iris_refusing_a_petal_of_4(spared_calls=0 if method == "fit" else 1)
    distiller = _small(widths=(4,), epochs=1)
    if method == "fidelity":
        distiller.fit(teacher, X)  # its one query (no mixup) is answered
    with pytest.raises(BlackBoxError) as raised:
        if method == "fit":
            distiller.fit(teacher, X)
        else:
            distiller.fidelity(X)
    assert str(raised.value) == (
        "black box 'refuses_a_petal_of_4' raised ValueError on row 1 of the 6 rows queried, "
        "row X.loc['flower-62']: petal length 4.0"
    )


def test_a_value_beyond_float32_is_refused_as_such_before_the_teacher_sees_it():
    # The transfer set is cast to float32 for the student: the cast made 1e39 inf with a
    # RuntimeWarning, and then "X contains infinity (first at index (3, 1))" of a
    # number given finite. The teacher must not be asked about it.
    import pandas as pd

    seen = []

    def teacher_fn(rows):
        seen.append(rows)
        return np.tile([0.5, 0.5], (len(rows), 1))

    X = np.random.default_rng(0).normal(size=(40, 3))
    X[3, 1] = -1e39
    teacher = BlackBox.from_callable(teacher_fn, n_classes=2)
    beyond = r"X holds values beyond float32's range, in which the student computes \(first"
    limit = r": -1e\+39; float32 holds up to 3\.4e\+38\); rescale X$"
    with pytest.raises(ValueError, match=rf"^{beyond} at index \(3, 1\){limit}"):
        _small(widths=(4,), epochs=1).fit(teacher, X)
    frame = pd.DataFrame(X, index=[f"r{i}" for i in range(40)])
    with pytest.raises(
        ValueError, match=rf"^{beyond} at index \(3, 1\), row X\.loc\['r3'\]{limit}"
    ):
        _small(widths=(4,), epochs=1).fit(teacher, frame)
    assert seen == []


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_value_the_float32_cast_keeps_finite_is_kept_and_one_it_overflows_is_refused(sign):
    # The cast rounds to nearest: past float32's largest, a value below the midpoint to
    # the next step (2**128, beyond float32) becomes the largest, and from the midpoint
    # on (a tie rounds to the even 2**128) infinity. The range check refused every value
    # past the largest, though the cast kept it finite.
    import pandas as pd
    from sklearn.datasets import load_iris

    largest = float(np.finfo(np.float32).max)
    overflows = sign * (2.0**128 - 2.0**103)  # the midpoint
    kept = np.nextafter(overflows, 0.0)
    assert abs(kept) > largest
    seen = []

    def teacher_fn(rows):
        seen.append(np.array(rows))
        return np.tile([0.5, 0.5], (len(rows), 1))

    teacher = BlackBox.from_callable(teacher_fn, n_classes=2)
    X = load_iris().data[::3]  # 50 rows
    X[3, 1] = kept
    _small(widths=(4,), epochs=1).fit(teacher, X)
    assert seen[0].dtype == np.float32 and seen[0][3, 1] == sign * largest
    seen.clear()
    X[3, 1] = overflows
    frame = pd.DataFrame(X, index=[f"r{i}" for i in range(len(X))])
    value = rf"{overflows:g}".replace("+", r"\+")
    message = (
        r"^X holds values beyond float32's range, in which the student computes \(first at "
        rf"index \(3, 1\), row X\.loc\['r3'\]: {value}; float32 holds up to 3\.4e\+38\); rescale X$"
    )
    with pytest.raises(ValueError, match=message):
        _small(widths=(4,), epochs=1).fit(teacher, frame)
    assert seen == []


def test_fit_refuses_labels_whose_index_holds_the_rows_in_another_order():
    # y sorted apart from X taught each row another row's hard label; refused before
    # the teacher is queried.
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    teacher = BlackBox.from_sklearn(LogisticRegression(max_iter=5000).fit(X, y))
    with pytest.raises(ValueError, match=r"y's index holds the rows of X in another order"):
        Distiller(epochs=1, verbose=False).fit(teacher, X, y.sample(frac=1, random_state=0))
    assert teacher.n_queries == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": "smal"}, "grid must be one of"),
        ({"grid": {"lr": []}}, "grid\\['lr'\\] is empty"),
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"widths": (16, 0)}, "widths must be an int >= 1, got 0"),
        ({"n_mixup": -1}, "n_mixup must be an int >= 0"),
        ({"checkpoint": "grid.npz", "random_state": None}, "a checkpoint needs a reproducible"),
    ],
)
def test_bad_settings_are_refused_when_made_and_set(kwargs, message):
    # They were refused only by fit, once the teacher and the transfer set were ready.
    with pytest.raises(ValueError, match=message):
        Distiller(**kwargs)
    distiller = Distiller(epochs=2)
    before = distiller.get_params()
    with pytest.raises(ValueError, match=message):
        distiller.set_params(**kwargs)
    assert distiller.get_params() == before


def test_a_missing_label_of_a_series_is_named_by_its_index_label(weak_teacher, digits):
    # A split's shuffled index: "at index 3" sent the user to y.loc[3], another row.
    import pandas as pd

    rows = np.random.default_rng(0).permutation(100) + 1000
    y = pd.Series(digits.y_train[:100].astype(float), index=rows)
    y.iloc[3] = np.nan
    message = rf"y holds a missing label \(nan\) at index 3, row y\.loc\[{rows[3]}\]; drop"
    with pytest.raises(ValueError, match=message):
        _small(epochs=1).fit(weak_teacher, digits.X_train[:100], y)
