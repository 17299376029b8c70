import json
import pickle

import numpy as np
import pytest
import torch

from unboxed import zoo


def test_round_trip_gives_identical_predictions(tmp_path, digits, digits_lenet):
    folder = zoo.save(digits_lenet, tmp_path / "m", metadata={"dataset": "digits"})
    loaded = zoo.load(folder)
    before = zoo.as_blackbox(digits_lenet).predict_proba(digits.X_test)
    after = zoo.as_blackbox(loaded).predict_proba(digits.X_test)
    assert np.array_equal(before, after)
    assert loaded.config == digits_lenet.config
    record = json.loads((folder / "model.json").read_text())
    assert record["metadata"] == {"dataset": "digits"} and record["format"] == "unboxed-zoo-model"
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]


def test_class_names_round_trip_and_older_records_load_without(tmp_path):
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    folder = zoo.save(model, tmp_path / "plain")
    # no names: the record is as before, and the model loads without any
    assert "class_names" not in json.loads((folder / "model.json").read_text())
    assert zoo.load(folder).class_names is None
    model.class_names = ("cat", "dog")
    folder = zoo.save(model, tmp_path / "named")
    loaded = zoo.load(folder)
    assert loaded.class_names == ("cat", "dog")
    assert zoo.as_blackbox(loaded).class_names == ("cat", "dog")
    record = json.loads((folder / "model.json").read_text())
    record["class_names"] = ["cat"]
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="class_names are invalid: class_names has 1 entries"):
        zoo.load(folder)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("cat",), "class_names has 1 entries; expected 2"),
        (("cat", "cat"), "class_names must be unique"),
        ((0, 1), "class_names must be non-empty strings"),
    ],
)
def test_save_refuses_class_names_that_load_would_refuse(tmp_path, names, message):
    """Checked before anything is written: they were saved, and the folder did not
    load (a data set whose names are numbers gave zoo.train's model such names)."""
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    model.class_names = names
    with pytest.raises(ValueError, match=message):
        zoo.save(model, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_mlp_round_trip(tmp_path):
    model = zoo.mlp((7, 5), "tanh", n_features=6, n_classes=3, random_state=2)
    loaded = zoo.load(zoo.save(model, tmp_path))
    x = torch.randn(4, 6)
    assert torch.equal(model(x), loaded(x))


@pytest.mark.parametrize("activation", ["gelu", "silu", "leaky_relu"])
def test_a_trained_gelu_silu_or_leaky_relu_mlp_round_trips(tmp_path, digits, activation):
    """The config names the activation alone, and the name rebuilds the same function
    (torch's defaults: exact GELU, slope 0.01)."""
    model = zoo.build(
        "mlp", input_shape=digits.input_shape, n_classes=10, widths=(16,), activation=activation
    )
    zoo.train(model, digits, epochs=1, batch_size=64, random_state=0, verbose=False)
    loaded = zoo.load(zoo.save(model, tmp_path / activation))
    assert loaded.config == model.config and loaded.config["kwargs"]["activation"] == activation
    assert repr(loaded.act1) == repr(model.act1)
    before = zoo.as_blackbox(model).predict_proba(digits.X_test)
    after = zoo.as_blackbox(loaded).predict_proba(digits.X_test)
    assert np.array_equal(before, after)


def test_corrupt_weights_are_rejected(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    blob = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.load(folder)


def test_pickled_weights_are_never_loaded(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    (folder / "model.safetensors").write_bytes(pickle.dumps({"fc1.weight": np.zeros(3)}))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.load(folder)


def test_weights_that_do_not_fit_are_rejected(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path / "a")
    other = zoo.save(zoo.mlp((5,), n_features=3, n_classes=2), tmp_path / "b")
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="do not fit the architecture"):
        zoo.load(folder)


def test_weights_and_a_record_from_different_saves_are_refused(tmp_path):
    # The weights of a tanh MLP beside the record of a ReLU MLP of the same shapes (a save
    # interrupted between its two files) loaded as a ReLU network with tanh weights.
    relu = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2, random_state=0), tmp_path / "a")
    tanh = zoo.save(zoo.mlp((4,), "tanh", n_features=3, n_classes=2), tmp_path / "b")
    (relu / "model.safetensors").write_bytes((tanh / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="saved with another model.json"):
        zoo.load(relu)


@pytest.mark.parametrize(
    "record",
    [
        "{broken",
        json.dumps({"format": "something-else"}),
        json.dumps([1, 2]),
        json.dumps(
            {"format": "unboxed-zoo-model", "format_version": 1, "config": {"architecture": "evil"}}
        ),
    ],
)
def test_foreign_records_are_rejected(tmp_path, record):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    (folder / "model.json").write_text(record)
    with pytest.raises(ValueError, match="not an unboxed zoo model record|no known architecture"):
        zoo.load(folder)


def test_missing_folder_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no model.json"):
        zoo.load(tmp_path / "nothing")
    with pytest.raises(TypeError, match="takes a ZooModel"):
        zoo.save(torch.nn.Linear(2, 2), tmp_path)


def test_nan_weights_are_rejected(tmp_path):
    model = zoo.mlp((4,), n_features=3, n_classes=2)
    with torch.no_grad():
        model.fc1.weight[0, 0] = float("nan")
    folder = zoo.save(model, tmp_path)
    with pytest.raises(ValueError, match="fc1.weight holds NaN"):
        zoo.load(folder)


def test_a_record_asking_for_huge_layers_is_refused_before_allocating(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    record = json.loads((folder / "model.json").read_text())
    record["config"]["kwargs"]["widths"] = [10**7, 10**7]  # 400 TB of float32 weights
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="do not fit the architecture"):
        zoo.load(folder)
    record["config"]["kwargs"]["widths"] = [2**62]  # torch's own RuntimeError leaked
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="architecture record is invalid|do not fit"):
        zoo.load(folder)
    record["config"]["architecture"] = ["mlp"]
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="names no known architecture"):
        zoo.load(folder)


