"""Save and load zoo models as safetensors weights plus a JSON architecture record.

Nothing is unpickled: the JSON names a builder from :data:`BUILDERS` and its keyword
arguments, and the weights are read with ``safetensors``.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .._io import (
    atomic_write,
    check_header,
    check_path,
    existing_file,
    json_digest,
    parse_json,
    read_json,
    to_json,
    write_json,
)
from .._validation import check_names
from .._version import __version__
from ._models import BUILDERS, ZooModel, check_finite_weights
from ._vae import GENERATORS

#: Every architecture zoo.load can rebuild: the classifiers and the generators.
ARCHITECTURES: dict[str, Callable[..., Any]] = {**BUILDERS, **GENERATORS}

FORMAT = "unboxed-zoo-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
RECORD = "model.json"
#: The tensor that holds a checkpoint's JSON record (:func:`save_with_record`).
RECORD_KEY = "record"
#: The header metadata that holds a checkpoint's checksum (:func:`save_with_record`).
CHECKSUM_KEY = "sha256"


def save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], *, metadata: dict | None = None
) -> None:
    """Write tensors (and string ``metadata``) to a safetensors file, atomically."""
    from safetensors.torch import save

    blob = save({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, metadata)
    with atomic_write(path, "wb") as handle:
        handle.write(blob)


def save_with_record(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], record: dict[str, Any]
) -> None:
    """Write tensors and a JSON ``record`` to one safetensors file, atomically.

    The record travels as a tensor of its JSON bytes, so that a whole checkpoint is one
    file and one atomic rename. Numpy scalars are stored as plain numbers, as
    :func:`unboxed._io.to_json` does. The header keeps a checksum of all of it:
    safetensors has none (an ``.npz`` has zip's CRC), and a flipped bit in the data
    would be resumed from as other weights.
    """
    blob = torch.frombuffer(bytearray(to_json(record).encode()), dtype=torch.uint8)
    tensors = {**tensors, RECORD_KEY: blob}
    save_tensors(path, tensors, metadata={CHECKSUM_KEY: _tensors_digest(tensors)})


def load_with_record(
    path: str | os.PathLike, *, what: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_with_record`: its tensors and its record.

    Raises
    ------
    ValueError
        If the file is not a safetensors file with a JSON record (``what`` names the
        kind of file expected), or its data do not match their checksum.
    """
    tensors = load_tensors(path)
    stored = tensor_metadata(path).get(CHECKSUM_KEY)  # None: saved before checksums
    if stored is not None and stored != _tensors_digest(tensors):
        raise ValueError(
            f"{path} is a damaged {what}: its data do not match the checksum saved with them"
        )
    try:
        record = parse_json(bytes(tensors.pop(RECORD_KEY).numpy()).decode())
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not an unboxed {what}") from err
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not an unboxed {what}")
    return tensors, record


def tensor_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file (its JSON header's ``__metadata__``)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err


def _config_digest(config: dict[str, Any]) -> str:
    """A hash of the architecture record, kept in the weights to pair the two files."""
    return json_digest(config)


def _tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """A hash of the tensors (names, dtypes, shapes, values): in a saved model's record,
    to pair its two files from the record's side; in a checkpoint, its checksum."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning any failure into a clear ``ValueError``."""
    from safetensors.torch import load

    path = existing_file(path)
    try:
        return load(path.read_bytes())
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err


def save(
    model: ZooModel, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None
) -> Path:
    """Save a zoo model to the folder ``path``: ``model.safetensors`` and ``model.json``.

    Parameters
    ----------
    model : ZooModel
        A model built by :func:`mlp`, :func:`lenet` or :func:`build`.
    path : path-like
        A folder, created if needed.
    metadata : dict, optional
        JSON-serialisable facts to keep with the model (data set, accuracy, command).
        The model's :attr:`~ZooModel.class_names` and
        :attr:`~ZooModel.feature_names`, where it has them, are kept too
        (``n_classes`` or as many as inputs distinct, non-empty strings, else
        ``ValueError``).

    Returns
    -------
    Path
        The folder.
    """
    if not isinstance(model, ZooModel):
        raise TypeError(
            f"zoo.save takes a ZooModel (from unboxed.zoo), got {type(model).__name__}; "
            "save other modules with safetensors directly"
        )
    # Checked as load checks them, before anything is written: names that load
    # refuses (a wrong count, a repeat, a number) left a folder that would not load.
    names = check_names(model.class_names, model.n_classes, name="class_names", strict=True)
    columns = _checked_feature_names(model.feature_names, model)
    check_path(path)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    # Two files cannot be replaced at once: each carries the other's hash, so a save
    # interrupted between them is caught on load, not read as the other model. The
    # weights' hash in the record catches it over a model of the same architecture
    # (a retrained one), whose record the new weights would otherwise load with.
    weights = model.state_dict()
    digest = {"config_sha256": _config_digest(model.config)}
    save_tensors(folder / WEIGHTS, weights, metadata=digest)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "config": model.config,
        "metadata": metadata or {},
        "weights_sha256": _tensors_digest(weights),
    }
    if names is not None:  # absent otherwise, as in files saved before
        record["class_names"] = list(names)
    if columns is not None:
        record["feature_names"] = list(columns)
    write_json(folder / RECORD, record)
    return folder


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the JSON record of a saved zoo model."""
    folder = Path(path)
    file = folder / RECORD
    if not file.is_file():
        raise FileNotFoundError(f"{folder} holds no {RECORD}; is it a model saved by zoo.save?")
    what = "an unboxed zoo model record"
    record = read_json(file, what=what)
    check_header(record, source=file, what=what, format=FORMAT, version=FORMAT_VERSION)
    # The builder is called as ARCHITECTURES[architecture](**kwargs): a tampered config
    # failed there in Python's words ("mlp() argument after ** must be a mapping").
    config = record.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{file}: its config is not a mapping (a JSON object)")
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise ValueError(f"{file} names no known architecture (known: {sorted(ARCHITECTURES)})")
    kwargs = config.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ValueError(
            f"{file}: its config's kwargs, the arguments of {architecture}, are not a "
            "mapping (a JSON object)"
        )
    # Compared with the weights' digest on load: a number, a list or a string that is
    # no digest ("", "TODO", upper case) there read as "saved with another model.json
    # (an interrupted save?)". Older saves have none.
    digest = record.get("weights_sha256")
    if "weights_sha256" in record and not isinstance(digest, str):
        raise ValueError(
            f"{file}: its weights_sha256 is not a string (the weights' SHA-256 in hex)"
        )
    if isinstance(digest, str) and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(
            f"{file}: its weights_sha256 is not a SHA-256 in hex (64 digits 0-9 and a-f, "
            "as zoo.save writes it)"
        )
    taken = inspect.signature(ARCHITECTURES[architecture]).parameters
    unknown = sorted(set(kwargs) - set(taken))
    if unknown and all(p.kind != p.VAR_KEYWORD for p in taken.values()):
        raise ValueError(
            f"{file}: its config's kwargs name {', '.join(map(repr, unknown))}, which "
            f"{architecture} does not take (it takes {', '.join(taken)})"
        )
    return record


def load(path: str | os.PathLike) -> ZooModel:
    """Load a zoo model saved by :func:`save`, in eval mode and in its saved precision.

    Parameters
    ----------
    path : path-like
        The folder :func:`save` wrote.

    Returns
    -------
    ZooModel
        The same architecture and weights, on the CPU.

    Raises
    ------
    FileNotFoundError
        If the folder or its files are missing.
    ValueError
        If the record or weights are corrupt or do not match the architecture.
    """
    check_path(path)
    folder = Path(path)
    return load_recorded(folder, read_record(folder))


def load_recorded(folder: Path, record: dict[str, Any]) -> ZooModel:
    """:func:`load` of ``folder``, whose record :func:`read_record` has read: a caller
    that also reads the record's metadata reads the file once."""
    config = record["config"]
    tensors = load_tensors(folder / WEIGHTS)
    # The record's shapes are checked on a skeleton that allocates nothing: a tampered
    # record could otherwise ask for terabytes before the weights are compared.
    with torch.device("meta"):
        skeleton = _build(config, folder)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        wrong = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise ValueError(f"{folder}: the weights do not fit the architecture (e.g. {wrong})")
    # load_state_dict casts silently: complex weights lost their imaginary part, and
    # bool or int ones became float. Another precision (float64, float16) is fine.
    kinds = {k: _kind(v) for k, v in skeleton.state_dict().items()}
    mistyped = [f"{k} ({v.dtype})" for k, v in sorted(tensors.items()) if _kind(v) != kinds[k]]
    if mistyped:
        raise ValueError(f"{folder}: the weights have the wrong type: {', '.join(mistyped[:3])}")
    # Older saves lack one digest or both.
    stored = tensor_metadata(folder / WEIGHTS).get("config_sha256")
    if (stored is not None and stored != _config_digest(config)) or (
        "weights_sha256" in record and record["weights_sha256"] != _tensors_digest(tensors)
    ):
        raise ValueError(
            f"{folder}: {WEIGHTS} was saved with another {RECORD} (an interrupted save?); "
            "save the model again"
        )
    model = _build(config, folder)
    names = record.get("class_names")  # older saves have none
    try:
        model.class_names = check_names(names, model.n_classes, name="class_names", strict=True)
    except ValueError as err:
        raise ValueError(f"{folder}: the record's class_names are invalid: {err}") from err
    try:  # older saves, and models of images, have none
        model.feature_names = _checked_feature_names(record.get("feature_names"), model)
    except ValueError as err:
        raise ValueError(f"{folder}: the record's feature_names are invalid: {err}") from err
    # load_state_dict casts into the float32 model: a float64 save would come back
    # rounded. A save in one floating precision is loaded in that precision.
    precisions = {v.dtype for v in tensors.values() if v.is_floating_point()}
    if len(precisions) == 1:
        model = model.to(precisions.pop())
    try:
        model.load_state_dict(tensors, strict=True)  # same shapes; a dtype may still fail
        check_finite_weights(model, what=f"{folder}")
    except (RuntimeError, FloatingPointError) as err:
        raise ValueError(f"{folder}: the weights cannot be used: {err}") from err
    return model.eval()


def _checked_feature_names(names: object, model: ZooModel) -> tuple[str, ...] | None:
    """``names`` checked as one name per input of ``model`` (None passes)."""
    if names is None:
        return None
    return check_names(names, math.prod(model.input_shape), name="feature_names", strict=True)


def _build(config: dict[str, Any], folder: Path) -> ZooModel:
    try:
        return ARCHITECTURES[config["architecture"]](**config.get("kwargs", {}))
    except (TypeError, ValueError, KeyError, RuntimeError, OverflowError) as err:
        raise ValueError(f"{folder}: the architecture record is invalid: {err}") from err


def _kind(tensor: torch.Tensor) -> str:
    """A tensor's dtype family: complex, floating or integer (bool counts as integer)."""
    if tensor.is_complex():
        return "complex"
    return "floating" if tensor.is_floating_point() else "integer"
