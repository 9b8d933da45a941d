"""Shared helpers of the data loaders: the returned container, exact uint8 -> float32 scalings."""
from __future__ import annotations

import os

import numpy as np


class LoadedData(dict):
    """The dict ``{x_train, y_train, x_test, y_test}`` returned by the loaders.

    A plain ``dict`` with one extra attribute, ``source``: a short description of where the
    arrays were read from (file path or tfds directory), for logs.
    """

    source: str = ""

    def __init__(self, *args, source: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source

    def __repr__(self) -> str:
        shapes = {k: (getattr(v, "shape", None), str(getattr(v, "dtype", ""))) for k, v in self.items()}
        return f"LoadedData(source={self.source!r}, {shapes})"


def scaling_table(offset: float, divisor: float) -> np.ndarray:
    """float32 lookup table ``t[v] = float32((v - offset) / divisor)`` for every uint8 ``v``.

    The arithmetic is done in float64 and then cast, as the original's NumPy code did
    (``np.cast[np.float32]((-127.5 + uint8_array) / 128.)``), so ``t[x]`` is bit-identical to
    the original's result while needing no float64 copy of the whole data set.
    """
    return ((np.arange(256, dtype=np.float64) - offset) / divisor).astype(np.float32)


def apply_table(x_uint8: np.ndarray, table: np.ndarray) -> np.ndarray:
    x_uint8 = np.asarray(x_uint8)
    if x_uint8.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {x_uint8.dtype}")
    return table[x_uint8]


def resolve_dir(data_dir) -> str:
    """``None`` means the current working directory (where the original scripts looked)."""
    return os.path.abspath(os.fspath(data_dir)) if data_dir is not None else os.path.abspath(os.getcwd())


def check_dataset_name(dataset: str, allowed, loader: str) -> str:
    name = str(dataset).strip().lower()
    if name not in allowed:
        raise ValueError(
            f"{loader}: unknown dataset {dataset!r}; choose one of {', '.join(repr(a) for a in allowed)}"
        )
    return name