def test_a_folder_in_place_of_the_weights_is_named(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    weights = next(folder.glob("*.safetensors"))
    weights.unlink()
    weights.mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file"):
        zoo.load(folder)
    weights.rmdir()
    with pytest.raises(FileNotFoundError, match="no such file"):
        zoo.load(folder)


def test_a_checkpoint_is_replaced_whole_not_rewritten_in_place(tmp_path):
    from unboxed.zoo._io import load_with_record, save_with_record

    path = tmp_path / "state.safetensors"
    save_with_record(path, {"w": torch.zeros(4)}, {"epoch": 1})
    before = path.read_bytes()
    with path.open("rb") as reader:  # a reader of the old file sees it whole
        save_with_record(path, {"w": torch.ones(4)}, {"epoch": 2})
        assert reader.read() == before
    tensors, record = load_with_record(path, what="training checkpoint")
    assert record == {"epoch": 2} and torch.equal(tensors["w"], torch.ones(4))


def test_a_record_that_is_not_an_object_is_refused(tmp_path):
    from unboxed.zoo._io import load_with_record, save_tensors

    path = tmp_path / "state.safetensors"
    blob = torch.frombuffer(bytearray(json.dumps(["settings"]).encode()), dtype=torch.uint8)
    save_tensors(path, {"record": blob})
    with pytest.raises(ValueError, match="is not an unboxed training checkpoint"):
        load_with_record(path, what="training checkpoint")


def test_save_makes_missing_folders_and_keeps_the_metadata(tmp_path):
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    folder = zoo.save(model, tmp_path / "a" / "b", metadata={"accuracy": 0.5})
    record = json.loads((folder / "model.json").read_text())
    assert record["metadata"] == {"accuracy": 0.5} and record["format_version"] == 1
    loaded = zoo.load(folder)
    assert not loaded.training  # in eval mode, as documented


def test_weights_saved_without_a_record_digest_still_load(tmp_path):
    """An older save kept no config_sha256 in the weights' metadata."""
    from unboxed.zoo._io import save_tensors, tensor_metadata

    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    folder = zoo.save(model, tmp_path)
    save_tensors(folder / "model.safetensors", model.state_dict())
    assert tensor_metadata(folder / "model.safetensors") == {}
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(zoo.load(folder)(x), model(x))


def test_tensor_metadata_of_a_foreign_file_is_a_clear_error(tmp_path):
    from unboxed.zoo._io import tensor_metadata

    (tmp_path / "w.safetensors").write_text("not safetensors")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        tensor_metadata(tmp_path / "w.safetensors")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": ["mlp"]}, "its config is not a mapping (a JSON object)"),
        ({"config": {"architecture": ["mlp"]}}, "names no known architecture"),
        (
            {"config": {"architecture": "mlp", "kwargs": {"bogus": 1, "n_classes": 2}}},
            "its config's kwargs name 'bogus', which mlp does not take (it takes widths, "
            "activation, n_features, n_classes, random_state)",
        ),
        (
            {"config": {"architecture": "lenet", "kwargs": [4]}},
            "its config's kwargs, the arguments of lenet, are not a mapping (a JSON object)",
        ),
        (
            {"config": {"architecture": "vae", "kwargs": None}},
            "its config's kwargs, the arguments of vae, are not a mapping (a JSON object)",
        ),
    ],
)
def test_a_tampered_config_is_a_clear_error(tmp_path, change, message):
    # the builder was called on them as they were, and Python's words came out: "mlp()
    # argument after ** must be a mapping, not list", "mlp() got an unexpected keyword
    # argument 'bogus'"
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    record = {**json.loads((folder / "model.json").read_text()), **change}
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError) as info:
        zoo.load(folder)
    assert str(info.value).startswith(str(folder / "model.json"))
    assert message in str(info.value)


