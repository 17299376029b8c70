import numpy as np
import pytest

from tests.helpers import half_an_image_then_ctrl_c
from unboxed import Attribution, load_dataset
from unboxed.demo import DEMO_KS, compare_local_methods, run_demo
from unboxed.evaluate import deletion_curve
from unboxed.local import IntegratedGradients, KernelShap, Lime, Occlusion, Saliency, segment


def test_demo_explains_and_tests(tmp_path):
    lines = []
    result = run_demo(out=tmp_path, epochs=15, verbose=False, echo=lines.append)
    assert result["test_accuracy"] > 0.9
    deletion = result["deletion"]
    assert list(deletion.ks) == list(DEMO_KS)
    # saliency-ranked pixels matter more than random ones at every k
    assert deletion.separated().all() and (deletion.pcr < deletion.random_pcr).all()
    report = "\n".join(lines)
    assert "| k | PCR, saliency features" in report
    saved = Attribution.load(tmp_path / "saliency.npz")
    assert saved.image_shape == (8, 8) and saved.n_samples == 359
    assert (tmp_path / "saliency.png").stat().st_size > 0
    curves = result["local"]
    assert set(curves) == {"Saliency", "IntegratedGradients", "Lime", "KernelShap", "Occlusion 2x2"}
    # Signed, perturbation-based rankings remove what the class depends on faster than
    # unsigned saliency does.
    assert curves["KernelShap"].aopc.ci[0] > curves["Saliency"].aopc.ci[1]
    assert curves["Lime"].aopc.ci[0] > curves["Saliency"].aopc.ci[1]
    # Each beats a random order of the same cells on the same images, by a paired CI.
    baseline = result["local_baseline"]
    assert baseline.meta["ranking"] == "random" and baseline.drop.shape == curves["Lime"].drop.shape
    for name in ("Lime", "KernelShap", "Occlusion 2x2"):
        assert curves[name].aopc_difference(baseline, random_state=0).ci[0] > 0
    assert "| random order (baseline) |" in report
    assert "| KernelShap |" in report
    for stem in ("lime", "kernelshap", "occlusion", "integratedgradients"):
        assert Attribution.load(tmp_path / f"{stem}.npz").n_samples == 359
    # DMM-MEN's insights are faithful: removing them hurts far more than removing
    # random pixels (tests/test_demo_dmm.py checks the section's wiring)
    dmm = result["dmm_men"]
    assert "12. DMM-MEN" in report and "Deletion test of the insights" in report
    assert np.all(dmm["deletion"].separated())
    assert np.all(dmm["deletion"].pcr < dmm["deletion"].random_pcr)
    assert np.all(dmm["model"].r2_ > 0.3)
    assert Attribution.load(tmp_path / "dmm_men_local.npz").values.shape == (4, 64)
    assert (tmp_path / "dmm_men_insights.png").stat().st_size > 0


def test_bad_epochs_are_refused_before_any_work():
    lines = []
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        run_demo(epochs=0, verbose=False, echo=lines.append)
    assert lines == []


def test_a_model_that_never_predicts_a_class_is_refused_before_any_explaining(tmp_path):
    # After 1 epoch this LeNet calls every training digit a 0; the DMM-MEN step
    # failed on class 1 minutes later, after seven files had been written.
    lines = []
    with pytest.raises(
        ValueError,
        match=r"after 1 epochs the LeNet calls no training image class 1, 2, 3, 4, 5, 6, 7, 8, 9, ",
    ):
        run_demo(out=tmp_path, epochs=1, verbose=False, echo=lines.append)
    assert len(lines) == 2 and lines[1].startswith("2. Black box") and not any(tmp_path.iterdir())


def test_one_class_never_predicted_is_enough_to_refuse_and_class_0_counts():
    """Only the training split's predictions count, and a single missing class (here 0,
    the first) stops the demo as surely as nine do."""
    from types import SimpleNamespace

    from unboxed.demo import _check_every_class_predicted

    class Lookup:  # row i of X is the number i; it is called labels[i]
        def __init__(self, labels):
            self.labels = np.asarray(labels)

        def predict(self, X):
            return self.labels[np.asarray(X)]

    dataset = SimpleNamespace(n_classes=3, X_train=np.arange(4), X_test=np.arange(4, 6))
    _check_every_class_predicted(Lookup([0, 1, 2, 2, 0, 0]), dataset, 5)
    # In the second case only the test rows are called 2: class 2 is still missing.
    for labels, missing in (([1, 2, 2, 1, 0, 0], "0"), ([0, 0, 1, 1, 2, 2], "2")):
        with pytest.raises(
            ValueError, match=rf"after 5 epochs the LeNet calls no training image class {missing}, "
        ):
            _check_every_class_predicted(Lookup(labels), dataset, 5)


