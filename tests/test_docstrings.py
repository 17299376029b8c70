"""Every public callable documents its parameters and its return value (numpydoc), and
has type hints on both (mypy checks the hints it finds, but not that they are there).

The public API is what ``unboxed`` and each subpackage list in ``__all__``, plus the
public names of the top-level modules, and the public methods and properties of every
class among them. numpydoc is not a dependency, so the sections are parsed here: a
``Parameters`` header underlined with dashes, then ``name : type`` lines at the
section's indentation (``a, b : type`` documents two names).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
from collections.abc import Iterator

import pytest

PACKAGES = (
    "unboxed",
    "unboxed.data",
    "unboxed.evaluate",
    "unboxed.local",
    "unboxed.piecewise",
    "unboxed.probes",
    "unboxed.report",
    "unboxed.surrogates",
    "unboxed.zoo",
)
# Public top-level modules: everything they define without a leading underscore.
MODULES = (
    "unboxed.blackbox",
    "unboxed.cli",
    "unboxed.demo",
    "unboxed.example_set",
    "unboxed.explanation",
)

_HEADER = re.compile(r"^(\w[\w ]*)\n-{3,}[ \t]*$", re.MULTILINE)
_NAMES = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")


def sections(doc: str | None) -> dict[str, str]:
    """The docstring's numpydoc sections, header to body."""
    text = inspect.cleandoc(doc or "")
    found = list(_HEADER.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)] if found else []
    return {m.group(1): text[m.end() : end] for m, end in zip(found, ends, strict=True)}


def documented(doc: str | None, headers: tuple[str, ...] = ("Parameters",)) -> set[str]:
    """The names a docstring's ``headers`` sections document."""
    names: set[str] = set()
    for header, body in sections(doc).items():
        if header not in headers:
            continue
        for line in body.splitlines():
            # Descriptions are indented; a name line starts at the section's margin.
            if line and not line[0].isspace() and (m := _NAMES.match(line)):
                names.update(n.strip().lstrip("*") for n in m.group(1).split(","))
    return names


def parameters(func: object) -> list[str]:
    """``func``'s parameter names, without self/cls."""
    return [
        name
        for name, p in inspect.signature(func).parameters.items()  # type: ignore[arg-type]
        if name not in ("self", "cls")
    ]


def returns_something(func: object) -> bool:
    annotation = inspect.signature(func).return_annotation  # type: ignore[arg-type]
    return annotation not in (inspect.Signature.empty, None, "None")


def public_objects() -> Iterator[tuple[str, object]]:
    """(qualified name, object) for every public function and class, once each."""
    seen: set[int] = set()
    for name in PACKAGES + MODULES:
        module = importlib.import_module(name)
        if name in MODULES:
            names = [
                n
                for n, obj in vars(module).items()
                if not n.startswith("_") and getattr(obj, "__module__", None) == name
            ]
        else:
            names = list(module.__all__)
        for attr in names:
            obj = getattr(module, attr)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{name}.{attr}", obj


def _own(cls: type, attr: str) -> tuple[type, object] | None:
    """The class of ``cls``'s MRO that defines ``attr``, when it is one of ours."""
    for base in cls.__mro__:
        if attr in vars(base):
            return (base, vars(base)[attr]) if base.__module__.startswith("unboxed") else None
    return None


def compare(where: str, params: list[str], docs: set[str]) -> list[str]:
    """Parameters missing from the docs, and documented names that no longer exist."""
    problems = []
    if missing := [p for p in params if p not in docs]:
        problems.append(f"{where}: Parameters lacks {', '.join(missing)}")
    if stale := sorted(docs - set(params)):
        problems.append(f"{where}: documents {', '.join(stale)}, not in the signature")
    return problems


def unannotated(where: str, func: object, *, returns: bool = True) -> list[str]:
    """The type hints ``func`` lacks: on parameters, and (with ``returns``) the return."""
    signature = inspect.signature(func)  # type: ignore[arg-type]
    bare = [
        name
        for name, p in signature.parameters.items()
        if name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
    ]
    problems = [f"{where}: no type hint for {', '.join(bare)}"] if bare else []
    if returns and signature.return_annotation is inspect.Signature.empty:
        problems.append(f"{where}: no return type hint")
    return problems


def check_callable(where: str, func: object) -> list[str]:
    """What ``func`` lacks: a summary, documented parameters, a Returns section, hints."""
    doc = getattr(func, "__doc__", None)  # not inspect.getdoc: it inherits a base's
    problems = [] if (doc or "").strip() else [f"{where}: no docstring"]
    problems += compare(where, parameters(func), documented(doc))
    if returns_something(func) and not {"Returns", "Yields"} & sections(doc).keys():
        problems.append(f"{where}: returns a value but has no Returns section")
    return problems + unannotated(where, func)


def check_class(name: str, cls: type, seen: set[str]) -> list[str]:
    """The class docstring against ``__init__``, then each public method and property
    (one defined on a base class is checked once, under the base's name)."""
    problems = [] if (cls.__doc__ or "").strip() else [f"{name}: no docstring"]
    fields: set[str] = set()
    if _own(cls, "__init__") is not None:
        # numpydoc: the class docstring documents __init__'s parameters; a dataclass's
        # fields may be its Attributes instead.
        headers = ("Parameters",)
        if dataclasses.is_dataclass(cls):
            headers += ("Attributes",)
            fields = {f.name for f in dataclasses.fields(cls)}
        problems += compare(name, parameters(cls), documented(cls.__doc__, headers))
        problems += unannotated(name, cls.__init__, returns=False)  # type: ignore[misc]
    for attr in sorted(dir(cls)):
        # A field's default (a lambda, say) is data, documented with the class.
        if attr.startswith("_") or attr in fields or (owner := _own(cls, attr)) is None:
            continue
        base, raw = owner
        where = f"{base.__module__}.{base.__qualname__}.{attr}"
        if where in seen:
            continue
        seen.add(where)
        if isinstance(raw, property):
            if not (raw.__doc__ or "").strip():
                problems.append(f"{where}: property without a docstring")
        elif isinstance(raw, staticmethod | classmethod | types.FunctionType):
            problems += check_callable(where, getattr(cls, attr))
    return problems


def offenders() -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for name, obj in public_objects():
        if isinstance(obj, type):
            problems += check_class(name, obj, seen)
        else:
            problems += check_callable(name, obj)
    return problems


def test_public_callables_document_parameters_and_returns():
    problems = offenders()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", (*PACKAGES, *MODULES))
def test_public_modules_have_a_docstring(name):
    assert (importlib.import_module(name).__doc__ or "").strip()


def test_sections_parser_reads_numpydoc():
    doc = """Summary.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows.
    a, b : int, default=0
    **kwargs
        Passed on.

    Returns
    -------
    y : ndarray
    """
    assert documented(doc) == {"X", "a", "b", "kwargs"}
    assert set(sections(doc)) == {"Parameters", "Returns"}
    assert documented("One line.") == set()


def test_checks_flag_missing_stale_and_returns():
    def documented_wrong(a: int, *, b: int = 0) -> int:
        """Summary.

        Parameters
        ----------
        a : int
        c : int
            Gone from the signature.
        """
        return a + b

    def bare(x):
        pass

    assert check_callable("f", documented_wrong) == [
        "f: Parameters lacks b",
        "f: documents c, not in the signature",
        "f: returns a value but has no Returns section",
    ]
    assert check_callable("g", bare) == [
        "g: no docstring",
        "g: Parameters lacks x",
        "g: no type hint for x",
        "g: no return type hint",
    ]