NOT_A_STRING = "is not a string (the weights' SHA-256 in hex)"
NOT_HEX = "is not a SHA-256 in hex (64 digits 0-9 and a-f, as zoo.save writes it)"


@pytest.mark.parametrize(
    ("digest", "said"),
    [
        # of a field simply malformed, each read "model.safetensors was saved with
        # another model.json (an interrupted save?)"
        *((digest, NOT_A_STRING) for digest in (12345, ["ab", "cd"], None, {"sha256": "ab"})),
        # strings that no SHA-256 digest is: empty, a word, upper case, too short
        *((digest, NOT_HEX) for digest in ("", "not a digest", "AB" * 32, "ab" * 31, "zz" * 32)),
    ],
)
def test_a_weights_digest_that_is_no_sha256_in_hex_is_named(tmp_path, digest, said):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path)
    record = {**json.loads((folder / "model.json").read_text()), "weights_sha256": digest}
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError) as info:
        zoo.load(folder)
    assert str(info.value) == f"{folder / 'model.json'}: its weights_sha256 {said}"


def test_a_record_without_a_weights_digest_still_loads(tmp_path):
    # saves before the digest was kept have none
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    folder = zoo.save(model, tmp_path)
    record = json.loads((folder / "model.json").read_text())
    del record["weights_sha256"]
    (folder / "model.json").write_text(json.dumps(record))
    loaded = zoo.load(folder)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.bool, torch.int64])
def test_weights_of_the_wrong_type_are_refused_not_cast(tmp_path, dtype):
    # load_state_dict casts them: complex weights loaded as their real part.
    from unboxed.zoo._io import _config_digest, save_tensors

    model = zoo.mlp((4,), n_features=3, n_classes=2)
    folder = zoo.save(model, tmp_path)
    tensors = {k: v.to(dtype) for k, v in model.state_dict().items()}
    metadata = {"config_sha256": _config_digest(model.config)}
    save_tensors(folder / "model.safetensors", tensors, metadata=metadata)
    with pytest.raises(ValueError, match=rf"wrong type: fc1.bias \({dtype}\)"):
        zoo.load(folder)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_weights_saved_in_another_precision_load_in_it(tmp_path, dtype):
    # A float64 model came back as float32, off by up to 1e-8: not a round trip.
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0).to(dtype)
    loaded = zoo.load(zoo.save(model, tmp_path))
    assert loaded.fc1.weight.dtype == dtype
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    x = torch.linspace(-1, 1, 12, dtype=dtype).reshape(4, 3)
    assert torch.equal(loaded(x), model.eval()(x))


def test_a_record_is_replaced_whole_not_rewritten_in_place(tmp_path):
    folder = zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path, metadata={"v": 1})
    before = (folder / "model.json").read_bytes()
    with (folder / "model.json").open("rb") as reader:
        zoo.save(zoo.mlp((4,), n_features=3, n_classes=2), tmp_path, metadata={"v": 2})
        assert reader.read() == before
    assert json.loads((folder / "model.json").read_text())["metadata"] == {"v": 2}


def test_a_checkpoint_without_a_record_is_refused_and_the_record_is_not_a_tensor(tmp_path):
    from unboxed.zoo._io import load_with_record, save_tensors, save_with_record

    path = tmp_path / "state.safetensors"
    save_with_record(path, {"w": torch.zeros(2)}, {"epoch": np.int64(3)})
    tensors, record = load_with_record(path, what="training checkpoint")
    assert list(tensors) == ["w"] and record == {"epoch": 3}
    save_tensors(path, {"w": torch.zeros(2)})
    with pytest.raises(ValueError, match="is not an unboxed training checkpoint"):
        load_with_record(path, what="training checkpoint")


