import numpy as np
import pytest

from unboxed import ExampleSet
from unboxed.demo import run_jgmm_demo


def test_jgmm_demo_writes_its_pictures(monkeypatch, tmp_path, digits, digits_blackbox):
    import unboxed.surrogates as surrogates

    fitted = []

    class Recorded(surrogates.JGMMExplainer):  # the demo's explainer, kept for its EM
        def fit(self, X):
            fitted.append(self)
            return super().fit(X)

    monkeypatch.setattr(surrogates, "JGMMExplainer", Recorded)
    lines = []
    result = run_jgmm_demo(digits_blackbox, digits, out=tmp_path, verbose=False, echo=lines.append)
    assert result["fidelity"].mean > 0.7
    assert result["fidelity"].n == digits.y_test.size  # measured on the test split
    report = "\n".join(lines)
    assert "JGMM" in report and f"agrees with the black box on {result['fidelity']}" in report
    [jgmm] = [explainer.jgmm_ for explainer in fitted]
    assert f"EM converged={jgmm.converged_} in {jgmm.n_iter_} iterations" in report
    for name in ("prototypes", "criticisms", "influentials", "counterfactuals", "semifactuals"):
        assert (tmp_path / f"jgmm_{name}.png").stat().st_size > 0
        saved = ExampleSet.load(tmp_path / f"jgmm_{name}.npz")
        assert saved.kind == name[:-1] and len(saved) == len(result["examples"][name]) > 0
    assert (tmp_path / "jgmm_posteriors.png").stat().st_size > 0
    # each set as Sec. 3.2 of the report counts it, all mined from the data; the
    # counterfactuals and semifactuals of the first four test images
    examples = result["examples"]
    for name, key, value in (
        ("prototypes", "n_per_class", 5),
        ("criticisms", "n", 8),
        ("influentials", "n", 8),
        ("counterfactuals", "n_per_query", 5),
        ("semifactuals", "n_per_query", 5),
    ):
        assert examples[name].source == "mined"
        assert examples[name].meta["parameters"][key] == value, name
    for name in ("counterfactuals", "semifactuals"):
        np.testing.assert_array_equal(examples[name].query_inputs, digits.X_test[:4])
    counts = ", ".join(f"{len(found)} {name}" for name, found in examples.items())
    assert f"9. Examples (Sec. 3.2): {counts}; " in report
    # the report gives the share of mined counterfactuals the proxy puts in another class
    assert [examples[k].kind for k in ("counterfactuals", "semifactuals")] == [
        "counterfactual",
        "semifactual",
    ]
    flips = examples["counterfactuals"]
    changed = np.mean(flips.top_classes[:, 0] != flips.query_classes[flips.groups])
    assert abs(changed - 0.5) > 0.05  # the test tells the share from its complement
    assert f"the proxy puts {100 * changed:.0f}% of the mined counterfactuals" in report


def test_jgmm_demo_fits_on_the_training_split_with_its_settings_and_seed(
    monkeypatch, tmp_path, digits, digits_blackbox
):
    """The JGMM the report names (pool2 to the logits, K_x = 20) is fitted on the
    training images with the demo's seed, and its fidelity is measured on every test
    image. The run stops at the fidelity: only
    what the demo asks for is recorded here (the full run is tested above)."""
    import unboxed.surrogates as surrogates

    class Stop(Exception):
        pass

    calls = {}

    class Recorded(surrogates.JGMMExplainer):
        def fit(self, X):
            calls["explainer"], calls["fit"] = self, X
            return self

        def fidelity(self, X, **kwargs):
            calls["fidelity"] = (X, kwargs)
            raise Stop

    monkeypatch.setattr(surrogates, "JGMMExplainer", Recorded)
    folder = tmp_path / "jgmm" / "demo"
    with pytest.raises(Stop):
        run_jgmm_demo(digits_blackbox, digits, out=folder, random_state=6, verbose=False)
    assert folder.is_dir()  # made before the fit, nested folders included
    explainer = calls["explainer"]
    assert explainer.blackbox is digits_blackbox
    assert (explainer.lower_layer, explainer.n_components_x) == ("pool2", 20)
    assert explainer.random_state == 6
    np.testing.assert_array_equal(calls["fit"], digits.X_train)
    X, kwargs = calls["fidelity"]
    np.testing.assert_array_equal(X, digits.X_test)
    assert kwargs == {}
