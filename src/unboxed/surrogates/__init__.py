"""Global surrogates: interpretable models fitted to the black box's predictions."""

from ._tree import TreeSurrogate, path_length

__all__ = ["TreeSurrogate", "path_length"]
