"""Progress bars: shown only when asked for."""

from unboxed._progress import progress


def test_verbose_false_prints_nothing_and_verbose_true_shows_the_bar(capsys):
    assert list(progress(range(3), verbose=False, desc="quiet-bar")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), verbose=True, desc="loud-bar")) == [0, 1, 2]
    assert "loud-bar" in capsys.readouterr().err
