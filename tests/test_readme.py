"""The README's and docs/' self-contained examples run as written, and their links
resolve."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def python_blocks() -> list[str]:
    """Every Python block of the README and the reference pages in docs/."""
    text = "\n".join(page.read_text() for page in [README, *DOCS])
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def block_with(text: str) -> str:
    found = [block for block in python_blocks() if text in block]
    assert len(found) == 1, f"expected one README or docs/ block with {text!r}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "marker",
    [
        "from unboxed.local import Lime, Saliency",  # the quick start
        "ActivationMaximization(bb, generator=vae",  # probes and the tree surrogate
        'KernelShap(bb, fill="mean"',  # tabular data
        "curve.plot(random)",  # a deletion curve's figure
        'result.plot("weight")',  # a PCR test's figure
        "tree.plot(unscale=cancer.to_raw)",  # a tree surrogate's figure
    ],
)
def test_a_self_contained_example_runs(marker, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the examples save files
    block = block_with(marker)
    # The blocks print no figure that needs a well-trained network, so their networks
    # train 2 epochs here (quick start 13 -> 8 s, probes 9.5 -> 2.5 s on 2 quiet cores);
    # every call runs as written.
    for full, small in SHORT_TRAININGS.get(marker, []):
        assert full in block, full
        block = block.replace(full, small)
    exec(compile(block, f"README.md ({marker})", "exec"), {})


#: marker -> (as written, in the test): the epochs of the blocks that train networks.
SHORT_TRAININGS = {
    "from unboxed.local import Lime, Saliency": [("epochs=40,", "epochs=2,")],
    "ActivationMaximization(bb, generator=vae": [
        ("zoo.train(model, digits, epochs=20,", "zoo.train(model, digits, epochs=2,"),
        ("digits.X_train, epochs=60,", "digits.X_train, epochs=2,"),
    ],
}


def test_the_black_box_constructors_run(digits):
    """The three constructors of the 'Black boxes' section, on stand-ins of the names
    the snippet leaves to the reader."""
    from sklearn.linear_model import LogisticRegression
    from torch import nn

    from unboxed import BlackBox

    namespace = {
        "BlackBox": BlackBox,
        "module": nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
        "fitted_classifier": LogisticRegression(max_iter=200).fit(
            digits.X_train[:200], digits.y_train[:200]
        ),
        "fn": lambda X: np.full((len(X), 10), 0.1),
    }
    block = block_with("BlackBox.from_torch(module")
    exec(compile(block, "README.md (black boxes)", "exec"), namespace)


def test_the_jgmm_example_runs_after_the_quick_start(
    digits, digits_blackbox, tmp_path, monkeypatch
):
    """The JGMM block continues the quick start (``blackbox``, ``data``, ``X``: digits).
    Its counterfactuals must not come back empty, or ``cf.plot()`` raises."""
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the example saves cf.npz
    features = digits_blackbox.features(digits.X_train[:300], "pool2")
    namespace = {
        "blackbox": digits_blackbox,
        "data": digits,
        "X": digits.X_test[:20],
        "X_lower": features.reshape(len(features), -1),
        "Y_higher": digits_blackbox.features(digits.X_train[:300], "logits"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a poorly matched component is warned about
        block = block_with("explainer.counterfactuals(X[:5]")
        exec(compile(block, "README.md (JGMM)", "exec"), namespace)
    assert len(namespace["cf"].scores) > 0
    assert (tmp_path / "cf.npz").is_file()
    # The most faithful proxy's settings are accepted as written.
    exec(compile(block_with('e_step="labelled"'), "README.md (proxy)", "exec"), namespace)


def test_the_clime_example_runs(tmp_path, monkeypatch):
    """The CLIME block on stand-ins: 28x28 inputs for ``zoo.lenet()``, a small binary
    ReLU net for DecisionNet, and a small transfer set for the Distiller."""
    import torch
    from torch import nn

    from unboxed import BlackBox

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    X_train = rng.uniform(size=(60, 784))
    teacher = nn.Sequential(nn.Linear(784, 10))
    namespace = {
        "X": rng.uniform(size=(3, 784)),
        "X_train": X_train,
        "y_train": rng.integers(0, 10, size=60),
        "X_test": rng.uniform(size=(10, 784)),
        "binary_relu_net": nn.Sequential(nn.Linear(784, 4), nn.ReLU(), nn.Linear(4, 2)),
        "teacher_blackbox": BlackBox.from_torch(teacher, input_shape=(784,)),
    }
    block = block_with("LinearRegions(zoo.lenet())")
    small = 'Distiller(grid="small", widths=(16,), epochs=1, verbose=False)'  # fast
    block = block.replace('Distiller(grid="small")', small)
    exec(compile(block, "README.md (CLIME)", "exec"), namespace)
    regions = namespace["regions"]
    assert namespace["W"].shape == (3, 10, 784)
    assert regions.regions(namespace["X"]).counts.sum() == 3  # the comment's regions.regions(X)
    assert namespace["H"].shape[1] == 784
    # The shapes the comments give: W~_3 - W~_5 per row, and a label and flag per row.
    assert namespace["w"].shape == (3, 784) and namespace["c"].shape == (3,)
    assert namespace["labels"].shape == namespace["fallback"].shape == (10,)


def test_the_standardized_distiller_example_runs_and_beats_the_raw_rows():
    """The piecewise page's wine block as written: the student taught on standardized
    rows agrees with its teacher on at least 0.9 of the test rows (0.98 measured), the
    one taught on raw rows, same split and seed, on at most 0.7 (0.40)."""
    namespace: dict = {}
    block = block_with("BlackBox.from_sklearn(model[1:])")
    exec(compile(block, "docs/piecewise.md (standardized Distiller)", "exec"), namespace)
    scaled = namespace["student"].fidelity(namespace["scaler"].transform(namespace["X_test"]))
    raw = namespace["raw"].fidelity(namespace["X_test"])
    assert scaled.n == raw.n == 45
    assert scaled.mean >= 0.9 and raw.mean <= 0.7, (scaled, raw)


def test_every_command_line_in_the_readme_parses():
    """Each ``unboxed ...`` command the README shows (the 'Command line' block) and every
    ``unboxed train`` line of it and docs/ (the zoo table's reproduce column) parses, and
    every option docs/cli.md names for ``train``, ``explain``, ``approximate``,
    ``examples``, ``importance``, ``maximize``, ``report`` and ``demo`` exists."""
    from unboxed.cli import _parser

    text = "\n".join(page.read_text() for page in [README, *DOCS])
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    commands += re.findall(r"`(unboxed train [^`]+)`", text)
    commands = [c.replace("[", "").replace("]", "") for c in commands if c]
    assert len(commands) >= 11
    parser = _parser()
    for command in commands:
        argv = command.split()[1:]
        if argv[0] in ("--help", "--version"):
            with pytest.raises(SystemExit) as exit_:
                parser.parse_args(argv)
            assert exit_.value.code == 0
        else:
            parser.parse_args(argv)
    # The options the prose lists for every command but datasets.
    prose = section.split("```", 2)[2] + (ROOT / "docs" / "cli.md").read_text()
    named = re.findall(r"`(--[a-z-]+)", prose)
    assert "--weight-decay" in named
    actions = parser._subparsers._group_actions[0].choices
    known = {
        option
        for name in (
            "train",
            "explain",
            "approximate",
            "examples",
            "importance",
            "maximize",
            "report",
            "demo",
        )
        for action in actions[name]._actions
        for option in action.option_strings
    }
    assert set(named) <= known, set(named) - known


def test_the_dmm_men_example_runs_on_a_small_budget(digits, digits_blackbox, tmp_path, monkeypatch):
    """The DMM-MEN block with its budget cut down (sweeps, features, k, one process)
    so that it runs in a test; every name and keyword it shows is used as written."""
    from unboxed.local import grid_labels

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the example checkpoints to dmm.npz
    block = block_with("dmm = DMMMEN(")
    for full, small in [
        ("n_features=300, n_iter=3000", "n_features=10, n_iter=16"),
        ("n_jobs=2", "n_jobs=1, verbose=False"),
        ("k=150", "k=5"),
        ("class_insights(150", "class_insights(5"),
        ("n_samples=1000", "n_samples=40"),
    ]:
        assert full in block, full
        block = block.replace(full, small)
    X = digits.X_test[:2]
    namespace = {
        "X_train": digits.X_train[:400],
        "blackbox": digits_blackbox,
        "X": X,
        "labels": np.tile(grid_labels((8, 8), cell=4), (len(X), 1)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 16 sweeps do not mix
        exec(compile(block, "README.md (DMM-MEN)", "exec"), namespace)
    dmm = namespace["dmm"]
    assert dmm.weights_.shape == (10, 6)
    assert dmm.coef_.shape == (10, 6, 64)  # every pixel, 0 off the kept ones
    assert (tmp_path / "dmm.npz").is_file()


def table_breaks(text: str) -> list[int]:
    """Line numbers of table rows that follow a blank line without a header above them:
    a blank line inside a markdown table ends it, and the rows after it print as text."""
    lines = text.splitlines()
    breaks = []
    for i, line in enumerate(lines):
        starts_table = line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
        header_next = i + 1 < len(lines) and re.match(r"^\|\s*:?-{3,}", lines[i + 1])
        if starts_table and not header_next:
            breaks.append(i + 1)
    return breaks


def test_table_breaks_finds_a_blank_line_inside_a_table():
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n"
    assert table_breaks(table) == [5]
    assert table_breaks(table.replace("\n\n", "\n")) == []


@pytest.mark.parametrize(
    "path",
    [README, *sorted((README.parent / "benchmarks" / "results").glob("*.md"))],
    ids=lambda path: path.name,
)
def test_every_markdown_table_is_whole(path):
    assert table_breaks(path.read_text()) == [], f"{path.name}: table rows cut off"


def test_every_benchmark_result_and_study_has_a_row_in_the_benchmarks_table():
    """Each results file in benchmarks/results/ and each study that `make bench-studies`
    runs is named in the README's Benchmarks section (pixels_48k had neither). A
    development record moved out of a page (``*_history.md``) is no benchmark's output:
    the page it came from links it instead."""
    section = README.read_text().split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    results = sorted((README.parent / "benchmarks" / "results").glob("*.md"))
    histories = [path for path in results if path.name.endswith("_history.md")]
    results = [path for path in results if path not in histories]
    assert len(results) > 10
    docs = "\n".join(page.read_text() for page in DOCS)
    unlinked = [p.name for p in histories if f"(../benchmarks/results/{p.name})" not in docs]
    assert unlinked == [], f"development records no docs/ page links: {unlinked}"
    missing = [path.name for path in results if path.name not in section]
    assert missing == [], f"results files the Benchmarks table does not name: {missing}"
    makefile = (README.parent / "Makefile").read_text()
    studies = re.search(r"DMM_STUDIES := (.*?)\nbench-studies", makefile, flags=re.S).group(1)
    studies = studies.replace("\\", " ").split()
    assert "pixels_48k" in studies
    missing = [study for study in studies if f"--study {study}`" not in section]
    assert missing == [], f"studies the Benchmarks table does not name: {missing}"


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "docs/ holds no reference pages"
    text = README.read_text()
    unlinked = [page.name for page in DOCS if f"(docs/{page.name})" not in text]
    assert not unlinked, f"README.md links no docs/ page {unlinked}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.name)
def test_relative_links_resolve(page):
    """Each relative link of a page (anchors aside) names a file of the repository."""
    targets = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files {missing}"
