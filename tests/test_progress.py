"""Progress bars: shown only when asked for."""

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
