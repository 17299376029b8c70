import numpy as np

from unboxed import ExampleSet
from unboxed.demo import run_jgmm_demo


def test_jgmm_demo_writes_its_pictures(tmp_path, digits, digits_blackbox):
    lines = []
    result = run_jgmm_demo(digits_blackbox, digits, out=tmp_path, verbose=False, echo=lines.append)
    assert result["fidelity"].mean > 0.7
    assert result["fidelity"].n == digits.y_test.size  # measured on the test split
    report = "\n".join(lines)
    assert "JGMM" in report and f"agrees with the black box on {result['fidelity']}" in report
    for name in ("prototypes", "criticisms", "influentials", "counterfactuals", "semifactuals"):
        assert (tmp_path / f"jgmm_{name}.png").stat().st_size > 0
        saved = ExampleSet.load(tmp_path / f"jgmm_{name}.npz")
        assert saved.kind == name[:-1] and len(saved) == len(result["examples"][name]) > 0
    assert (tmp_path / "jgmm_posteriors.png").stat().st_size > 0


def test_jgmm_demo_reports_the_share_of_counterfactuals_in_another_class(
    tmp_path, digits, digits_blackbox
):
    from unboxed.demo import run_jgmm_demo

    lines = []
    result = run_jgmm_demo(digits_blackbox, digits, out=tmp_path, verbose=False, echo=lines.append)
    examples = result["examples"]
    assert [examples[k].kind for k in ("counterfactuals", "semifactuals")] == [
        "counterfactual",
        "semifactual",
    ]
    flips = examples["counterfactuals"]
    changed = np.mean(flips.top_classes[:, 0] != flips.query_classes[flips.groups])
    assert abs(changed - 0.5) > 0.05  # the test tells the share from its complement
    assert f"the proxy puts {100 * changed:.0f}% of the mined counterfactuals" in "\n".join(lines)
