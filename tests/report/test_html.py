import base64
import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from tests.helpers import HtmlPage
from unboxed._ranks import descending_order
from unboxed.report import ReportSection, headline, render_report, render_section
from unboxed.report._html import PNG_SIGNATURE, QUESTIONS


def _estimate(mean, low, high, n=10):
    return {"mean": mean, "ci": [low, high], "n": n}


#: Each command's --json record, as the commands write them (a few rows each).
FIGURES = {
    "explain": {
        "command": "explain",
        "method": "lime",
        "max_k": 10,
        "aopc": _estimate(0.8056, 0.7340, 0.8773, 2),
        "relative_infidelity": _estimate(0.1007, 0.0771, 0.1242, 2),
        "rows": [
            {
                "row": 0,
                "label": "9",
                "explained_class": "9",
                "probability": 0.994,
                "aopc": 0.877,
                "relative_infidelity": 0.124,
                "score_cv": 0.757,
            },
            {
                "row": 1,
                "label": "3",
                "explained_class": "3",
                "probability": 0.999,
                "aopc": 0.734,
                "relative_infidelity": None,
                "score_cv": None,
            },
        ],
    },
    "approximate": {
        "command": "approximate",
        "depth": 8,
        "leaves": 91,
        "path_length": 8.08,
        "fidelity": _estimate(0.8329, 0.7908, 0.8679, 359),
        "accuracy": _estimate(0.8, 0.75, 0.85, 359),
        "rule_units": "as read by the model",
    },
    "importance": {
        "command": "importance",
        "metric": "accuracy",
        "labels": "model",
        "baseline": 1.0,
        "above_zero": 1,
        "n_rows": 100,
        "n_repeats": 2,
        "drops": {
            "row 0, col 0": {"mean": 0.0, "ci": [0.0, 0.0]},
            "row 3, col 3": {"mean": 0.05, "ci": [0.035, 0.07]},
            "row 1, col 1": {"mean": 0.002, "ci": [-0.001, 0.004]},
        },
    },
    "maximize": {
        "command": "maximize",
        "prototypes": [
            {
                "class": "0",
                "probability": 0.99,
                "distance": 0.25,
                "real_distance": [0.2, 0.23, 0.27],
                "real_rows": 36,
            },
            {
                "class": "1",
                "probability": 0.95,
                "distance": 0.6,
                "real_distance": [0.2, 0.22, 0.25],
                "real_rows": 37,
            },
            {
                "class": "2",
                "probability": 0.97,
                "distance": None,
                "real_distance": None,
                "real_rows": 0,
            },
        ],
    },
    "examples": {
        "command": "examples",
        "fidelity": _estimate(0.9638, 0.939, 0.9787, 359),
        "rows": [0, 2],
        "kinds": {
            "counterfactuals": {"found": 10, "validity": _estimate(1.0, 0.3424, 1.0, 2)},
            "prototypes": {
                "found": 50,
                "faithfulness": {
                    "measure": "the black box puts the row in its component's class",
                    "examples": _estimate(1.0, 0.9287, 1.0, 50),
                    "reference": _estimate(0.9722, 0.9623, 0.9795, 1438),
                    "expected": "higher",
                    "holds": False,
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def png():
    """A real PNG file, drawn by matplotlib."""
    figure = Figure(figsize=(1, 1))
    figure.subplots().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _page(sections, **facts):
    facts = {"model": "models/lenet", "dataset": "digits"} | facts
    text = render_report(sections, **facts)
    return text, HtmlPage(text)


def test_the_page_has_a_section_per_command_with_its_question_and_figures(png):
    sections = [
        ReportSection(
            name, figures=figures, images=[("drawn", png)] if name != "approximate" else []
        )
        for name, figures in FIGURES.items()
    ]
    accuracy = _estimate(0.9526, 0.9255, 0.9702, 359)
    text, page = _page(sections, accuracy=accuracy)
    assert page.doctype == "DOCTYPE html" and page.tags[:3] == ["html", "head", "meta"]
    assert "<title>unboxed report: models/lenet</title>" in text
    assert "Data set digits; test accuracy 0.953 [0.925, 0.970] on 359 test rows" in text
    assert list(page.sections) == list(QUESTIONS)
    for name, section in page.sections.items():
        assert QUESTIONS[name] in section["text"]
        assert headline(ReportSection(name, figures=FIGURES[name])) in section["text"]
    explain = page.sections["explain"]["text"]
    assert "deletion AOPC 0.806 [0.734, 0.877]" in explain
    assert "relative infidelity 0.101 [0.077, 0.124]" in explain
    assert "R² (CV)" in explain  # the row's own figure of fit, "-" where it is None
    approximate = page.sections["approximate"]["text"]
    assert "on 0.833 [0.791, 0.868] of the 359 test rows (its fidelity: 1 where" in approximate
    # the largest drop first, whatever the record's order
    importance = page.sections["importance"]["text"]
    assert "1 of 3 inputs, each shuffled 2 times over 100 test rows, have a 95% CI" in (importance)
    assert "the largest, row 3, col 3," in importance and "by 0.050 [0.035, 0.070]" in importance
    assert importance.index("row 3, col 3") < importance.index("row 1, col 1")
    once = headline(ReportSection("importance", figures={**FIGURES["importance"], "n_repeats": 1}))
    assert "each shuffled once over 100 test rows" in once
    # class 0 lies within its quartile, class 1 beyond, class 2 has no distance
    maximize = page.sections["maximize"]["text"]
    assert "p(class) 0.950 to 0.990" in maximize and "1 of 3 are as near" in maximize
    examples = page.sections["examples"]["text"]
    assert "proxy gives the model's class on 0.964 [0.939, 0.979] of the 359 test rows" in (
        examples
    )
    assert (
        "the model's class changes, 1.000 [0.342, 1.000] of the 10 found for 2 test rows "
        "(1 is best; its CI takes the rows, not the examples, as its units)" in examples
    )
    assert (
        "1.000 [0.929, 1.000] against 0.972 [0.962, 0.980] on the training rows (faithful "
        "ones score higher; CIs apart that way: no)" in examples
    )


def test_images_are_embedded_as_png_data_uris_that_decode(png):
    section = ReportSection("maximize", figures=FIGURES["maximize"], images=[("x*", png)] * 2)
    _, page = _page([section])
    sources = page.sections["maximize"]["images"]
    assert len(sources) == 2
    for source in sources:
        prefix, encoded = source.split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(encoded, validate=True) == png
        assert png.startswith(PNG_SIGNATURE)


def test_text_from_the_model_and_the_commands_is_escaped():
    figures = FIGURES["maximize"] | {
        "prototypes": [
            {
                "class": "<b>cat</b> & dog",
                "probability": 0.9,
                "distance": 0.1,
                "real_distance": None,
            }
        ]
    }
    sections = [
        ReportSection("maximize", figures=figures, command="unboxed maximize <x>"),
        ReportSection("approximate", figures=FIGURES["approximate"], text="f <= 0.5 & g > 1"),
        ReportSection("explain", error="bad <script>alert(1)</script>", printout="<i>row</i>"),
    ]
    text, page = _page(sections, model="a<b", dataset="d&d")
    assert "&lt;b&gt;cat&lt;/b&gt; &amp; dog" in text
    assert "f &lt;= 0.5 &amp; g &gt; 1" in text
    assert "bad &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "unboxed report: a&lt;b" in text and "Data set d&amp;d" in text
    assert not {"b", "script", "i", "x"} & set(page.tags)
    # the parser reads the text back as it was
    assert "<b>cat</b> & dog" in page.sections["maximize"]["text"]
    assert page.sections["approximate"]["pre"][0] == "f <= 0.5 & g > 1"
    assert "$ unboxed maximize <x>" in page.sections["maximize"]["pre"][0]


def test_a_failed_section_shows_its_error_and_no_figures():
    section = ReportSection("importance", error="--cell 9 is larger than the 8x8 images")
    text, page = _page([section, ReportSection("explain", figures=FIGURES["explain"])])
    shown = page.sections["importance"]
    assert "This section failed: --cell 9 is larger than the 8x8 images" in shown["text"]
    assert not shown["images"] and "<table" not in text.split('id="explain"')[0]
    assert headline(section) == "failed: --cell 9 is larger than the 8x8 images"
    assert "deletion AOPC" in page.sections["explain"]["text"]


def test_explain_without_relative_infidelity_says_so():
    figures = FIGURES["explain"] | {"relative_infidelity": None}
    line = headline(ReportSection("explain", figures=figures))
    assert "deletion AOPC 0.806 [0.734, 0.877]" in line
    assert line.endswith("no relative infidelity (no removal moved the rows' probability).")


def _explain_line(above):
    """The explain section's headline of FIGURES with a random baseline of 0.253 and
    the ranking's paired difference against it ``above`` (a record's estimate)."""
    random = {"mean": 0.2531, "ci": [0.2012, 0.3055], "n": 2}
    figures = FIGURES["explain"] | {"random_aopc": random, "aopc_minus_random": above}
    return headline(ReportSection("explain", figures=figures))


def test_explain_shows_the_random_baseline_where_its_record_has_one():
    above = {"mean": 0.5525, "ci": [0.4912, 0.6101], "n": 2}
    line = _explain_line(above)
    assert (
        "; a random order of the same components gives 0.253 [0.201, 0.305], and the "
        "ranking is above it by 0.552 [0.491, 0.610] (paired by row)"
    ) in line
    # a record written before explain computed the baseline has none, and says nothing
    assert "random order" not in headline(ReportSection("explain", figures=FIGURES["explain"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "summary", "error": "x"}, "unknown section 'summary'"),
        ({"name": "explain"}, "expected its figures or its error, one of the two"),
        (
            {"name": "explain", "figures": {}, "error": "x"},
            "expected its figures or its error, one of the two",
        ),
        (
            {"name": "explain", "error": "x", "images": [("a", b"GIF89a")]},
            "image 'a' is not a PNG file",
        ),
    ],
)
def test_a_bad_section_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReportSection(**kwargs)


@pytest.mark.parametrize(
    "image",
    [
        ("a", "not bytes"),  # bytes(): "string argument without an encoding"
        ("a", None),  # bytes(): "cannot convert 'NoneType' object to bytes"
        PNG_SIGNATURE,  # a bare image: "too many values to unpack (expected 2)"
        (b"caption", PNG_SIGNATURE),  # shown as "b'caption'" on the page
    ],
)
def test_an_image_that_is_not_a_caption_and_its_bytes_is_refused_by_name(image):
    with pytest.raises(TypeError, match=r"section 'explain': each image must be a \(caption"):
        ReportSection("explain", error="x", images=[image])


def test_a_mean_over_one_row_is_shown_without_a_ci():
    one_row = {"mean": 0.8056, "ci": None, "n": 1}
    figures = FIGURES["explain"] | {"aopc": one_row, "relative_infidelity": one_row}
    line = headline(ReportSection("explain", figures=figures))
    assert line.startswith("lime on 2 test rows:")
    line = headline(ReportSection("explain", figures=figures | {"rows": figures["rows"][:1]}))
    assert line.startswith("lime on 1 test row: deletion AOPC 0.806 (one row: no CI)")
    assert "relative infidelity 0.806 (one row: no CI)" in line


def test_the_page_takes_its_sections_html_as_rendered_alone(png):
    sections = [
        ReportSection("explain", figures=FIGURES["explain"], images=[("drawn", png)]),
        ReportSection("importance", error="--cell 9 is larger than the images"),
    ]
    facts = {"model": "models/lenet", "dataset": "digits"}
    rendered = [render_section(section) for section in sections]
    assert render_report(sections, **facts, rendered=rendered) == render_report(sections, **facts)
    with pytest.raises(ValueError, match=r"one HTML text per section \(2\), got 1"):
        render_report(sections, **facts, rendered=rendered[:1])


def _table_rows(html):
    """The cells of each body row of the tables in ``html``, as text."""
    import re

    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", html, re.S))
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_the_maximize_table_shows_how_many_real_rows_each_class_was_measured_on():
    """maximize --json records real_rows, the test rows its quartiles are of (a class
    may have fewer than asked); the page's table did not show it."""
    html = render_section(ReportSection("maximize", figures=FIGURES["maximize"]))
    assert "<th>real rows measured</th>" in html
    rows = _table_rows(html)
    assert [row[0] for row in rows] == ["0", "1", "2"]
    assert [row[-1] for row in rows] == ["36", "37", "0"]
    assert rows[0][3] == "0.230 [0.200, 0.270]" and rows[2][3] == "-"
    # a record written before real_rows was kept shows a dash
    prototypes = FIGURES["maximize"]["prototypes"]
    old = [{k: v for k, v in row.items() if k != "real_rows"} for row in prototypes]
    figures = {"command": "maximize", "prototypes": old}
    html = render_section(ReportSection("maximize", figures=figures))
    assert [row[-1] for row in _table_rows(html)] == ["-", "-", "-"]


@pytest.mark.parametrize(
    ("above", "said"),
    [
        (
            {"mean": -0.0412, "ci": [-0.0733, -0.0104], "n": 2},
            "the ranking is below it by 0.041 [0.010, 0.073] (paired by row)",
        ),
        ({"mean": -0.0412, "ci": None, "n": 1}, "the ranking is below it by 0.041"),
        # a bound of 0 turned round read "[-0.000, 0.073]"
        (
            {"mean": -0.0412, "ci": [-0.0733, 0.0], "n": 2},
            "the ranking is below it by 0.041 [0.000, 0.073] (paired by row)",
        ),
    ],
)
def test_explain_says_a_ranking_below_its_random_baseline_is_below_it(above, said):
    # A ranking worse than random read "above it by -0.041 [-0.073, -0.010]", where
    # explain's own printout says "below it by" (cli._above).
    line = _explain_line(above)
    assert said in line
    assert "above it" not in line and "-0.0" not in line


#: What a paired difference adds where its interval holds 0 (cli._above's words).
HOLDS_ZERO = "; its interval holds 0: no clear difference"


@pytest.mark.parametrize(
    ("above", "said"),
    [
        (
            {"mean": -0.0104, "ci": [-0.0312, 0.0098], "n": 2},
            "the ranking is below it by 0.010 [-0.010, 0.031] (paired by row); its interval "
            "holds 0: no clear difference; relative infidelity",
        ),
        (
            {"mean": 0.0104, "ci": [0.0, 0.0312], "n": 2},
            "the ranking is above it by 0.010 [0.000, 0.031] (paired by row); its interval "
            "holds 0: no clear difference; relative infidelity",
        ),
    ],
)
def test_explain_says_a_ranking_whose_interval_holds_zero_shows_no_clear_difference(above, said):
    # The headline read "below it by 0.010 [-0.010, 0.031] (paired by row)", a loss,
    # where explain's printout of the same record adds that its interval holds 0.
    from unboxed.cli import _above
    from unboxed.evaluate import Estimate

    assert said in _explain_line(above)
    printed = _above(Estimate(above["mean"], tuple(above["ci"]), above["n"]))
    assert printed.endswith("; its interval holds 0: no clear difference")


def test_explain_says_nothing_of_zero_where_the_interval_is_clear_of_it_or_absent():
    for above in (
        {"mean": -0.0412, "ci": [-0.0733, -0.0104], "n": 2},
        {"mean": -0.0412, "ci": None, "n": 1},
    ):
        assert "no clear difference" not in _explain_line(above)


@pytest.mark.parametrize(("low", "holds"), [(0.0003, False), (-0.0003, True)])
def test_explain_and_the_page_give_one_record_one_verdict_on_zero(low, holds):
    from unboxed.cli import _above
    from unboxed.evaluate import Estimate

    above = {"mean": 0.0104, "ci": [low, 0.0312], "n": 2}
    line = _explain_line(above)
    assert "above it by 0.010 [0.000, 0.031] (paired by row)" in line
    printed = _above(Estimate(above["mean"], tuple(above["ci"]), above["n"]))
    assert (HOLDS_ZERO in line) is holds
    assert printed.endswith(HOLDS_ZERO) is holds


@pytest.mark.parametrize(
    "above",
    [
        # a NaN is written as null; a record read with json.loads may hold NaN itself
        {"mean": None, "ci": [None, None], "n": 2},
        {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n": 2},
        {"mean": None, "ci": None, "n": 1},
        None,
    ],
)
def test_explain_says_a_paired_difference_that_is_no_number_is_one(above):
    # It read "the ranking is above it by - (paired by row)": a side with no figure.
    line = _explain_line(above)
    assert (
        "and the ranking is on no known side of it: the difference (paired by row) is not a "
        "number; relative infidelity"
    ) in line
    assert "above it" not in line and "nan" not in line


def test_a_figure_that_is_nan_in_a_record_reads_as_a_null_one():
    # json.loads reads a NaN token as NaN: "deletion AOPC nan [nan, nan]" and a row's
    # "nan", where the same figure written as null reads "-"
    nan = float("nan")
    rows = [row | {"aopc": nan} for row in FIGURES["explain"]["rows"]]
    figures = FIGURES["explain"] | {"aopc": _estimate(nan, nan, nan, 2), "rows": rows}
    html = render_section(ReportSection("explain", figures=figures))
    assert "deletion AOPC -, the mean drop" in html
    assert [row[4] for row in _table_rows(html)] == ["-", "-"]
    assert "nan" not in html


@pytest.mark.parametrize("missing", [float("nan"), None])
def test_importance_ranks_its_drops_as_the_library_does_a_missing_one_last(missing):
    # A NaN mean (json.loads of a NaN token) left sorted's order unsorted: the headline
    # named "a" the largest drop, not "c"; a null one ranked above a negative drop.
    drops = {
        "a": {"mean": 0.1, "ci": [0.0, 0.2]},
        "b": {"mean": missing, "ci": None},
        "c": {"mean": 0.5, "ci": [0.4, 0.6]},
        "d": {"mean": -0.3, "ci": [-0.4, -0.2]},
        "e": {"mean": 0.5, "ci": [0.3, 0.7]},  # tied with c: after it, as in the record
    }
    figures = FIGURES["importance"] | {"drops": drops}
    html = render_section(ReportSection("importance", figures=figures))
    assert "shuffling the largest, c, lowers" in html
    assert [row[1] for row in _table_rows(html)] == ["c", "e", "a", "d", "b"]
    means = np.array([np.nan if d["mean"] is None else d["mean"] for d in drops.values()])
    assert [list(drops)[i] for i in descending_order(means)] == ["c", "e", "a", "d", "b"]
