"""The HTML page of ``unboxed report``: pure functions from each command's figures (its
``--json`` record) to one self-contained HTML5 page.

Strings are built by hand and every value is passed through :func:`html.escape`: no
template engine, no external style sheet, script, font or image (figures are PNG data
URIs), so the page opens offline and reads without its small inline style.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._numbers import fixed, is_missing, one_row_mean, paired_difference
from .._ranks import descending_order

#: The question each section answers, in the page's order.
QUESTIONS = {
    "explain": "Why these decisions?",
    "approximate": "What has it learned?",
    "importance": "Which inputs matter?",
    "maximize": "What does it find typical of each class?",
    "examples": "Where would its decision change?",
}
#: How each section answers its question, in one sentence.
METHODS = {
    "explain": "Lime fits a linear model to each test row's perturbations: its attributions "
    "say which parts of the row pushed the model towards the class it chose.",
    "approximate": "A decision tree is trained to give the model's class: its rules are a "
    "readable stand-in for the model, as far as they agree with it.",
    "importance": "Each cell of the image (or feature of the row) is shuffled over the test "
    "rows: the more the model's answers change, the more it relies on that input.",
    "maximize": "For each class, an input is searched for that the model gives that class "
    "with the highest probability (activation maximization).",
    "examples": "A Gaussian mixture between the model's last hidden layer and its logits "
    "picks typical training rows of each class (prototypes) and, for each test row, "
    "training rows the model puts in another class (counterfactuals).",
}
#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Column titles of the tables, by the key of the figures they show.
COLUMN_TITLES = {
    "row": "test row",
    "label": "true class",
    "explained_class": "explained class",
    "probability": "p",
    "aopc": "AOPC",
    "relative_infidelity": "relative infidelity",
    "score_cv": "R² (CV)",
    "r2_held_out": "R² (held out)",
    "score": "R²",
    "delta": "completeness gap",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
    "padding:.2em .5em;text-align:right}th{background:#eee}img{max-width:100%}"
    ".faithfulness{background:#eef6ee;padding:.5em}.error{background:#fbeaea;padding:.5em}"
    "pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em}"
)


@dataclass(frozen=True)
class ReportSection:
    """One section of the report: a command's figures, or the error that stopped it.

    Parameters
    ----------
    name : str
        The command, one of :data:`QUESTIONS`' keys.
    figures : mapping or None
        The command's ``--json`` record; None where it failed.
    images : sequence of (str, bytes)
        Each figure the command drew: a caption and the bytes of a PNG file.
    text : str or None
        A text file the command wrote, shown as it is: the tree's rules.
    printout : str
        What the command printed.
    command : str
        The command line that gives the same figures.
    error : str or None
        Why the command failed; None where it ran.

    Raises
    ------
    TypeError
        For an image that is not a (str, bytes) pair.
    ValueError
        For an unknown ``name``, a section with both figures and an error or neither,
        or an image that is not a PNG file.
    """

    name: str
    figures: Mapping[str, Any] | None = None
    images: Sequence[tuple[str, bytes]] = ()
    text: str | None = None
    printout: str = ""
    command: str = ""
    error: str | None = None

    def __post_init__(self) -> None:
        if self.name not in QUESTIONS:
            raise ValueError(f"unknown section {self.name!r}; expected one of {list(QUESTIONS)}")
        if (self.figures is None) == (self.error is None):
            raise ValueError(
                f"section {self.name!r}: expected its figures or its error, one of the two"
            )
        for image in self.images:
            # A bare image, a str or None failed in unpacking or in bytes(), unnamed.
            if (
                not isinstance(image, tuple | list)
                or len(image) != 2
                or not isinstance(image[0], str)
                or not isinstance(image[1], bytes | bytearray | memoryview)
            ):
                raise TypeError(
                    f"section {self.name!r}: each image must be a (caption, PNG bytes) pair "
                    f"of a str and bytes, got {_short(image)}"
                )
            caption, data = image
            if not bytes(data).startswith(PNG_SIGNATURE):
                raise ValueError(f"section {self.name!r}: image {caption!r} is not a PNG file")


def render_report(
    sections: Sequence[ReportSection],
    *,
    model: str,
    dataset: str,
    accuracy: Mapping[str, Any] | None = None,
    rendered: Sequence[str] | None = None,
) -> str:
    """The HTML5 page of ``sections``, under a title naming the model.

    Parameters
    ----------
    sections : sequence of ReportSection
        The sections, in the page's order.
    model : str
        The model's folder, as the title names it.
    dataset : str
        The data set the sections read.
    accuracy : mapping, optional
        The model's test accuracy as :meth:`Estimate.as_dict
        <unboxed.evaluate.Estimate.as_dict>` gives it (``mean``, ``ci``, ``n``).
    rendered : sequence of str, optional
        Each section's :func:`render_section`, in the order of ``sections``, where the
        caller has rendered them already (``unboxed report`` renders each alone first,
        so that a section whose figures the page cannot show fails alone); by default
        they are rendered here.

    Returns
    -------
    str
        A complete, self-contained HTML5 document.

    Raises
    ------
    ValueError
        For ``rendered`` of another length than ``sections``.
    """
    from .._version import __version__

    if rendered is None:
        rendered = [render_section(section) for section in sections]
    elif len(rendered) != len(sections):
        raise ValueError(
            f"expected rendered to hold one HTML text per section ({len(sections)}), got "
            f"{len(rendered)}"
        )
    title = f"unboxed report: {model}"
    facts = f"Data set {dataset}"
    if accuracy is not None:
        facts += f"; test accuracy {_rate(accuracy)} on {accuracy['n']} test rows"
    contents = "".join(
        f'<li><a href="#{s.name}">{_e(QUESTIONS[s.name])}</a> (unboxed {s.name})</li>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n<p>{_e(facts)}. Figures in brackets are 95% confidence "
        f"intervals.</p>\n<nav><ul>{contents}</ul></nav>\n"
        + "".join(rendered)
        + f"<footer><p>Made by unboxed {_e(__version__)}.</p></footer>\n</body>\n</html>\n"
    )


def headline(section: ReportSection) -> str:
    """How faithful ``section``'s explanation is, in plain words with its 95% CIs (or
    that it failed, and why).

    Parameters
    ----------
    section : ReportSection

    Returns
    -------
    str
        One or two sentences of plain text.
    """
    if section.figures is None:
        return f"failed: {section.error}"
    return _HEADLINES[section.name](section.figures)


def render_section(section: ReportSection) -> str:
    """The HTML of one section of :func:`render_report`'s page.

    Parameters
    ----------
    section : ReportSection

    Returns
    -------
    str
        The ``<section>`` element, with its question, its verdict, its figures and
        tables (or its error), and the command that gave them.

    Raises
    ------
    KeyError, TypeError, ValueError or IndexError
        Where ``section.figures`` lack what the page shows (a record of another
        version, or a null where a figure is expected).
    """
    parts = [
        f'<section id="{section.name}">\n<h2>{_e(QUESTIONS[section.name])}</h2>\n',
        f"<p>{_e(METHODS[section.name])}</p>\n",
    ]
    if section.figures is None:
        parts.append(
            f'<p class="error"><strong>This section failed:</strong> {_e(section.error)}</p>\n'
        )
    else:
        verdict = _e(headline(section))
        parts.append(f'<p class="faithfulness"><strong>How faithful:</strong> {verdict}</p>\n')
        parts += [_image(caption, data) for caption, data in section.images]
        parts.append(_TABLES[section.name](section.figures))
    if section.text is not None:
        parts.append(f"<pre>{_e(section.text)}</pre>\n")
    if section.command or section.printout:
        shown = f"$ {section.command}\n{section.printout}" if section.command else section.printout
        parts.append(
            f"<details><summary>The command and what it printed</summary>"
            f"<pre>{_e(shown)}</pre></details>\n"
        )
    return "".join(parts) + "</section>\n"


def _short(value: object, limit: int = 60) -> str:
    """``value``'s repr, cut to ``limit`` characters (an image's bytes run to kB)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _e(value: object) -> str:
    """``value`` as HTML text, every ``<``, ``>``, ``&`` and quote escaped."""
    return html.escape(str(value), quote=True)


def _image(caption: str, data: bytes) -> str:
    encoded = base64.b64encode(bytes(data)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(title)}</th>" for title in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>\n" for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _number(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals (:func:`fixed`); "-" for none or NaN (a NaN is
    recorded as null, but a record read back with ``json.loads`` may hold either)."""
    return "-" if value is None or is_missing(value) else fixed(value, digits)


def _rows(count: int) -> str:
    """``count`` test rows, in words: "1 test row", "5 test rows"."""
    return f"{count} test row{'s' * (count != 1)}"


def _times(count: int) -> str:
    """``count`` times, in words: "once", "2 times"."""
    return "once" if count == 1 else f"{count} times"


def _rate(estimate: Mapping[str, Any] | None, digits: int = 3) -> str:
    """An estimate's mean and 95% CI, ``0.805 [0.736, 0.875]``; "-" for none. A mean
    over one row has a null CI in its record (``explain --json``): it says so, as
    ``explain`` prints it."""
    if estimate is None or is_missing(estimate.get("mean")):
        return "-"
    if estimate["ci"] is None:
        return one_row_mean(_number(estimate["mean"], digits))
    low, high = estimate["ci"]
    return f"{_number(estimate['mean'], digits)} [{_number(low, digits)}, {_number(high, digits)}]"


# ----------------------------------------------------------------------- explain
def _explain_headline(figures: Mapping[str, Any]) -> str:
    text = (
        f"{figures['method']} on {_rows(len(figures['rows']))}: deletion AOPC "
        f"{_rate(figures['aopc'])}, the mean drop of the explained class's probability as "
        f"the top 1..{figures['max_k']} components are removed (higher is more faithful)"
    )
    random = figures.get("random_aopc")  # absent from records made before 7 Dec
    if random is not None:
        above = figures["aopc_minus_random"] or {}  # a null record: no figure
        # Never "above it by -0.041": turned round, and an interval across 0 said so,
        # in explain's own words (cli._above); a null mean (a NaN) is said to be one,
        # not "above it by -".
        said = paired_difference(above.get("mean"), above.get("ci"), 3, paired=" (paired by row)")
        text += (
            f"; a random order of the same components gives {_rate(random)}, and the "
            f"ranking is {said}"
        )
    misfit = figures.get("relative_infidelity")
    if misfit is None:
        return text + "; no relative infidelity (no removal moved the rows' probability)."
    return (
        text + f"; relative infidelity {_rate(misfit)}, the share of the drops from removing "
        "components that the summed attributions fail to predict (0 is exact, 1 predicts "
        "nothing)."
    )


def _explain_table(figures: Mapping[str, Any]) -> str:
    rows = figures["rows"]
    keys = [key for key in COLUMN_TITLES if rows and key in rows[0]]
    cells = [
        [row[key] if isinstance(row[key], int | str) else _number(row[key]) for key in keys]
        for row in rows
    ]
    return _table([COLUMN_TITLES[key] for key in keys], cells)


# ------------------------------------------------------------------- approximate
def _approximate_headline(figures: Mapping[str, Any]) -> str:
    fidelity = figures["fidelity"]
    return (
        f"the tree of depth {figures['depth']} ({figures['leaves']} leaves) gives the "
        f"model's class on {_rate(fidelity)} of the {fidelity['n']} test rows (its "
        "fidelity: 1 where its rules always agree with the model); its accuracy against "
        f"the true labels is {_rate(figures['accuracy'])}."
    )


def _approximate_table(figures: Mapping[str, Any]) -> str:
    units = "the data's raw units" if figures["rule_units"] == "raw" else "as the model reads them"
    return _table(
        ["depth", "leaves", "mean decision path (nodes)", "fidelity", "accuracy", "thresholds"],
        [
            [
                figures["depth"],
                figures["leaves"],
                _number(figures["path_length"], 1),
                _rate(figures["fidelity"]),
                _rate(figures["accuracy"]),
                units,
            ]
        ],
    )


# -------------------------------------------------------------------- importance
#: The drops the importance table shows, largest first.
TOP_DROPS = 10


def _importance_score(figures: Mapping[str, Any]) -> str:
    scored = "the model's own class" if figures["labels"] == "model" else "the true label"
    if figures["metric"] == "accuracy":
        return f"share of rows given {scored}"
    return f"probability of {scored}"


def _top_drops(figures: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The :data:`TOP_DROPS` largest drops, largest first, as the library ranks them
    (:func:`descending_order`: ties in the record's order, a missing mean last). A NaN
    mean, as ``json.loads`` reads a record, left ``sorted`` its order unsorted around
    it, and a null one ranked as a drop of 0, above every negative drop."""
    drops = list(figures["drops"].items())
    means = [np.nan if is_missing(drop["mean"]) else float(drop["mean"]) for _, drop in drops]
    return [drops[i] for i in descending_order(np.array(means, dtype=float), TOP_DROPS)]


def _importance_headline(figures: Mapping[str, Any]) -> str:
    name, drop = _top_drops(figures)[0]
    return (
        f"{figures['above_zero']} of {len(figures['drops'])} inputs, each shuffled "
        f"{_times(figures['n_repeats'])} over {_rows(figures['n_rows'])}, have a 95% CI "
        f"above 0 (the model relies on them); shuffling the largest, {name}, lowers the "
        f"{_importance_score(figures)} (from {_number(figures['baseline'])}) by {_rate(drop)}."
    )


def _importance_table(figures: Mapping[str, Any]) -> str:
    rows = [
        [rank, name, _rate(drop)] for rank, (name, drop) in enumerate(_top_drops(figures), start=1)
    ]
    return _table(["rank", "input", f"drop of the {_importance_score(figures)}"], rows)


# ---------------------------------------------------------------------- maximize
def _realistic(prototype: Mapping[str, Any]) -> bool:
    """Whether a prototype is no farther from the training rows than the upper quartile
    of its class's real test rows."""
    real, own = prototype["real_distance"], prototype["distance"]
    return real is not None and own is not None and own <= real[2]


def _maximize_headline(figures: Mapping[str, Any]) -> str:
    prototypes = figures["prototypes"]
    p = [row["probability"] for row in prototypes]
    realistic = sum(_realistic(row) for row in prototypes)
    return (
        f"the model gives each class's input p(class) {_number(min(p))} to "
        f"{_number(max(p))} (its own probability, of one input per class: no CI); "
        f"{realistic} of {len(prototypes)} are as near the training rows as the upper "
        "quartile of their class's real test rows (a check of realism: farther is less "
        "like the real rows)."
    )


def _maximize_table(figures: Mapping[str, Any]) -> str:
    rows = []
    for row in figures["prototypes"]:
        real = row["real_distance"]
        shown = "-" if real is None else f"{real[1]:.3f} [{real[0]:.3f}, {real[2]:.3f}]"
        # how many real rows the quartiles are of: a class may have fewer than asked
        measured = row.get("real_rows", "-")  # records before it was kept have none
        rows.append(
            [row["class"], _number(row["probability"]), _number(row["distance"]), shown, measured]
        )
    header = [
        "class",
        "p(class)",
        "distance to the training rows",
        "real rows: median [quartiles]",
        "real rows measured",
    ]
    return _table(header, rows)


# ---------------------------------------------------------------------- examples
def _kind_figure(kind: str, figures: Mapping[str, Any]) -> tuple[str, str, str]:
    """What ``kind``'s examples are checked by, its figure, and the figure of the
    training rows it compares with ("-" for none)."""
    if "validity" in figures:
        change = "keeps" if kind == "semifactuals" else "changes"
        return f"the share for which the model's class {change}", _rate(figures["validity"]), "-"
    if "faithfulness" in figures:
        faithful = figures["faithfulness"]
        return faithful["measure"], _rate(faithful["examples"]), _rate(faithful["reference"])
    return "none found", "-", "-"


def _examples_headline(figures: Mapping[str, Any]) -> str:
    fidelity = figures["fidelity"]
    lines = [
        f"the mixture's proxy gives the model's class on {_rate(fidelity)} of the "
        f"{fidelity['n']} test rows"
    ]
    for kind, checked in figures["kinds"].items():
        measure, figure, reference = _kind_figure(kind, checked)
        if figure == "-":
            lines.append(f"{kind}: none found")
        elif reference == "-":
            # Wilson's CI takes the queries, not the examples, as its units.
            queries = _rows(figures["rows"][1] - figures["rows"][0])
            lines.append(
                f"{kind}: {measure}, {figure} of the {checked['found']} found for "
                f"{queries} (1 is best; its CI takes the rows, not the examples, as its units)"
            )
        else:
            faithful = checked["faithfulness"]
            apart = "yes" if faithful["holds"] else "no"
            lines.append(
                f"{kind}: {measure}, {figure} against {reference} on the training rows "
                f"(faithful ones score {faithful['expected']}; CIs apart that way: {apart})"
            )
    return "; ".join(lines) + "."


def _examples_table(figures: Mapping[str, Any]) -> str:
    rows = [
        [kind, checked["found"], *_kind_figure(kind, checked)]
        for kind, checked in figures["kinds"].items()
    ]
    return _table(["kind", "found", "checked against the model", "figure", "training rows"], rows)


_HEADLINES = {
    "explain": _explain_headline,
    "approximate": _approximate_headline,
    "importance": _importance_headline,
    "maximize": _maximize_headline,
    "examples": _examples_headline,
}
_TABLES = {
    "explain": _explain_table,
    "approximate": _approximate_table,
    "importance": _importance_table,
    "maximize": _maximize_table,
    "examples": _examples_table,
}
