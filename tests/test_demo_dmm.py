import numpy as np

from unboxed import Attribution
from unboxed.demo import dmm_men_demo


def test_dmm_men_demo_tests_its_insights(tmp_path, digits, digits_blackbox):
    lines = []
    result = dmm_men_demo(digits_blackbox, digits, tmp_path, echo=lines.append)
    report = "\n".join(lines)
    assert "DMM-MEN" in report and "Deletion test" in report
    # The insights are faithful: removing them hurts far more than removing random pixels.
    deletion = result["deletion"]
    assert np.all(deletion.separated())
    assert np.all(deletion.pcr < deletion.random_pcr)
    assert np.all(result["model"].r2_ > 0.3)
    local = Attribution.load(tmp_path / "dmm_men_local.npz")
    assert local.values.shape == (4, 64)
    assert (tmp_path / "dmm_men_insights.png").stat().st_size > 0
