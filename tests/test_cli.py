import json

import pytest

from unboxed import __version__, zoo
from unboxed.cli import main
from unboxed.data import available_datasets


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("datasets", "train", "demo"):
        assert command in out


def test_datasets_lists_every_set(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "mnist", "fashion-mnist", "moons", "planted"):
        assert name in out


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
    record = json.loads((out / "model.json").read_text())
    assert record["metadata"]["dataset"] == "digits"
    assert record["metadata"]["command"].startswith("unboxed train --model lenet")
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
    argv = ["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "m")]
    assert main([*argv, "--dataset", "digits", "--data-path", str(tmp_path)]) == 2
    assert "'digits' is built in and reads no files" in capsys.readouterr().err
    missing = tmp_path / "missing"
    assert main([*argv, "--dataset", "mnist", "--data-path", str(missing)]) == 2
    assert f"unboxed: error: no such folder: {missing}" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_errors_exit_with_status_2(tmp_path, capsys):
    assert main(["train", "--model", "lenet", "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown data set 'nope'" in capsys.readouterr().err
    assert main(["train", "--model", "lenet", "--dataset", "planted", "--out", str(tmp_path)]) == 2
    assert "lenet needs image data" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    argv = ["train", "--model", "mlp", "--dataset", "digits", "--out", str(tmp_path / "a_file")]
    assert main([*argv, "--epochs", "50"]) == 2  # refused at once, not after the training
    assert "is a file" in capsys.readouterr().err


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
