"""Markers and helpers shared by the tests."""

from __future__ import annotations

import pytest

from unboxed.data import _fashion_mnist, _mnist

requires_fashion_mnist = pytest.mark.skipif(
    _fashion_mnist.locate() is None,
    reason="Fashion-MNIST is not installed (make data, or apt-get install dataset-fashion-mnist)",
)
requires_mnist = pytest.mark.skipif(
    _mnist.locate() is None, reason="MNIST is not installed (make data)"
)