def test_compare_local_methods_reports_each_methods_own_curve(digits, digits_blackbox):
    """Each method's curve, recomputed with the same seed and the same 2x2 cells."""
    X = digits.X_test[:6]
    lines = []
    result = compare_local_methods(digits_blackbox, X, random_state=3, echo=lines.append)
    cells = segment(X, (8, 8), method="grid", cell=2)
    target = digits_blackbox.predict(X)
    for name, explainer in (
        ("Lime", Lime(digits_blackbox, n_samples=500, random_state=3)),
        ("KernelShap", KernelShap(digits_blackbox, n_samples=500, random_state=3)),
    ):
        expected = explainer.explain(X, target=target, segments=cells)
        np.testing.assert_array_equal(result["attributions"][name].values, expected.values)
    # the gradient methods and the occlusion (2x2 window, stride 1, zero fill) explain
    # the predicted class too, each with its own settings
    for name, explainer in (
        ("Saliency", Saliency(digits_blackbox)),
        ("IntegratedGradients", IntegratedGradients(digits_blackbox)),
        ("Occlusion 2x2", Occlusion(digits_blackbox, window=2, stride=1, fill="zero")),
    ):
        expected = explainer.explain(X, target=target)
        np.testing.assert_allclose(result["attributions"][name].values, expected.values)
        np.testing.assert_array_equal(result["attributions"][name].target, target)
    report = "\n".join(lines)
    for name, attribution in result["attributions"].items():
        curve = deletion_curve(
            digits_blackbox, X, attribution, max_k=8, segments=cells, n_boot=200, random_state=3
        )
        np.testing.assert_array_equal(result["curves"][name].drop, curve.drop)
        assert result["curves"][name].aopc == curve.aopc
        assert f"| {name} | {curve.aopc} | " in report


def test_the_cue_study_prints_an_accuracy_drop_that_rounds_to_0_without_a_sign(monkeypatch):
    # a bootstrap bound of -0.00003 (a percentile between the means -1/72 and 0) and a
    # mean of -0.00001 printed "largest other region -0.0000 [-0.0000, -0.0000]", where
    # the Estimates in the tables above print "0.0000"
    from unboxed import evaluate
    from unboxed.demo import spurious_cue_study

    real = evaluate.bootstrap_mean

    def tiny_other_drops(drops, **kwargs):
        mean, ci = real(drops, **kwargs)
        mean[:-1], ci[:-1] = -0.00001, (-0.00003, -0.0)  # the cue is the last column
        return mean, ci

    monkeypatch.setattr(evaluate, "bootstrap_mean", tiny_other_drops)
    lines = []
    result = spurious_cue_study(epochs=2, n_repeats=1, n_boot=20, random_state=0, echo=lines.append)
    line = next(line for line in lines if line.startswith("Permutation importance"))
    cue, (low, high) = result["cue_drop"]
    assert line == (
        f"Permutation importance (accuracy drop): cue region {cue:.4f} [{low:.4f}, "
        f"{high:.4f}], largest other region 0.0000 [0.0000, 0.0000]"
    )
    assert cue > 0.1  # a figure that does not round to 0 is written as before


