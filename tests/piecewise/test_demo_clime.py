from unboxed import Attribution
from unboxed.demo import clime_demo


def test_clime_demo_is_exact_and_faithful(digits_lenet, digits, tmp_path):
    lines = []
    result = clime_demo(digits_lenet, digits, tmp_path, echo=lines.append)
    assert result["max_error"] < 1e-5
    assert 1 < result["n_regions"] <= digits.y_test.size
    assert result["agreement"].mean > 0.85
    saved = Attribution.load(tmp_path / "clime_student.npz")
    assert saved.n_samples == digits.y_test.size and saved.image_shape == (8, 8)
    assert any(line.startswith("10. CLIME") for line in lines)
    assert any(line.startswith("11. Distillation-based CLIME") for line in lines)
