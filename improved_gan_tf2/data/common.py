"""Shared helpers of the data loaders: the returned container, exact uint8 -> float32 scalings."""
from __future__ import annotations

import os

import numpy as np

from .errors import DataFormatError


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


def check_labels(path, labels, low: int, high: int, what: str = "labels", expected: str = "", source: str = ""):
    """``labels`` as int32 after checking that every one is an integer in ``low..high`` (a float array must hold
    whole numbers; NaN, a fraction or a value out of range raises :class:`DataFormatError` naming the first bad
    entry)."""
    labels = np.asarray(labels).reshape(-1)
    expected = expected or f"integer {what} {low}..{high}"
    if labels.size == 0:
        return labels.astype(np.int32)
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
            or labels.dtype == np.bool_):
        raise DataFormatError(path, f"{what} have dtype {labels.dtype}", expected, source)
    bad = ~((labels >= low) & (labels <= high))
    if np.issubdtype(labels.dtype, np.floating):
        bad |= ~np.isfinite(labels)
        bad |= np.isfinite(labels) & (labels != np.round(labels))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataFormatError(path, f"{what}[{first}] is {labels[first].item()!r} ({int(bad.sum())} bad in all)",
                              expected, source)
    return labels.astype(np.int32)


def check_finite(path, x, what: str = "images", expected: str = "", source: str = ""):
    """Raise :class:`DataFormatError` if the float array ``x`` holds NaN or an infinity (integer arrays pass)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and x.size and not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x.reshape(-1)))
        example = np.unravel_index(int(bad[0]), x.shape)
        raise DataFormatError(path, f"{what}: {len(bad)} non-finite value(s) (NaN or infinity), the first at index "
                              f"{tuple(int(i) for i in example)}", expected or f"finite {what}", source)


def check_loaded(data: "LoadedData", num_classes: int = 10, expected: str = "", source: str = "") -> "LoadedData":
    """Every image finite and every label an integer in ``0..num_classes - 1``, whatever the source; returns
    ``data``."""
    where = data.source or None
    for split in ("train", "test"):
        check_finite(where, data[f"x_{split}"], f"x_{split}", expected, source)
        data[f"y_{split}"] = check_labels(where, data[f"y_{split}"], 0, num_classes - 1, f"y_{split}", expected,
                                          source)
    return data


def checked_and_scaled(data: "LoadedData", raw: bool, scale) -> "LoadedData":
    """``data`` after :func:`check_loaded`, its images passed through ``scale`` unless ``raw`` (uint8 then)."""
    check_loaded(data)
    if not raw:
        for split in ("train", "test"):
            data[f"x_{split}"] = scale(data[f"x_{split}"])
    return data
