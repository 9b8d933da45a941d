"""SVHN (cropped digits): ``train_32x32.mat`` / ``test_32x32.mat``, or tfds ``svhn_cropped``.

Images come back NHWC (n, 32, 32, 3) float32 scaled ``(x - 127.5) / 127.5`` exactly as the
original's ``train_svhn_*.py`` (which used NCHW); labels int32 with the digit 0 (stored as 10
in the .mat files) mapped to 0, as ``svhn_data.py`` does.
"""
from __future__ import annotations

import os

import numpy as np

from .common import LoadedData, apply_table, check_dataset_name, check_labels, checked_and_scaled, resolve_dir
from .common import scaling_table
from .errors import DataFormatError, DataNotFoundError, describe_dir, not_found_message
from . import tfds_source

URLS = {
    "train": "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
    "test": "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
}
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
SUBDIR = "svhn"  # the original looked in data_dir/svhn
TFDS_NAME = "svhn_cropped"
DATASETS = ("svhn", "svhn_mat", "svhn_tfds")

#: The original's scaling: ``(-127.5 + x) / 127.5``, result float32.
OFFSET, DIVISOR = 127.5, 127.5
_TABLE = scaling_table(OFFSET, DIVISOR)


def scale_svhn(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 ``(x - 127.5) / 127.5``, bit-identical to the original."""
    return apply_table(x_uint8, _TABLE)


def read_mat(path, url: str = "") -> tuple:
    """One SVHN .mat file -> (uint8 NHWC images, int32 labels 0..9)."""
    from scipy.io import loadmat

    path = os.fspath(path)
    expected = "a MATLAB (v5) file with X: uint8 (32, 32, 3, n) and y: (n, 1) labels 1..10"
    try:
        mat = loadmat(path, variable_names=["X", "y"])
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise DataFormatError(path, f"unsupported MATLAB file version ({exc})", expected, url) from exc
    except Exception as exc:  # scipy raises ValueError, MatReadError, TypeError... on garbage
        raise DataFormatError(path, f"cannot read it ({exc.__class__.__name__}: {exc}); truncated download?",
                              expected, url) from exc
    if "X" not in mat or "y" not in mat:
        raise DataFormatError(path, f"variables {sorted(k for k in mat if not k.startswith('__'))} lack X or y",
                              expected, url)
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataFormatError(path, f"X is {x.dtype} of shape {x.shape}", expected, url)
    y = y.reshape(-1)
    if len(y) != x.shape[3]:
        raise DataFormatError(path, f"{len(y)} labels for {x.shape[3]} images", expected, url)
    y = check_labels(path, y, 0, 10, "labels", expected, url)
    y[y == 10] = 0  # as svhn_data.py
    # .mat X[row, col, channel, i] -> NHWC (the original transposed to NCHW with (3, 2, 0, 1)).
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), y


def find_mat_files(directory: str):
    """The folder holding both .mat files: ``data_dir/svhn`` (the original's place), else ``data_dir``."""
    for cand in (os.path.join(directory, SUBDIR), directory):
        if all(os.path.isfile(os.path.join(cand, f)) for f in FILES.values()):
            return cand
    return None


def read_mat_files(folder) -> LoadedData:
    folder = os.fspath(folder)
    out = LoadedData(source=folder)
    for split in ("train", "test"):
        out[f"x_{split}"], out[f"y_{split}"] = read_mat(os.path.join(folder, FILES[split]), URLS[split])
    return out


def read_tfds(builder) -> LoadedData:
    out = LoadedData(source=f"tfds {TFDS_NAME} in {builder.data_dir}")
    for split, (images, labels, _restored) in tfds_source.load_prepared_splits(builder).items():
        out[f"x_{split}"] = np.ascontiguousarray(images, dtype=np.uint8)
        out[f"y_{split}"] = (labels % 10).astype(np.int32)
    return out


def _mat_option(directory: str) -> str:
    return (f"the files {FILES['train']} and {FILES['test']} in {describe_dir(os.path.join(directory, SUBDIR))} "
            f"(where the original looked) or in {describe_dir(directory)}; download them from "
            f"{URLS['train']} and {URLS['test']}")


def _tfds_option(data_dir) -> str:
    where = describe_dir(data_dir) if data_dir is not None else tfds_source.default_tfds_dir()
    return (f"TensorFlow Datasets '{TFDS_NAME}', already prepared in {where} (e.g. `tfds build {TFDS_NAME} "
            f"--data_dir {where}` where there is internet access); it is only read here, never downloaded")


def _looked(directory: str):
    return [p + ("" if os.path.isfile(p) else " (missing)")
            for p in (os.path.join(d, f) for d in (os.path.join(directory, SUBDIR), directory) for f in FILES.values())]


def load_svhn(data_dir=None, dataset: str = "svhn", raw: bool = False) -> LoadedData:
    """Loads SVHN as ``dict(x_train, y_train, x_test, y_test)``.

    x: float32 NHWC (n, 32, 32, 3) scaled ``(x - 127.5) / 127.5`` exactly as the original (or
    uint8 with ``raw=True``); y: int32 0..9 (10 -> 0).

    ``dataset``: ``"svhn_mat"`` (``train_32x32.mat``/``test_32x32.mat`` in ``data_dir/svhn`` or
    ``data_dir``), ``"svhn_tfds"`` (tfds ``svhn_cropped`` prepared, never downloaded; the .mat
    order is restored from its ids when present), or ``"svhn"``: the first that is present.
    """
    name = check_dataset_name(dataset, DATASETS, "load_svhn")
    directory = resolve_dir(data_dir)
    data = None
    if name in ("svhn", "svhn_mat"):
        folder = find_mat_files(directory)
        if folder is not None:
            data = read_mat_files(folder)
        elif name == "svhn_mat":
            looked = _looked(directory)
            raise DataNotFoundError(not_found_message("SVHN (.mat files)", [_mat_option(directory)], looked))
    tried = []
    if data is None:
        builder, tried = tfds_source.find_prepared(TFDS_NAME, data_dir)
        if builder is not None:
            data = read_tfds(builder)
    if data is None:
        looked = (_looked(directory) if name == "svhn" else []) + tried
        options = ([_mat_option(directory)] if name == "svhn" else []) + [_tfds_option(data_dir)]
        raise DataNotFoundError(not_found_message("SVHN", options, looked))
    return checked_and_scaled(data, raw, scale_svhn)
