import numpy as np

from unboxed import Attribution, zoo
from unboxed.demo import clime_demo
from unboxed.evaluate import agreement
from unboxed.piecewise import LinearRegions


def test_clime_demo_is_exact_and_faithful(digits_lenet, digits, tmp_path, monkeypatch):
    import unboxed.piecewise as piecewise

    students = []

    class Recorded(piecewise.Distiller):  # the demo's student, kept for the checks below
        def fit(self, *args, **kwargs):
            students.append(self)
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(piecewise, "Distiller", Recorded)
    lines = []
    result = clime_demo(digits_lenet, digits, tmp_path, echo=lines.append)
    assert result["max_error"] < 1e-5
    assert 1 < result["n_regions"] <= digits.y_test.size
    assert result["agreement"].mean > 0.85
    saved = Attribution.load(tmp_path / "clime_student.npz")
    assert saved.n_samples == digits.y_test.size and saved.image_shape == (8, 8)
    assert any(line.startswith("10. CLIME") for line in lines)
    assert any(line.startswith("11. Distillation-based CLIME") for line in lines)
    # the figures, recomputed: the largest gap over all images and logits, and the
    # student's agreement with the LeNet (not with the labels)
    X = digits.X_test
    regions = LinearRegions(digits_lenet)
    W, b = regions.local_linear(X)
    gap = np.abs(np.einsum("nkd,nd->nk", W, X) + b - regions.logits(X))
    assert result["max_error"] == gap.max()
    assert result["n_regions"] == regions.regions(X).n_regions
    assert f"largest gap to the logits {gap.max():.1e}" in "\n".join(lines)
    teacher = zoo.as_blackbox(digits_lenet).predict(X)
    [student] = students
    expected = agreement(student.predict(X), teacher, n_boot=200, random_state=0)
    assert result["agreement"] == expected
    assert f"agrees with it on {expected} of the test images" in "\n".join(lines)
