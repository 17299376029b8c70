import pytest

from unboxed import Attribution
from unboxed.demo import DEMO_KS, run_demo


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
    assert "| KernelShap |" in report
    for stem in ("lime", "kernelshap", "occlusion", "integratedgradients"):
        assert Attribution.load(tmp_path / f"{stem}.npz").n_samples == 359


def test_bad_epochs_are_refused_before_any_work():
    lines = []
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        run_demo(epochs=0, verbose=False, echo=lines.append)
    assert lines == []