def test_ctrl_c_while_reading_is_not_reported_as_a_damaged_file(tmp_path, monkeypatch):
    # safetensors' own errors mean a bad file; an interrupt says nothing of the file.
    import safetensors
    import safetensors.torch

    from unboxed.zoo._io import load_tensors, save_tensors, tensor_metadata

    path = tmp_path / "w.safetensors"
    save_tensors(path, {"w": torch.ones(2)})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "load", interrupted)
    monkeypatch.setattr(safetensors, "safe_open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_tensors(path)
    with pytest.raises(KeyboardInterrupt):
        tensor_metadata(path)


def test_a_save_interrupted_between_its_files_is_refused_even_with_the_same_architecture(
    tmp_path, monkeypatch
):
    # Saving over a model of the same architecture (a retrained one, say) and stopping
    # after the weights: the new weights beside the old record, its metadata (the
    # accuracy) then describing another model. The weights carried only the
    # architecture's digest, which both records share.
    from unboxed.zoo import _io

    old = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    folder = zoo.save(old, tmp_path, metadata={"test_accuracy": 0.9})
    new = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    with torch.no_grad():
        new.fc1.weight.add_(1.0)  # trained further: other weights, the same config

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_io, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        zoo.save(new, folder, metadata={"test_accuracy": 0.5})
    with pytest.raises(ValueError, match="saved with another model.json"):
        zoo.load(folder)
    monkeypatch.undo()
    folder = zoo.save(new, folder, metadata={"test_accuracy": 0.5})
    assert torch.equal(zoo.load(folder).fc1.weight, new.fc1.weight)
    # The metadata stays the user's to edit: the record carries the weights' digest,
    # not its own.
    record = json.loads((folder / "model.json").read_text())
    record["metadata"]["note"] = "retrained"
    (folder / "model.json").write_text(json.dumps(record))
    assert torch.equal(zoo.load(folder).fc1.weight, new.fc1.weight)


@pytest.mark.parametrize("where", ["w", "record"])
def test_a_checkpoint_with_a_flipped_bit_in_its_data_is_refused(tmp_path, where):
    # safetensors keeps no checksum (an .npz has zip's CRC): a bit flipped in the data
    # (a bad disk, a bad copy) was resumed from, silently, as other weights.
    from unboxed.zoo._io import load_with_record, save_with_record

    path = tmp_path / "state.safetensors"
    save_with_record(path, {"w": torch.arange(8.0)}, {"epoch": 1, "note": "a"})
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[:8], "little")  # the data follow the JSON header
    begin, _ = json.loads(data[8 : 8 + size])[where]["data_offsets"]
    # In w, 1.0 becomes 1.0000001; in the record, the note "a" becomes "`": valid JSON.
    offset = 8 + size + begin + (4 if where == "w" else len('{"epoch": 1, "note": "'))
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged training checkpoint.*checksum"):
        load_with_record(path, what="training checkpoint")


def test_a_table_models_feature_names_reach_its_loaded_black_box(tmp_path):
    """zoo.as_blackbox(zoo.load(...)) of the breast-cancer MLP had no feature names:
    its tree printed feature_27 where the CLI's printed worst concave points."""
    from unboxed import load_dataset
    from unboxed.surrogates import TreeSurrogate

    cancer = load_dataset("breast-cancer")
    model = zoo.mlp((8,), n_features=30, n_classes=2, random_state=0)
    zoo.train(model, cancer, epochs=1, random_state=0, verbose=False)
    folder = zoo.save(model, tmp_path / "cancer")
    record = json.loads((folder / "model.json").read_text())
    assert record["feature_names"] == list(cancer.feature_names)
    box = zoo.as_blackbox(zoo.load(folder))
    assert box.feature_names == cancer.feature_names
    tree = TreeSurrogate(box, max_depth=2, random_state=0, verbose=False).fit(cancer.X_train)
    rules = tree.export_text()
    assert "feature_" not in rules
    assert cancer.feature_names[tree.tree_.tree_.feature[0]] in rules.splitlines()[0]
    # a record saved before names were kept loads as before: no names
    del record["feature_names"]
    (folder / "model.json").write_text(json.dumps(record))
    assert zoo.as_blackbox(zoo.load(folder)).feature_names is None
    record["feature_names"] = ["radius"]
    (folder / "model.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="feature_names are invalid: feature_names has 1 entries"):
        zoo.load(folder)


def test_an_image_models_pixels_get_no_names(tmp_path, digits):
    model = zoo.mlp((4,), n_features=64, n_classes=10, random_state=0)
    zoo.train(model, digits, epochs=1, random_state=0, verbose=False)
    assert model.feature_names is None
    folder = zoo.save(model, tmp_path / "digits")
    assert "feature_names" not in json.loads((folder / "model.json").read_text())


def test_save_refuses_feature_names_that_load_would_refuse(tmp_path):
    model = zoo.mlp((4,), n_features=3, n_classes=2, random_state=0)
    model.feature_names = ("a", "a", "b")
    with pytest.raises(ValueError, match="feature_names must be unique; 'a' repeat"):
        zoo.save(model, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