def test_demo_passes_its_seed_and_folder_to_every_part(monkeypatch, tmp_path):
    import unboxed.demo as demo

    calls = {}
    # one attribution per method name, to see where run_demo saves each
    saved = {
        name: Attribution(np.full((1, 2), float(i)), np.array([0]))
        for i, name in enumerate(["Lime", "KernelShap", "Occlusion 2x2"])
    }

    def recorder(part):
        def record(*args, **kwargs):
            calls[part] = (args, kwargs)
            compared = {"attributions": saved, "curves": "curves", "baseline": "baseline"}
            return {"compare": compared}.get(part, part)

        return record

    class Deletion:
        def to_markdown(self, label):
            return f"deletion of {label}"

    def deletion_test(*args, **kwargs):
        calls["deletion_test"] = (args, kwargs)
        return Deletion()

    monkeypatch.setattr(demo, "deletion_test", deletion_test)
    monkeypatch.setattr(demo, "compare_local_methods", recorder("compare"))
    for part in ("spurious_cue_study", "run_jgmm_demo", "clime_demo", "dmm_men_demo"):
        monkeypatch.setattr(demo, part, recorder(part))
    lines = []
    # 3 epochs: the fewest with which this seed's LeNet calls some image every class
    result = run_demo(out=tmp_path, epochs=3, random_state=7, verbose=False, echo=lines.append)
    parts = ("local", "local_baseline", "spurious_cue", "jgmm", "clime", "dmm_men")
    assert {key: result[key] for key in parts} == {
        "local": "curves",
        "local_baseline": "baseline",
        "spurious_cue": "spurious_cue_study",
        "jgmm": "run_jgmm_demo",
        "clime": "clime_demo",
        "dmm_men": "dmm_men_demo",
    }
    assert "deletion of saliency" in lines
    assert (tmp_path / "saliency.png").stat().st_size > 0
    (_, X, saliency, ks), kwargs = calls["deletion_test"]
    assert ks == list(DEMO_KS) and kwargs["random_state"] == 7 and kwargs["sample_frac"] == 1.0
    # the saliency of every test image, tested by setting pixels to 0
    digits = load_dataset("digits")
    np.testing.assert_array_equal(X, digits.X_test)
    assert saliency.n_samples == digits.y_test.size and saliency.image_shape == (8, 8)
    assert kwargs["fill"] == "zero" and kwargs["n_boot"] == 200
    # each method's attribution under its first word, lower case ("Occlusion 2x2": occlusion)
    for stem, name in (
        ("lime", "Lime"),
        ("kernelshap", "KernelShap"),
        ("occlusion", "Occlusion 2x2"),
    ):
        loaded = Attribution.load(tmp_path / f"{stem}.npz")
        np.testing.assert_array_equal(loaded.values, saved[name].values)
    assert calls["compare"][1]["random_state"] == 7
    assert calls["spurious_cue_study"][1]["random_state"] == 7
    assert calls["spurious_cue_study"][1]["out"] == tmp_path
    assert calls["run_jgmm_demo"][1]["out"] == tmp_path
    (model, _, folder), kwargs = calls["clime_demo"]
    assert model.config["kwargs"]["random_state"] == 7 and folder == tmp_path
    assert kwargs["random_state"] == 7
    for part in ("run_jgmm_demo", "dmm_men_demo"):
        assert calls[part][1]["random_state"] == 7
    assert calls["dmm_men_demo"][0][2] == tmp_path


def test_an_interrupted_figure_save_keeps_the_earlier_figure(monkeypatch, tmp_path):
    # A rerun into the same folder that is stopped while writing a picture must leave
    # the earlier picture whole, never a truncated PNG.
    from matplotlib.figure import Figure

    import unboxed.demo as demo

    class Trained:
        test_accuracy = 0.5

    monkeypatch.setattr(demo.zoo, "train", lambda *args, **kwargs: Trained())
    # the untrained model calls every digit one class, which run_demo refuses
    monkeypatch.setattr(demo, "_check_every_class_predicted", lambda *args: None)

    class Deletion:
        def to_markdown(self, label):
            return label

    monkeypatch.setattr(demo, "deletion_test", lambda *args, **kwargs: Deletion())
    monkeypatch.setattr(demo, "compare_local_methods", lambda *args, **kwargs: {})

    class Saliency:  # ten images are all the figure shows; no need for the 360 tests
        def __init__(self, blackbox):
            pass

        def explain(self, X):
            return Attribution(np.ones((10, 64)), np.arange(10), image_shape=(8, 8))

    monkeypatch.setattr(demo, "Saliency", Saliency)
    monkeypatch.setattr(Figure, "savefig", half_an_image_then_ctrl_c)
    (tmp_path / "saliency.png").write_bytes(b"the earlier picture")
    with pytest.raises(KeyboardInterrupt):
        run_demo(out=tmp_path, epochs=1, verbose=False, echo=lambda line: None)
    assert (tmp_path / "saliency.png").read_bytes() == b"the earlier picture"
    assert [p.name for p in tmp_path.iterdir()] == ["saliency.png"]
