"""The black box: anything that maps inputs to class probabilities.

``BlackBox`` wraps a torch module, a fitted scikit-learn classifier or a plain
callable behind one interface. It evaluates in batches, counts every row it sends
to the model, and checks every output, so that a model that returns NaN, the wrong
shape or rows that are not probabilities is named in a clear error instead of
poisoning an explanation downstream.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar, cast

import numpy as np

from . import _validation
from ._validation import (
    batch_shapes,
    check_array,
    check_labels,
    check_names,
    check_not_one_sample,
    check_positive_int,
    check_shape,
    in_column_order,
    is_int,
)

#: Whatever :meth:`BlackBox._by_columns` is given, reordered or as it is.
_T = TypeVar("_T")
#: What row ``i`` of the rows queried is, where the caller made them (:func:`_failing_row`).
RowName = Callable[[int], str]
ArrayFn = Callable[[np.ndarray], Any]

#: How far a probability may stray from [0, 1], and a row's sum from 1, before the
#: output is rejected. float32 softmax rows sum to 1 within about 1e-6; a torch module
#: in half precision gets 4 eps of its dtype instead (``_TorchForward.tolerance``).
PROBABILITY_TOLERANCE = 1e-4
#: How much further a row's sum may stray, per class, where the row is rounded to 4
#: decimals (a model that returns ``[0.3333, 0.3333, 0.3333]``): each value is off by
#: up to 5e-5, which PROBABILITY_TOLERANCE alone refused (digits: a row summing to
#: 0.9997). Rows rounded to 5 or 6 decimals get a tenth, a hundredth of it, and rows
#: on no such grid none (:func:`_rounding_allowance`). Rows that are no probabilities
#: (logits, scores) miss 1 by far more: [0.5, 0.4] by 0.1.
ROUNDING_PER_CLASS = 5e-5
_FLOAT32_EPS = float(np.finfo(np.float32).eps)


class BlackBoxError(RuntimeError):
    """The wrapped model raised an exception while it was being evaluated."""


class _NotDifferentiable(ValueError):
    """A torch module whose output autograd cannot trace back to its input: raised by
    :meth:`BlackBox.gradient` as it is, not as a :class:`BlackBoxError` on one row."""


class BlackBox:
    """A classifier seen only through its class probabilities.

    Build one with :meth:`from_torch`, :meth:`from_sklearn` or :meth:`from_callable`.

    Inputs are arrays of shape ``(n_samples, n_features)`` or
    ``(n_samples, *input_shape)``; the black box reshapes them to ``input_shape``
    before calling the model. Flat feature indices used across the library refer to
    the C-order flattening of ``input_shape``.

    Parameters
    ----------
    predict_fn : callable
        Maps an array of shape ``(batch, *input_shape)`` to probabilities of shape
        ``(batch, n_classes)`` (a torch black box's forward pass applies the softmax
        itself to a module that returns logits).
    n_classes : int
        The number of classes, at least 2.
    input_shape : tuple of int or None
        The shape of one input; None accepts any number of features.
    name : str
        The model's name, used in error messages.
    kind : {"torch", "sklearn", "callable"}
        What is wrapped.
    batch_size : int, default=4096
        Rows per call of the model, at least 1.
    module : torch.nn.Module, optional
        The wrapped module of a torch black box.
    output : {"logits", "probabilities"}, default="probabilities"
        What the torch ``module`` returns ("probabilities" for the other kinds);
        ``predict_fn`` returns probabilities either way.
    feature_names : sequence of str, optional
        One distinct name per flat input feature; needs ``input_shape``.
    classes : sequence, optional
        The model's label of each column of :meth:`predict_proba`: ``n_classes``
        distinct ints, floats or strings (scikit-learn's ``classes_``), not strings
        and numbers mixed (``TypeError``).
    class_names : sequence of str, optional
        How each class is shown to a person (plot titles, legends): ``n_classes``
        distinct, non-empty names, by column. Unlike ``classes`` they change no
        argument: a Fashion-MNIST model named "T-shirt/top", "Trouser", ... still
        takes ``target=1``. By default the labels in ``classes``, as text.

    Attributes
    ----------
    name : str
        The model's name, used in error messages.
    kind : {"torch", "sklearn", "callable"}
        What is wrapped.
    n_classes : int
        The number of classes (columns of :meth:`predict_proba`).
    input_shape : tuple of int or None
        The shape of one input. None for a callable that takes any number of features.
    n_queries : int
        The number of rows the model has evaluated so far. A call that raises counts
        the batches before the one that failed; the rows of that batch, and their runs
        one at a time to name the row that raised, are counted nowhere.
    batch_size : int
        Rows per call of the model. Setting it checks the new value as the
        constructor does (``ValueError`` unless an int >= 1).
    module : torch.nn.Module or None
        The wrapped module of a torch black box; None otherwise.
    output : {"logits", "probabilities"}
        What the torch module returns ("probabilities" for the other kinds).
    feature_names : tuple of str or None
        The name of each flat input feature, or None. Every explanation whose columns
        are these features carries them. A black box with none takes the column names
        of the first DataFrame :meth:`check_X` accepts (see there).
    classes : tuple or None
        The model's label of each column of :meth:`predict_proba` (``classes[j]`` is
        column ``j``), or None when unknown. :meth:`from_sklearn` takes the
        estimator's ``classes_``.
    class_names : tuple of str or None
        How each class is shown: ``class_names`` as given, else :attr:`classes` as
        text, else None.

    Notes
    -----
    Every argument that names classes (``target=`` of the explainers and of
    :meth:`gradient`, ``y`` of permutation importance, ``keep_top_k`` and
    ``Distiller.fit``, ``classes=`` of ``DMMMEN.fit``, and so on) is read like this:

    - when :attr:`classes` is set, in the model's own labels, as scikit-learn reads
      them: a model fitted on labels 1..3, or on ``["bad", "good"]``, takes those, and
      a label that is not among :attr:`classes` (an index 0 of the 1..3 model, say) is
      a ``ValueError`` that lists the labels. :meth:`class_index` maps them to column
      indices;
    - when it is None (a torch module, a callable), as column indices
      ``0..n_classes-1``.

    With labels ``0..n_classes-1`` the two readings agree. Results keep column
    indices (``Attribution.target``, ``predict``); ``classes[j]`` is the label of
    index ``j``. A bool never names a class (``target=True`` is a ``TypeError``,
    unless the model's own labels are bools), and an integral float names the int
    class (``target=1.0`` is class 1, as a label vector loaded as floats is read);
    a fractional one (1.5) is a ``ValueError``, or a ``TypeError`` where one int is
    expected.
    """

    def __init__(
        self,
        predict_fn: ArrayFn,
        *,
        n_classes: int,
        input_shape: tuple[int, ...] | None,
        name: str,
        kind: Literal["torch", "sklearn", "callable"],
        batch_size: int = 4096,
        module: Any = None,
        output: Literal["logits", "probabilities"] = "probabilities",
        feature_names: Sequence[str] | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not is_int(n_classes):
            # 2.0 or "2" is a count of the wrong type: "needs at least 2 classes" misled.
            raise ValueError(
                f"n_classes must be an int >= 2, got {type(n_classes).__name__} {n_classes!r}"
            )
        if n_classes < 2:
            raise ValueError(
                f"a classifier needs at least 2 classes; {name!r} has n_classes={n_classes!r}"
            )
        if kind not in ("torch", "sklearn", "callable"):
            raise ValueError(f"kind must be 'torch', 'sklearn' or 'callable', got {kind!r}")
        if output not in ("logits", "probabilities"):
            raise ValueError(f"output must be 'logits' or 'probabilities', got {output!r}")
        self._predict_fn = predict_fn
        self.n_classes = int(n_classes)
        self.input_shape = None if input_shape is None else check_shape(input_shape)
        self.name = name
        self.kind = kind
        self.batch_size = batch_size  # checked by the property's setter
        self.module = module
        self.output = output
        self.feature_names = self._check_feature_names(feature_names)
        # The names a DataFrame's columns are matched to (check_X); from_sklearn puts
        # the estimator's own there when feature_names only relabels them.
        self._input_columns = self.feature_names
        # Whether both were taken from the first DataFrame check_X was given.
        self._names_from_frame = False
        self.classes = self._check_classes(classes)
        # Display names only: labels (classes) decide how arguments are read, and a
        # data set's names ("Trouser") must not turn target=1 into an unknown label.
        self._class_names = check_names(
            class_names, self.n_classes, name="class_names", strict=True
        )
        self.n_queries = 0
        # The eps of the coarsest float dtype the model has answered in (_eps).
        self._output_eps = 0.0

    def _check_feature_names(self, names: Sequence[str] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        if self.input_shape is None:
            raise ValueError(
                f"feature_names needs the number of features: give {self.name!r} an input_shape"
            )
        return check_names(names, math.prod(self.input_shape), strict=True)

    def _check_classes(self, classes: object) -> tuple[Any, ...] | None:
        if classes is None:
            return None
        _validation.check_one_kind(classes, name="classes")
        # [None, "a"] read "classes must hold ints, floats or strings, got NoneType":
        # a gap is named where it is, as ["setosa", nan]'s is by check_one_kind.
        _validation.check_no_missing(
            classes,
            name="classes",
            index=_validation.pandas_index(classes),
            advice="give each class its label",
        )
        arr = np.asarray(classes)
        if arr.ndim != 1 or arr.shape[0] != self.n_classes:
            raise ValueError(
                f"classes must hold one label per class of {self.name!r} "
                f"({self.n_classes}), got shape {arr.shape}"
            )
        labels = tuple(c.item() if isinstance(c, np.generic) else c for c in arr.tolist())
        # An infinity was refused here too, without its place; check_one_kind now
        # finds each one first, a 0-d array's or tensor's among them.
        for label in labels:
            if not isinstance(label, str | int | float):
                raise TypeError(
                    f"classes must hold ints, floats or strings, got {type(label).__name__}"
                )
        if len(set(labels)) != len(labels):
            raise ValueError(f"classes must be distinct, got {list(labels)}")
        return labels

    def _identity_classes(self) -> bool:
        """Whether labels and column indices coincide (no labels, or 0..n_classes-1)."""
        return self.classes is None or all(
            not isinstance(c, str) and c == j for j, c in enumerate(self.classes)
        )

    def class_index(self, labels: object, *, name: str = "target") -> np.ndarray:
        """The column indices of class labels: where :attr:`classes` is set, the
        position of each label in it; otherwise (or with labels ``0..n_classes-1``)
        the labels as they are, for the caller to check as indices.

        Every argument that names classes goes through here.

        Parameters
        ----------
        labels : scalar or array-like
            Class labels, in :attr:`classes` where it is set.
        name : str, default="target"
            The argument's name, for the error message.

        Returns
        -------
        ndarray
            Of ``labels``' shape: int64 column indices where :attr:`classes` is set,
            else ``np.asarray(labels)`` (an integral float such as 1.0 as the int).

        Raises
        ------
        TypeError
            If ``labels`` is or holds a bool (unless the model's labels are bools):
            numpy would read True as class 1.
        ValueError
            If a label is not among :attr:`classes`.
        """
        arr = _validation.as_labels(labels, name=name)  # ["setosa", nan]: a gap, not "nan"
        classes = cast(tuple[Any, ...], self.classes or ())
        if not any(isinstance(c, bool) for c in classes):  # a model fitted on bools takes them
            _validation.check_not_bool(labels, name=name)
        if self._identity_classes():
            # An integral float reads as its int (1.0 is class 1), as a label vector
            # loaded as floats does; a fractional one is left to the caller's check.
            integral = arr.dtype.kind == "f" and _validation.all_finite(arr)
            if integral and np.all(arr == np.round(arr)):
                return arr.astype(np.int64)
            return arr
        return label_positions(
            arr, classes, name=name, whose=repr(self.name), index=_validation.pandas_index(labels)
        )

    def class_indices(self, labels: object, *, n: int, name: str = "y") -> np.ndarray:
        """``n`` class labels as checked column indices: :meth:`class_index`, then the
        checks of a label vector (length, integer type, range).

        Parameters
        ----------
        labels : array-like of shape (n,)
            Class labels, in :attr:`classes` where it is set.
        n : int
            The number of rows they label.
        name : str, default="y"
            The argument's name, for the error message.

        Returns
        -------
        ndarray of int of shape (n,)
        """
        return check_labels(
            self.class_index(labels, name=name),
            n=n,
            n_classes=self.n_classes,
            name=name,
            hint=_validation.CLASS_INDEX_HINT,
            index=_validation.pandas_index(labels),  # class_index gives an array
        )

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """How each class is shown to a person (an explanation's ``class_names``): the
        ``class_names`` given, else :attr:`classes` as text; None when neither is set."""
        if self._class_names is not None:
            return self._class_names
        return None if self.classes is None else tuple(str(c) for c in self.classes)

    def class_name(self, index: int) -> str:
        """How column ``index`` is shown to a person: its entry in :attr:`class_names`,
        or the index as text where there are none.

        Parameters
        ----------
        index : int
            A column of :meth:`predict_proba`, in ``[0, n_classes)``.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            For an index that is no integer, negative, or ``n_classes`` or more.
        TypeError
            For a bool.
        """
        index = self._column(index)
        names = self.class_names
        return str(index) if names is None else names[index]

    def class_label(self, index: int) -> Any:
        """The label of column ``index``, for showing a class to a person.

        Parameters
        ----------
        index : int
            A column of :meth:`predict_proba`, in ``[0, n_classes)``.

        Returns
        -------
        label
            ``classes[index]``, or the index itself when :attr:`classes` is None.

        Raises
        ------
        ValueError, TypeError
            As :meth:`class_name`.
        """
        index = self._column(index)
        return index if self.classes is None else self.classes[index]

    def _column(self, index: object) -> int:
        """``index`` as a column of :meth:`predict_proba`: Python's indexing would read
        -1 as the last class, and a name list's IndexError names no argument."""
        _validation.check_not_bool(index, name="index")
        shape = np.shape(cast(Any, index))
        if shape:
            raise ValueError(f"index must be one class index, got shape {shape}")
        hint = f" (a column of predict_proba, in [0, {self.n_classes}))"
        return int(check_labels([index], n=1, n_classes=self.n_classes, name="index", hint=hint)[0])

    def class_labels(self, indices: object) -> np.ndarray:
        """The labels of column ``indices``, as :meth:`class_index` reads them back:
        the indices themselves where labels and indices coincide.

        Parameters
        ----------
        indices : array-like of int
            Columns of :meth:`predict_proba`, each in ``[0, n_classes)``.

        Returns
        -------
        ndarray of ``indices``' shape

        Raises
        ------
        ValueError, TypeError
            As :meth:`class_name`, for any entry.
        """
        _validation.check_not_bool(indices, name="indices")
        shape = np.shape(cast(Any, indices))
        hint = f" (columns of predict_proba, in [0, {self.n_classes}))"
        # Checked as :meth:`_column` checks one index: numpy would read -1 as the last
        # class, and labels equal to indices would come back unchecked.
        flat = np.ravel(cast(Any, indices))
        arr = check_labels(
            flat, n=flat.size, n_classes=self.n_classes, name="indices", hint=hint
        ).reshape(shape)
        if self._identity_classes():
            return arr
        return np.asarray(self.classes)[arr]

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_torch(
        cls,
        module: Any,
        *,
        input_shape: Sequence[int],
        output: Literal["logits", "probabilities"] = "logits",
        batch_size: int = 4096,
        name: str | None = None,
        feature_names: Sequence[str] | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> BlackBox:
        """Wrap a torch module that maps a batch of inputs to logits or probabilities.

        The module is put in eval mode, and every query runs in eval mode even if it is
        set back to training later (each submodule's mode is restored after the query).
        It runs on the device of its parameters, in their dtype, under
        ``torch.inference_mode``.

        Parameters
        ----------
        module : torch.nn.Module
            The model. Called on tensors of shape ``(batch, *input_shape)``.
        input_shape : sequence of int
            The shape of one input, e.g. ``(1, 28, 28)`` for a LeNet or ``(784,)`` for an MLP.
        output : {"logits", "probabilities"}
            What the module returns. Logits go through a float64 softmax.
        batch_size : int
            Rows per forward pass.
        name : str, optional
            The name used in error messages; defaults to the module's class name.
        feature_names : sequence of str, optional
            One distinct name per flat input feature, carried by the explanations.
        classes : sequence, optional
            The label of each output column; then arguments that name classes take
            these labels (see :class:`BlackBox`). By default they take column indices.
        class_names : sequence of str, optional
            How each class is shown in plots (see :class:`BlackBox`); by default the
            labels in ``classes``.

        Returns
        -------
        BlackBox
        """
        import torch

        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
        if output not in ("logits", "probabilities"):
            raise ValueError(f"output must be 'logits' or 'probabilities', got {output!r}")
        shape = check_shape(input_shape)
        name = name or type(module).__name__
        module.eval()
        predict = _TorchForward(module, output)
        n_classes = _probe_n_classes(predict, shape, name)
        if n_classes == 1:  # a binary model trained with BCEWithLogitsLoss, say
            raise ValueError(
                f"a classifier needs at least 2 classes; {name!r} has one output. A binary "
                "model must return two columns: for a logit z, "
                "torch.cat([torch.zeros_like(z), z], dim=1), whose softmax is "
                "[1 - sigmoid(z), sigmoid(z)]; for a probability p (output='probabilities'), "
                "torch.cat([1 - p, p], dim=1)"
            )
        if output == "logits":
            _warn_if_softmaxed(predict, shape, name)
        return cls(
            predict,
            n_classes=n_classes,
            input_shape=shape,
            name=name,
            kind="torch",
            batch_size=batch_size,
            module=module,
            output=output,
            feature_names=feature_names,
            classes=classes,
            class_names=class_names,
        )

    @classmethod
    def from_sklearn(
        cls,
        estimator: Any,
        *,
        batch_size: int = 4096,
        name: str | None = None,
        feature_names: Sequence[str] | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> BlackBox:
        """Wrap a fitted scikit-learn classifier that has ``predict_proba``.

        Column ``j`` of :meth:`predict_proba` is ``estimator.classes_[j]``, and
        ``classes_`` become the black box's :attr:`classes`: arguments that name
        classes (``target=``, ``y``) take the estimator's own labels, as scikit-learn
        does, and results give column indices (``classes[j]`` is the label of ``j``).

        An estimator fitted on a DataFrame (one with ``feature_names_in_``) is called
        with a pandas DataFrame of those columns, so that a pipeline that picks its
        columns by name works and scikit-learn does not warn about missing feature
        names; the rows stay numeric. Its ``feature_names_in_`` become the black
        box's :attr:`feature_names`, and so the explanations' feature names.

        Parameters
        ----------
        estimator : sklearn classifier
            Fitted, with ``predict_proba``, ``n_features_in_`` and ``classes_``.
        batch_size : int
            Rows per call of ``predict_proba``.
        name : str, optional
            The name used in error messages; defaults to the estimator's class name.
        feature_names : sequence of str, optional
            One distinct name per feature; by default the estimator's
            ``feature_names_in_``, if it has them. Only the explanations' labels
            change: a DataFrame-fitted estimator is still called with its own columns.
        classes : sequence, optional
            The label of each column; by default the estimator's ``classes_``.
            ``range(n_classes)`` makes arguments take column indices instead.
        class_names : sequence of str, optional
            How each class is shown in plots (see :class:`BlackBox`); by default the
            labels in ``classes``.

        Returns
        -------
        BlackBox
        """
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        if not hasattr(estimator, "predict_proba"):
            raise TypeError(
                f"{type(estimator).__name__} has no predict_proba: a black box needs class "
                "probabilities (an SVC gives them with probability=True, and "
                "sklearn.calibration.CalibratedClassifierCV(model) for any classifier)"
            )
        try:
            check_is_fitted(estimator)
        except NotFittedError as err:
            raise _validation.NotFittedError(
                f"{type(estimator).__name__} is not fitted: {err}"
            ) from err
        n_features = getattr(estimator, "n_features_in_", None)
        classes_ = getattr(estimator, "classes_", None)
        if n_features is None or classes_ is None:
            raise ValueError(
                f"{type(estimator).__name__} lacks n_features_in_ or classes_; "
                "wrap it with BlackBox.from_callable instead"
            )
        names = getattr(estimator, "feature_names_in_", None)
        predict: ArrayFn = estimator.predict_proba
        if names is not None and len(names) == n_features:
            columns = [str(c) for c in names]
            predict = _NamedColumns(estimator.predict_proba, columns)
            if feature_names is None:
                feature_names = columns
        box = cls(
            predict,
            n_classes=len(classes_),
            input_shape=(int(n_features),),
            name=name or type(estimator).__name__,
            kind="sklearn",
            batch_size=batch_size,
            feature_names=feature_names,
            classes=classes_ if classes is None else classes,
            class_names=class_names,
        )
        if isinstance(predict, _NamedColumns):
            box._input_columns = tuple(predict.columns)
        return box

    @classmethod
    def from_callable(
        cls,
        fn: ArrayFn,
        *,
        n_classes: int,
        input_shape: Sequence[int] | None = None,
        batch_size: int = 4096,
        name: str | None = None,
        feature_names: Sequence[str] | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> BlackBox:
        """Wrap a function that maps an array of inputs to class probabilities.

        Parameters
        ----------
        fn : callable
            Called with a float array of shape ``(batch, *input_shape)`` (or
            ``(batch, n_features)`` when ``input_shape`` is None); must return
            probabilities of shape ``(batch, n_classes)`` (an array, a list, a
            DataFrame or a tensor, of any float dtype). Logits are refused: apply a
            softmax in ``fn``. It is called with a numpy array, never a DataFrame,
            even where ``X`` is one (the explainers build their perturbed rows as
            arrays): a function whose model picks its columns by name builds the
            table itself, ``pd.DataFrame(rows, columns=feature_names)``, and a
            scikit-learn estimator is best wrapped with :meth:`from_sklearn`, which
            does so.
        n_classes : int
            The number of classes, at least 2.
        input_shape : sequence of int, optional
            The shape of one input. None accepts any number of features.
        batch_size : int
            Rows per call of ``fn``.
        name : str, optional
            The name used in error messages; defaults to ``fn.__name__``.
        feature_names : sequence of str, optional
            One distinct name per flat input feature (it needs ``input_shape``),
            carried by the explanations.
        classes : sequence, optional
            The label of each output column; then arguments that name classes take
            these labels (see :class:`BlackBox`). By default they take column indices.
        class_names : sequence of str, optional
            How each class is shown in plots (see :class:`BlackBox`); by default the
            labels in ``classes``.

        Returns
        -------
        BlackBox
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        return cls(
            fn,
            n_classes=n_classes,
            input_shape=None if input_shape is None else check_shape(input_shape),
            name=name or str(getattr(fn, "__name__", type(fn).__name__)),
            kind="callable",
            batch_size=batch_size,
            feature_names=feature_names,
            classes=classes,
            class_names=class_names,
        )

    # ------------------------------------------------------------------ queries
    @property
    def _eps(self) -> float:
        """The machine epsilon of the precision the model computes its probabilities
        in: a torch module's dtype (:attr:`_TorchForward.eps`, float32's for the zoo's
        networks), else that of the coarsest float dtype the model has returned so
        far, at least float64's. A callable that returns float32 was given float64's,
        which :class:`~unboxed.probes.PermutationImportance` took for the rounding
        of its scores: a digits pixel its model never read moved them by float32
        ulps, and read an importance of 4.3e-7, not 0."""
        forward = self._predict_fn
        if isinstance(forward, _TorchForward):
            return forward.eps
        return max(float(np.finfo(np.float64).eps), self._output_eps)

    @property
    def batch_size(self) -> int:
        """Rows per call of the model, at least 1."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        # Checked here, not only in __init__: a batch size set later reached range()
        # unchecked, where -1 made an empty loop and predict_proba returned np.empty's
        # uninitialised rows, and 0 or 2.5 raised range()'s own errors.
        self._batch_size = check_positive_int(value, name="batch_size")

    @property
    def n_features(self) -> int | None:
        """The number of input features, or None if any number is accepted."""
        return None if self.input_shape is None else math.prod(self.input_shape)

    def check_X(self, X: object) -> np.ndarray:
        """Validate inputs and return them flat, shape ``(n_samples, n_features)``.

        float16, float32 and float64 inputs keep their dtype; anything else
        (ints, bools, longdouble) becomes float64. A pandas
        DataFrame whose column labels are strings is read by name where the black box
        knows its columns (an estimator's ``feature_names_in_``, else
        :attr:`feature_names`): its columns may come in any order, and a missing,
        unknown or repeated column is a ``ValueError``, as are labels that mix names
        with others. Unnamed columns (``0, 1, ...``) and arrays are read by position.
        A black box that knows no names (a model fitted on an array) takes those of
        the first DataFrame of ``n_features`` distinct string column labels it
        accepts as its :attr:`feature_names`, so that the explanations name the columns
        as the table does, and reads every later DataFrame by them.
        Bool and nullable (``Float64``, ``boolean``) columns are numbers (``pd.NA`` is
        NaN, refused); a column of text is a ``TypeError`` that names it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            On an empty array, NaN or infinity, a masked array with masked entries, a
            shape that does not match ``input_shape``, or a DataFrame's columns that do
            not match the model's.
        """
        arr = self._checked_rows(X)
        # Only from a table that passed: one refused (holding NaN, say) named the
        # features, and every later correct table was refused as not matching it.
        self._take_frame_names(X)
        return arr

    def _checked_rows(self, X: object) -> np.ndarray:
        """:meth:`check_X`'s checks and its flat array, taking no names."""
        X = self._by_columns(X, name="X")
        if isinstance(X, np.ma.MaskedArray) and np.ma.getmaskarray(X).any():
            # np.asarray reads the values under the mask, which the model then took
            # for data: a gap must be refused as NaN is.
            first = tuple(int(i) for i in np.argwhere(np.ma.getmaskarray(X))[0])
            raise ValueError(
                f"X is a masked array with masked entries (first at index {first}); fill "
                "them (X.filled(value)) or drop those rows first"
            )
        arr = check_array(X, ndim=None, dtype=None)
        if arr.ndim == 0:
            raise ValueError("X must be an array of samples, got a scalar")
        if self.input_shape is None:
            if arr.ndim != 2:
                raise ValueError(f"X must be 2-dimensional, got shape {arr.shape}")
            if arr.shape[1] == 0:  # LIME and KernelSHAP failed in numpy on no features
                raise ValueError(f"X has no features: got shape {arr.shape}")
            return arr
        n_features = math.prod(self.input_shape)
        if arr.shape[1:] == self.input_shape or (arr.ndim == 2 and arr.shape[1] == n_features):
            return arr.reshape(arr.shape[0], n_features)
        check_not_one_sample(arr, self.input_shape, X=X)
        raise ValueError(
            f"X has shape {arr.shape}, but {self.name!r} expects {batch_shapes(self.input_shape)}"
        )

    def _take_frame_names(self, X: object) -> None:
        """Name the features by ``X``'s columns, where the black box has no names and
        ``X`` is a DataFrame of ``n_features`` distinct, non-empty string column labels.

        A model fitted on an array (``LogisticRegression().fit(X.to_numpy(), y)``)
        knows no names, so the explanations of a DataFrame's rows read "feature 3"
        where the table says "mean area". From here on every DataFrame is read by
        these names, as one of a model fitted on a DataFrame is: one with its columns
        in another order is reordered, and one with other columns refused, where by
        position it would have gone to the model as other features.
        """
        columns = _validation.frame_columns(X)
        if self.feature_names is not None or self._input_columns is not None or columns is None:
            return
        n = self.n_features
        if n is None or len(columns) != n or len(set(columns)) != n:
            return  # check_X names a wrong width; a repeated label names no one feature
        if not all(isinstance(c, str) and c for c in columns):
            return  # unnamed (0, 1, ...) or mixed: read by position, or refused there
        self.feature_names = self._input_columns = tuple(columns)
        self._names_from_frame = True

    def _by_columns(self, value: _T, *, name: str) -> _T:
        """``value`` with its columns matched to the model's by name, where it is a
        DataFrame of rows or a Series of one value per feature (a ``fill``); anything
        else as it is (see :func:`~unboxed._validation.in_column_order`)."""
        whose = repr(self.name)
        if self._names_from_frame:
            # Names the user never gave the black box: say where they came from.
            whose += " (the columns of the first DataFrame it accepted)"
        return in_column_order(value, self._input_columns, name=name, whose=whose)

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities, evaluated in batches and checked.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Rows in [0, 1] that sum to 1.
        """
        return self._proba_rows(self.check_X(X), index=_validation.pandas_index(X))

    def _proba_rows(
        self, X: np.ndarray, row_name: RowName | None = None, index: Any = None
    ) -> np.ndarray:
        """:meth:`predict_proba` for flat rows already checked or built from checked
        inputs (the perturbation engine's samples), without a second finiteness pass.

        ``row_name(i)`` says what row ``i`` of ``X`` is, where the rows are not those the
        user passed ("perturbation 3 of row 0 of X"): a model that raises on it is
        reported there (:func:`_failing_row`), not on "row 3 of the 40 rows queried".
        Otherwise ``index`` (a pandas ``X``'s) labels the rows the model raises on or
        answers badly (:func:`_failing_row`, :func:`_row_of_x`).

        The two stay apart, not one ``row_name`` resolved from ``index``: the user's
        own rows read "row 3 of the 40 rows queried, row X.loc[103]" where the model
        raises on one, and a batch that fails whole names its ends by their labels
        (:func:`_failing_row`), but "row 3 of X, row X.loc[103]" where it answers one
        badly (:func:`_row_of_x`).
        """
        out = np.empty((X.shape[0], self.n_classes))
        for start in range(0, X.shape[0], self.batch_size):
            batch = X[start : start + self.batch_size]
            out[start : start + batch.shape[0]] = self._evaluate(
                batch, X.shape[0], start, row_name, index
            )
        return out

    def _predict_rows(self, X: np.ndarray, index: Any = None) -> np.ndarray:
        """:meth:`predict` for flat rows already checked (:meth:`_proba_rows`), with
        ``index`` (a pandas ``X``'s) naming the row the model raises on by its label."""
        return self._proba_rows(X, index=index).argmax(axis=1)

    def predict(self, X: object) -> np.ndarray:
        """The most probable class per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)

        Returns
        -------
        ndarray of int of shape (n_samples,)
            Column indices of :meth:`predict_proba`.
        """
        return self.predict_proba(X).argmax(axis=1)

    def _evaluate(
        self,
        rows: np.ndarray,
        n_queried: int,
        start: int,
        row_name: RowName | None = None,
        index: Any = None,
    ) -> np.ndarray:
        """The checked probabilities of ``rows``, rows ``start..`` of ``n_queried``
        (``row_name``, ``index``: see :meth:`_proba_rows`)."""

        def run(part: slice) -> Any:
            # a copy: a model may change its input in place
            return self._predict_fn(self._shaped(np.array(rows[part])))

        raw = self._run_batch(run, rows.shape[0], n_queried, start, row_name, index)
        self.n_queries += rows.shape[0]
        # Read once: a DataFrame or a list is converted by numpy on every read.
        proba, eps = _float_output(raw, self.name)
        self._output_eps = max(self._output_eps, eps)
        forward = self._predict_fn
        tol = forward.tolerance if isinstance(forward, _TorchForward) else PROBABILITY_TOLERANCE
        # A torch module says whether X overflowed its dtype, as features() does: 1e39
        # is finite in float64 and inf in a float32 model, whose answer was only "NaN".
        note = functools.partial(self._input_range_note, rows) if self.kind == "torch" else None
        # A bad answer names its row "row 3 of X, row X.loc[103]" (see _proba_rows).
        of_x = row_name or functools.partial(_row_of_x, index=index)
        return _check_probabilities(
            proba,
            rows.shape[0],
            self.n_classes,
            self.name,
            # 4 eps of the output's float dtype: a callable's float16 softmax sums to 1
            # only within about 2.5e-4, as a half precision module's does
            # (_TorchForward.tolerance).
            max(tol, 4 * eps),
            logits_fix=_LOGITS_FIX[self.kind],
            nonfinite_note=note,
            row_name=lambda i: of_x(start + i),
            # a rounded value is on its grid only to within the precision it is stored
            # in: a float32 model's, even where a module's output reaches us as float64,
            # and float32's at least: a callable's float64 may hold values rounded in
            # float32 (a server's np.round(p, 4).tolist() of a float32 network's p)
            resolution=max(self._eps, _FLOAT32_EPS),
        )

    def _run_batch(
        self,
        run: Callable[[slice], _T],
        n_rows: int,
        n_queried: int,
        start: int,
        row_name: RowName | None = None,
        index: Any = None,
    ) -> _T:
        """``run(slice(0, n_rows))``: the model on a batch of ``n_rows``, rows
        ``start..`` of the ``n_queried`` queried, in :meth:`_guard` (``row_name``,
        ``index``: see :meth:`_proba_rows`).

        Should it raise, ``run(slice(i, i + 1))`` runs the batch's rows one at a time
        to name the first that raises alone (:func:`_failing_row`); the error raised
        chains the batch's own. Those runs happen only after a failure, so the normal
        path costs nothing more, and they are counted in no :attr:`n_queries`.
        """
        where = _failing_row(
            lambda i: run(slice(i, i + 1)), n_rows, n_queried, start, row_name, index
        )
        with self._guard(n_rows, where):
            return run(slice(0, n_rows))

    def _shaped(self, batch: np.ndarray) -> np.ndarray:
        """Flat rows in the model's ``input_shape``."""
        return batch if self.input_shape is None else batch.reshape(-1, *self.input_shape)

    @contextlib.contextmanager
    def _guard(self, n_rows: int, where: Callable[[], str] | None = None) -> Iterator[None]:
        """Report any exception the model raises as a :class:`BlackBoxError` naming it.

        A torch module runs in eval mode here, whatever mode it was left in since
        wrapping (see :func:`_eval_mode`). ``where``, called only after a failure and
        in eval mode too, says which row failed.
        """
        module = self.module if self.kind == "torch" else None
        try:
            with _eval_mode(module):
                yield
        except _NotDifferentiable:
            raise  # no row is to blame: the module's output has no gradient at all
        except Exception as err:
            place = f"on a batch of {n_rows} rows"
            if where is not None:
                with _eval_mode(module):
                    place = where()
            raise BlackBoxError(
                f"black box {self.name!r} raised {type(err).__name__} {place}: {err}"
            ) from err

    # ------------------------------------------------------------------ torch only
    def _require_torch(self, what: str) -> None:
        if self.kind != "torch":
            raise TypeError(
                f"{what} needs a torch model, but {self.name!r} is a {self.kind} black box; "
                "wrap a torch.nn.Module with BlackBox.from_torch"
            )

    def _tensor(self, rows: np.ndarray) -> Any:
        """Flat ``rows`` as the torch module's input: shaped, in its dtype, on its device."""
        forward = cast(_TorchForward, self._predict_fn)
        shape = cast(tuple[int, ...], self.input_shape)  # from_torch requires one
        return forward.tensor(rows.reshape(-1, *shape))

    def gradient(self, X: object, target: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Gradient of the module's raw output for ``target`` with respect to the input.

        The raw output is the logit for ``output="logits"`` and the probability for
        ``output="probabilities"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        target : int or array-like of shape (n_samples,)
            The class whose output is differentiated, one for all rows or one per row.

        Returns
        -------
        ndarray of shape (n_samples, n_features), float64

        Raises
        ------
        ValueError
            If the module's output is not differentiable with respect to its input
            (it detaches the input, takes an argmax or leaves torch), or if a gradient
            holds NaN or infinity.
        """
        self._require_torch("gradient")
        index = _validation.pandas_index(X)
        X = self.check_X(X)
        targets = self._check_target(target, X.shape[0])
        grads = np.empty(X.shape, dtype=np.float64)
        for start in range(0, X.shape[0], self.batch_size):
            stop = min(start + self.batch_size, X.shape[0])
            run = functools.partial(self._gradient_rows, X[start:stop], targets[start:stop])
            grad = self._run_batch(run, stop - start, X.shape[0], start, index=index)
            self.n_queries += stop - start
            grads[start:stop] = grad.reshape(stop - start, -1).double().cpu().numpy()
        if not np.all(np.isfinite(grads)):
            raise ValueError(f"black box {self.name!r} produced a NaN or infinite gradient")
        return grads

    def _gradient_rows(self, rows: np.ndarray, targets: np.ndarray, part: slice) -> Any:
        """The gradient tensor of :meth:`gradient` for ``rows[part]``."""
        import torch

        x = self._tensor(rows[part]).requires_grad_(True)
        t = torch.as_tensor(targets[part], device=x.device)
        with torch.enable_grad():
            out = self.module(x)
            if out.shape != (x.shape[0], self.n_classes):
                raise ValueError(f"output shape {tuple(out.shape)} is not (n, n_classes)")
            # Rows are independent in eval mode, so the gradient of the sum is each
            # row's own gradient.
            picked = out.gather(1, t[:, None]).sum()
            # An output without a graph (an argmax, a trip through numpy) or one that
            # does not use x (x.detach()) raised torch's own RuntimeError, reported as a
            # failure of "row 0" though every row has no gradient.
            grad = (
                torch.autograd.grad(picked, x, allow_unused=True)[0]
                if picked.requires_grad
                else None
            )
        if grad is None:
            raise _NotDifferentiable(
                f"gradient needs a module whose {self._output_alias()} is differentiable "
                f"with respect to its input, but that of {self.name!r} is not differentiable "
                "(autograd cannot trace it back to the input: the module detaches it, takes "
                "an argmax or leaves torch); explain it with a perturbation method "
                "(Lime, KernelShap, Occlusion) instead"
            )
        return grad

    def _check_target(self, target: object, n: int) -> np.ndarray:
        if np.ndim(cast(Any, target)) == 0:
            target = np.full(n, target)
        return self.class_indices(target, n=n, name="target")

    def _output_alias(self) -> str:
        return "logits" if self.output == "logits" else "output"

    def _is_output(self, layer: str | None) -> bool:
        """Whether ``layer`` names the module's own output: its alias, unless a
        submodule bears that name (then ``layer`` is that submodule, everywhere:
        :meth:`layer_names`, :meth:`features`, the probes and surrogates)."""
        return layer == self._output_alias() and layer not in dict(self.module.named_modules())

    def layer_names(self) -> list[str]:
        """Names accepted by :meth:`features`: the named submodules, then "logits"
        ("output" for a module that returns probabilities) for the module's own output.

        A submodule that already bears that name keeps it, here and wherever a layer
        is named (:meth:`features`, ``ActivationMaximization(layer=)``,
        ``JGMMExplainer(higher_layer=)``): "logits" is then that submodule, a hidden
        layer if it is one, and the output has no alias; its own last layer's name
        reaches it where the forward pass ends there.

        Returns
        -------
        list of str
            Dotted submodule names, as in ``module.named_modules()``, then the
            output's name unless a submodule already bears it.
        """
        self._require_torch("layer_names")
        names = [name for name, _ in self.module.named_modules() if name]
        alias = self._output_alias()
        return names if alias in names else [*names, alias]

    def features(self, X: object, layer: str) -> np.ndarray:
        """The output of a named layer, captured with a forward hook.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape)
        layer : str
            A name from :meth:`layer_names`; "logits" (or "output") is the module's output.

        Returns
        -------
        ndarray of shape (n_samples, *layer_shape)
            In the model's own precision (float32 for most models).

        Raises
        ------
        ValueError
            If the layer is unknown, or runs more than once per forward pass (a shared
            module), so that its output is ambiguous, or if its output holds NaN or
            infinity (from inputs beyond the range of the model's dtype, or made by the
            model itself).
        """
        return self._features(X, layer)

    def _features(self, X: object, layer: str, row_name: RowName | None = None) -> np.ndarray:
        """:meth:`features`; ``row_name(i)`` says what row ``i`` of ``X`` is, where the
        rows are not those the user passed (see :meth:`_proba_rows`)."""
        import torch

        self._require_torch("features")
        names = self.layer_names()
        if layer not in names:
            raise ValueError(f"{self.name!r} has no layer {layer!r}; choose from {names}")
        index = _validation.pandas_index(X)
        # A non-finite feature names its row "row 3 of X, row X.loc[103]"; the pair goes
        # to _run_batch, whose failing row reads otherwise (see _proba_rows).
        of_x = row_name or functools.partial(_row_of_x, index=index)
        X = self.check_X(X)
        submodules = dict(self.module.named_modules())
        hooked = submodules[layer] if layer in submodules else self.module
        captured: list[Any] = []
        hook = hooked.register_forward_hook(lambda _m, _i, out: captured.append(out))
        chunks = []
        try:
            for start in range(0, X.shape[0], self.batch_size):
                batch = X[start : start + self.batch_size]
                run = functools.partial(self._forward_rows, batch)
                self._run_batch(run, batch.shape[0], X.shape[0], start, row_name, index)
                if len(captured) != 1 or not isinstance(captured[0], torch.Tensor):
                    raise ValueError(
                        f"layer {layer!r} of {self.name!r} produced {len(captured)} outputs "
                        "in one forward pass; features needs a layer that runs once and "
                        "returns a tensor"
                    )
                self.n_queries += batch.shape[0]
                chunks.append(captured.pop().detach().cpu().numpy())
        finally:
            hook.remove()
        out = np.concatenate(chunks)
        if np.issubdtype(out.dtype, np.floating) and not _validation.all_finite(out):
            # The first row, as the checks of X name theirs: "produced NaN" alone left
            # the user to search every row of X for the input that caused it.
            i = int(np.argmin(np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)))
            raise ValueError(
                f"layer {layer!r} of {self.name!r} produced NaN or infinite values (first "
                f"on {of_x(i)})" + self._input_range_note(X)
            )
        return out

    def _forward_rows(self, rows: np.ndarray, part: slice) -> None:
        """The module's forward pass on a copy of ``rows[part]``, for :meth:`features`'
        hook (the model may change its input in place)."""
        import torch

        with torch.inference_mode():
            self.module(self._tensor(np.array(rows[part])))

    def _input_range_note(self, X: np.ndarray) -> str:
        """Why a torch layer's output is not finite, as far as ``X`` tells: an input
        finite in float64 may overflow the model's float32 (1e300 does); otherwise the
        model's own arithmetic made it (weights, a log of 0, an overflow inside)."""
        dtype = self._tensor(X[:1]).dtype
        largest = float(np.max(np.abs(X)))
        if dtype.is_floating_point:
            import torch

            limit = float(torch.finfo(dtype).max)
            if largest > limit:
                return (
                    f": X holds values beyond the range of the model's {dtype} (up to "
                    f"{largest:g} in magnitude; it holds up to {limit:.3g})"
                )
        return f" from inputs within the range of the model's {dtype} (up to {largest:g})"

    def __sklearn_clone__(self) -> BlackBox:
        """The black box itself: ``sklearn.base.clone`` of an explainer explains the same
        model, as a reference, rather than a deep copy of its weights."""
        return self

    def __repr__(self) -> str:
        shape = "any" if self.input_shape is None else self.input_shape
        return (
            f"BlackBox({self.name!r}, kind={self.kind!r}, n_classes={self.n_classes}, "
            f"input_shape={shape})"
        )


def class_title(name: object) -> str:
    """A class's name as a panel or row reads it: "class 3", "class Trouser"; a name
    that already says so, the word "class" first, stays as it is (wine's "class_0" read
    "class class_0"), where a name that only starts with those letters does not
    ("class classical music").

    Parameters
    ----------
    name : object
        The class's name or label, shown with ``str``.

    Returns
    -------
    str
    """
    text = str(name)
    # "class" as a word of its own: followed by no letter ("class_0", "Class A").
    return text if re.match(r"class(?![a-z])", text, re.IGNORECASE) else f"class {text}"


def label_positions(
    labels: np.ndarray,
    classes: Sequence[Any],
    *,
    name: str,
    whose: str,
    hint: str = "",
    index: Sequence[Any] | None = None,
) -> np.ndarray:
    """The position of each of ``labels`` in ``classes``: the lookup behind
    :meth:`BlackBox.class_index`.

    Parameters
    ----------
    labels : ndarray
        Class labels, of any shape.
    classes : sequence
        Distinct labels, column ``j`` of the probabilities being ``classes[j]``.
    name : str
        The argument's name, for the error message.
    whose : str
        Whose classes they are, for the error message (a black box's name).
    hint : str, default=""
        Appended to the error message.
    index : sequence or None, default=None
        The index of the pandas Series ``labels`` were read from: a missing label's
        message names its row by it (``y.loc[107]``).

    Returns
    -------
    ndarray of int64 of ``labels``' shape

    Raises
    ------
    ValueError
        If a label is not among ``classes``.
    """
    _validation.check_no_missing(labels, name=name, index=index)
    position = {label: j for j, label in enumerate(classes)}
    # A model fitted on bools (scikit-learn's classes_ [False, True]) names its classes so.
    bools = any(isinstance(c, bool | np.bool_) for c in classes)
    values, inverse = np.unique(labels.ravel(), return_inverse=True)
    found = []
    for value in values.tolist():
        # A string is never an int label, nor an int a string label ("1" != 1);
        # a bool is refused as numpy does not tell it from 0/1 otherwise.
        column = None if isinstance(value, bool) and not bools else position.get(value)
        if column is None or isinstance(value, str) != isinstance(classes[column], str):
            raise ValueError(
                f"{name} holds {value!r}, which is not a class of {whose}: pass its "
                f"labels, {list(classes)} (column j of predict_proba is classes[j]){hint}"
            )
        found.append(column)
    return np.asarray(found, dtype=np.int64)[inverse].reshape(labels.shape)


def check_blackbox(blackbox: object, *, name: str = "blackbox") -> BlackBox:
    """Return ``blackbox`` if it is a :class:`BlackBox`; else a ``TypeError`` that says
    how to make one (a bare model or function would fail later on a missing method).

    Parameters
    ----------
    blackbox : object
        The value to check.
    name : str, default="blackbox"
        The argument's name, for the error message.

    Returns
    -------
    BlackBox
        ``blackbox`` itself.
    """
    if not isinstance(blackbox, BlackBox):
        raise TypeError(
            f"{name} must be an unboxed.BlackBox, got {type(blackbox).__name__}; wrap the "
            "model with BlackBox.from_torch, from_sklearn or from_callable"
        )
    return blackbox


class _NamedColumns:
    """``predict_proba`` of an estimator fitted on a DataFrame, called with its columns.

    A picklable callable, as :class:`_TorchForward` is. Without pandas (an estimator
    fitted on another data-frame library) the rows go as they are.
    """

    def __init__(self, predict: ArrayFn, columns: list[str]) -> None:
        self.predict = predict
        self.columns = columns

    def __call__(self, X: np.ndarray) -> Any:
        try:
            import pandas as pd
        except ImportError:
            return self.predict(X)
        return self.predict(pd.DataFrame(X, columns=self.columns, copy=False))


class _TorchForward:
    """The forward pass of a torch module as a picklable callable.

    It reads the module's device and dtype on every call, so a module moved with
    ``.to(...)`` after wrapping keeps working.
    """

    def __init__(self, module: Any, output: str) -> None:
        self.module = module
        self.output = output

    def tensor(self, X: np.ndarray) -> Any:
        """``X`` as a tensor on the module's device, in its dtype."""
        return module_input(self.module, X)

    @property
    def eps(self) -> float:
        """The machine epsilon of the dtype the module computes in: its parameters'
        (float32's without any, as :func:`module_input` feeds it float32), float64's
        where they are not floats."""
        import torch

        param = next(self.module.parameters(), None)
        if param is None:
            return float(torch.finfo(torch.float32).eps)
        if not param.is_floating_point():
            return float(np.finfo(np.float64).eps)
        return float(torch.finfo(param.dtype).eps)

    @property
    def tolerance(self) -> float:
        """How far the module's probabilities may stray: a half-precision softmax
        (float16 eps ~1e-3, bfloat16 ~8e-3) rounds its rows off 1 by more than
        :data:`PROBABILITY_TOLERANCE`."""
        return max(PROBABILITY_TOLERANCE, 4 * self.eps)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            raw = self.module(self.tensor(X))
            if not isinstance(raw, torch.Tensor):
                raise TypeError(f"the module returned {type(raw).__name__}, not a tensor")
            raw = raw.double()
            if self.output == "logits" and raw.ndim == 2 and bool(torch.isfinite(raw).all()):
                raw = torch.softmax(raw, dim=1)
            return raw.cpu().numpy()


def perturbation_name(first: int, n_per_row: int, row_name: RowName | None = None) -> RowName:
    """``row_name`` of :meth:`BlackBox._proba_rows` for ``n_per_row`` perturbations of
    each row of ``X`` from row ``first`` on, the rows' own together: a model that
    raised on one was reported "on row 81 of the 96 rows queried", of an ``X`` of 3
    rows (local explainers, :func:`~unboxed.evaluate.infidelity`).

    Parameters
    ----------
    first : int
        The row of ``X`` whose perturbations come first.
    n_per_row : int
        Perturbations per row.
    row_name : callable, optional
        The name of row ``r`` of ``X``: by a pandas ``X``'s label, as
        :meth:`BlackBox.predict_proba` names it (``functools.partial(_row_of_x,
        index=index)``), or the caller's (:func:`~unboxed.local._base.naming_rows`):
        an occlusion of ``explanation_sensitivity``'s noisy copy is "perturbation 0 of
        5 of perturbation 3 of 20 of row 1 of X", not of the copy's place among those
        explained. None reads "row r of X".

    Returns
    -------
    callable
        ``name(i)``: "perturbation s of n_per_row of " and the name of row ``r`` of
        ``X`` for row ``i`` queried.
    """
    of_x = _row_of_x if row_name is None else row_name

    def name(i: int) -> str:
        row, sample = divmod(i, n_per_row)
        return f"perturbation {sample} of {n_per_row} of {of_x(first + row)}"

    return name


def _row_of_x(i: int, index: Any = None) -> str:
    """Row ``i`` of the user's ``X``, for a message about the model's answer to it:
    "row 5 of X, row X.loc[100]", by its label in ``index`` (a pandas X's): row 1 of a
    split is not X.loc[1]. Every message that names a row of the user's ``X`` (the
    evaluations' cases, the perturbations and shuffles of its rows) says it so; with
    ``functools.partial(_row_of_x, index=index)`` it is a ``row_name``
    (:func:`perturbation_name`), which a caller's own names replace."""
    return f"row {i} of X{_validation.row_label(index, i, 'X')}"


def _failing_row(
    run: Callable[[int], object],
    n_rows: int,
    n_queried: int,
    start: int,
    row_name: RowName | None = None,
    index: Any = None,
) -> Callable[[], str]:
    """Where a batch of ``n_rows``, rows ``start..`` of the ``n_queried`` rows queried,
    made the model raise, for :meth:`BlackBox._guard`: the first of its rows that
    raises alone (``run(i)`` runs the model on the batch's row ``i``), numbered within
    all ``n_queried`` and labelled by ``index`` (a pandas X's, whose rows they are),
    or named by ``row_name`` where the caller made the rows. The rows run one at a
    time only once the batch has failed.

    ``row_name`` and ``index`` are two things here, not one name of a row: the user's
    own row is "row 6 of the 10 rows queried, row X.loc[40]", not _row_of_x's "row 6
    of X, row X.loc[40]", and a batch that fails whole is "4..7 of the 10 queried,
    rows X.loc[7] to X.loc[86]", where ``row_name`` gives its ends' names."""

    def named(i: int) -> str:
        if row_name is not None:
            return f"on {row_name(i)}"
        # X.loc[103], as the checks of X name a row: a split's row 3 is not df.loc[3].
        label = _validation.row_label(index, i, "X")
        return f"on row {i} of the {n_queried} row{'s' * (n_queried != 1)} queried{label}"

    def labels(first: int, last: int) -> str:
        # ", rows X.loc[103] to X.loc[7]": positions 4..7 of a split are not df.loc[4:7].
        ends = [(i, _validation.label_loc(index, i, "X")) for i in (first, last)]
        if not any(loc for _, loc in ends):
            return ""

        def end(i: int, loc: str | None) -> str:
            if loc is not None:
                return loc
            # An end whose label is its own position still reads X.loc[i]; one without a
            # label (None, NaN, pd.NA, NaT), as row_label names it, by its position:
            # X.loc[i] is no row, or another.
            return f"X.iloc[{i}]" if _validation._is_missing(index[i]) else f"X.loc[{i}]"

        return f", rows {end(*ends[0])} to {end(*ends[1])}"

    def where() -> str:
        if n_rows == 1:
            return named(start)
        for i in range(n_rows):
            try:
                run(i)
            except Exception:
                return named(start + i)
        last = start + n_rows - 1
        span = (
            f"{start}..{last} of the {n_queried} queried{labels(start, last)}"
            if row_name is None
            else f"{row_name(start)} to {row_name(last)}"
        )
        return f"on a batch of {n_rows} rows ({span}), though none of them raised alone"

    return where


@contextlib.contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Run ``module`` in eval mode, then give each submodule back its own mode.

    A module put back in training mode after wrapping would apply dropout to the
    queries, and its BatchNorm layers would learn running statistics from perturbed
    inputs.
    """
    if module is None:
        yield
        return
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for sub, training in modes:  # set directly: .train() would recurse into children
            sub.training = training


def module_input(module: Any, X: Any) -> Any:
    """``X`` (an array or a tensor) as a tensor on ``module``'s device, in its dtype.

    A module without parameters takes float32 on the CPU. A read-only ``X`` (an
    explanation's ``inputs``, say) is shared as well: the models and Captum only read
    their inputs, so torch's warning about it is muted.

    Parameters
    ----------
    module : torch.nn.Module
    X : array-like or torch.Tensor

    Returns
    -------
    torch.Tensor
        Shares ``X``'s memory where dtype and device already match.
    """
    import torch

    param = next(module.parameters(), None)
    dtype, device = (torch.float32, None) if param is None else (param.dtype, param.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(X, dtype=dtype, device=device)


def grayscale_shape(input_shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """``(H, W)`` of a grayscale image input, ``(H, W)``, ``(1, H, W)`` or ``(H, W, 1)``
    (the same row-major pixels), else None.

    Parameters
    ----------
    input_shape : tuple of int or None
        A black box's ``input_shape``.

    Returns
    -------
    tuple of (int, int) or None
    """
    shape = tuple(input_shape or ())
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    elif len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    return shape if len(shape) == 2 else None


def _probe_n_classes(predict: ArrayFn, shape: tuple[int, ...], name: str) -> int:
    """Run one zero input through the model to learn its number of classes."""
    try:
        out = np.asarray(predict(np.zeros((1, *shape), dtype=np.float32)))
    except Exception as err:
        raise BlackBoxError(
            f"black box {name!r} failed on an input of shape (1, {', '.join(map(str, shape))}); "
            f"check input_shape: {type(err).__name__}: {err}"
        ) from err
    if out.ndim != 2 or out.shape[0] != 1:
        raise ValueError(
            f"black box {name!r} returned shape {out.shape} for one input; expected (1, n_classes)"
        )
    return int(out.shape[1])


def _warn_if_softmaxed(forward: _TorchForward, shape: tuple[int, ...], name: str) -> None:
    """Warn when "logits" already look like probabilities: a module that ends in a
    softmax would get a second one, which flattens every row and passes every check."""
    import torch

    with torch.inference_mode():
        raw = forward.module(forward.tensor(np.zeros((1, *shape), dtype=np.float32)))
    if not isinstance(raw, torch.Tensor) or raw.ndim != 2:
        return
    raw = raw.double()
    if bool(((raw >= 0) & (raw <= 1)).all()) and abs(float(raw.sum()) - 1.0) < forward.tolerance:
        warnings.warn(
            f"the output of {name!r} already looks like probabilities (non-negative, "
            "summing to 1); if the module ends in a softmax, pass output='probabilities', "
            "or a second softmax will flatten its answers",
            UserWarning,
            stacklevel=3,
        )


#: What to do about a model that returns logits, by the kind of black box: a
#: callable or an estimator gets no softmax of ours, so the fix is in its own code.
_LOGITS_FIX = {
    "torch": "Use BlackBox.from_torch(..., output='logits') for a module that returns logits",
    "callable": (
        "a callable must return probabilities: apply a softmax to logits in the "
        "function, scipy.special.softmax(logits, axis=1)"
    ),
    "sklearn": "the estimator's predict_proba must return probabilities",
}


def _float_output(raw: Any, name: str) -> tuple[np.ndarray, float]:
    """A model's output read once by numpy as float64, and the machine epsilon of its
    float dtype (0 for one that is not float): a tensor's, else the dtype numpy reads it
    in. A DataFrame of float32 columns or a list of np.float32 scalars has no dtype of
    its own, and got float64's eps and tolerance; numpy reads them as float32.

    A float tensor is detached and taken to the CPU as float64 first: numpy refused one
    that requires grad, one in bfloat16 and one on a GPU, which read "not a numeric
    array". Complex values or strings would be cast quietly (dropping the imaginary
    part, parsing "0.5"), so only real numbers (and objects holding them) are read."""
    torch = sys.modules.get("torch")
    eps = None  # a tensor's own, read before it becomes float64
    if torch is not None and isinstance(raw, torch.Tensor):
        eps = 0.0
        if raw.is_floating_point():
            eps = float(torch.finfo(raw.dtype).eps)
            raw = raw.detach().to("cpu", torch.float64)
    kind = type(raw).__name__
    try:
        given = np.asarray(raw)
        # No copy of a float64 answer, which may be the model's own array (or a view
        # of a DataFrame's): _check_probabilities only reads it and returns a new one.
        proba = given.astype(np.float64, copy=False) if given.dtype.kind in "biufO" else None
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"black box {name!r} returned {kind}, which is not a numeric array"
        ) from err
    if proba is None:
        raise ValueError(
            f"black box {name!r} returned {kind} of dtype {given.dtype}, "
            "which is not a numeric array of real numbers"
        )
    if eps is None:
        eps = float(np.finfo(given.dtype).eps) if given.dtype.kind == "f" else 0.0
    return proba, eps


def _check_probabilities(
    proba: np.ndarray,
    n_rows: int,
    n_classes: int,
    name: str,
    tol: float = PROBABILITY_TOLERANCE,
    logits_fix: str = _LOGITS_FIX["torch"],
    nonfinite_note: Callable[[], str] | None = None,
    row_name: RowName | None = None,
    resolution: float = float(np.finfo(np.float64).eps),
) -> np.ndarray:
    """Check a model's output, read by :func:`_float_output`, and return it as rows
    that sum exactly to 1: each value within ``tol`` of [0, 1], and each row's sum
    within ``tol`` of 1 beyond what rounding to 4 decimals explains
    (:func:`_rounding_allowance`, of values stored to a relative ``resolution``),
    renormalised; ``logits_fix`` says how to give probabilities instead of logits,
    ``nonfinite_note()`` why an output is NaN or infinite, and ``row_name(i)`` what row
    ``i`` of ``proba`` answers (by default "row i")."""
    if proba.shape != (n_rows, n_classes):
        one_column = n_classes == 2 and proba.shape in ((n_rows,), (n_rows, 1))
        raise ValueError(
            f"black box {name!r} returned shape {proba.shape}; expected ({n_rows}, {n_classes})"
            + ("; a binary model must return both columns, [1 - p, p]" if one_column else "")
        )
    named = row_name or "row {}".format
    if not np.all(np.isfinite(proba)):
        # The first row, as features() names its own: the message alone left the user
        # to search every row of X for the input the model could not answer.
        where = named(int(np.argmin(np.isfinite(proba).all(axis=1))))
        note = "" if nonfinite_note is None else nonfinite_note()
        raise ValueError(
            f"black box {name!r} returned NaN or infinite values (first on {where}){note}"
        )
    outside = (proba < -tol) | (proba > 1 + tol)
    if outside.any():
        # The first row, as for NaN above: the extremes alone named no input.
        first = int(np.argmax(outside.any(axis=1)))
        raise ValueError(
            f"black box {name!r} returned values outside [0, 1] (first on {named(first)}; "
            f"min {proba.min():.6g}, max {proba.max():.6g}); are these logits? {logits_fix}"
        )
    sums = proba.sum(axis=1)
    excess = np.abs(sums - 1)
    # Only a row beyond tol may need the rounding allowance: a float model's rows cost
    # nothing more (it made five batch-sized arrays, 3 GB on 21k classes x 4096 rows).
    strays = np.flatnonzero(excess > tol)
    if strays.size:
        below, above = _rounding_allowance(proba[strays], resolution)
        excess[strays] = np.maximum(sums[strays] - 1 - above, 1 - sums[strays] - below)
    proba = np.clip(proba, 0.0, 1.0)
    clipped = proba.sum(axis=1, keepdims=True)
    # From 20000 classes on, a row of zeros is within the allowance (a flat softmax
    # rounds to it), but holds no probabilities to renormalise: 0 / 0 gave NaN rows.
    excess[clipped[:, 0] <= 0] = np.inf
    worst = int(np.argmax(excess))
    if excess[worst] > tol:
        raise ValueError(
            f"black box {name!r} returned rows that are not probabilities: "
            f"{named(worst)} sums to {sums[worst]:.6g}, not 1"  # its row of X, not of the batch
        )
    return proba / clipped


def _rounding_allowance(proba: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """How far each row's sum may fall below and rise above 1 by rounding alone.

    A row whose values all lie on the grid of 4 decimals (5, 6), to within their
    storage ``resolution`` (a float32 0.3333 is 0.33329999), is taken as rounded to it.
    Rounding moves each value by at most half a step, h (5e-5 for 4 decimals), and
    that bound is exact both ways: some distribution rounds to the row if and only if
    ``1 - n * h <= sum <= 1 + k * h``, for n classes of which k are nonzero. A class
    that rounded to 0 hid up to h of the sum, but could not raise it. So no allowance
    that accepts every rounding refuses a 1000-class row at 0.95: [0.9501, 0, ..., 0]
    rounds [0.95007, 4.998e-5 * 999]. A cap on n would refuse real roundings: a
    uniform 1500-class row rounds to 0.0007 each and sums to 1.05, and 4-decimal
    roundings of 1000-class softmaxes miss 1 by up to 0.006 (tests/test_blackbox.py).
    What rounding never explains is a row on no grid: a float softmax scaled by 0.95
    gets no allowance, and is refused.

    Parameters
    ----------
    proba : ndarray of shape (n_rows, n_classes)
        The rows, finite and within the tolerance of [0, 1].
    resolution : float
        The relative precision the values were stored in: the eps of their dtype.

    Returns
    -------
    below, above : ndarray of shape (n_rows,)
        How far each row's sum may be below 1, and above it; 0 for a row on no grid.
    """
    below = np.zeros(proba.shape[0])
    above = np.zeros(proba.shape[0])
    left = np.ones(proba.shape[0], dtype=bool)
    for finer in (1, 10, 100):  # 4, 5, 6 decimals; the coarsest grid a row is on
        half = ROUNDING_PER_CLASS / finer
        steps = proba / (2 * half)
        off = np.abs(steps - np.round(steps)) * (2 * half)
        on = left & np.all(off <= 4 * resolution * np.abs(proba), axis=1)
        below[on] = proba.shape[1] * half
        above[on] = np.count_nonzero(proba[on] > half, axis=1) * half
        left &= ~on
    return below, above
