"""The shared file helpers: data fingerprints and JSON records."""

import numpy as np

from unboxed._io import array_digest, as_recorded


def test_the_data_digest_tells_apart_the_same_bytes_reshaped_retyped_or_split():
    digests = [
        array_digest(np.zeros((2, 2))),
        array_digest(np.zeros(4)),
        array_digest(np.zeros(4).view(np.int64)),
        array_digest(np.arange(3.0), np.arange(1.0)),
        array_digest(np.arange(2.0), np.array([2.0, 0.0])),
    ]
    assert len(set(digests)) == len(digests)
    # The same arrays give the same digest, whatever their memory layout.
    X = np.arange(12.0).reshape(3, 4)
    assert array_digest(X, X[:, 0]) == array_digest(np.asfortranarray(X), X[:, 0].copy())


def test_a_record_reads_back_as_plain_json():
    settings = {"seed": np.int64(3), "widths": (8, 4), "lr": np.float32(0.5), "tol": np.inf}
    assert as_recorded(settings) == {"seed": 3, "widths": [8, 4], "lr": 0.5, "tol": None}
