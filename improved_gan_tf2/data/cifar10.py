"""CIFAR-10: the python-pickle batches (folder or the original tarball), or tfds ``cifar10``.

Images come back NHWC (n, 32, 32, 3) float32 scaled ``(x - 127.5) / 128`` exactly as the
original's ``cifar10_data.py`` (which returned NCHW); labels int32.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from typing import Dict, Tuple

import numpy as np

from .common import LoadedData, apply_table, check_dataset_name, check_labels, checked_and_scaled, resolve_dir
from .common import scaling_table
from .errors import DataFormatError, DataNotFoundError, describe_dir, not_found_message
from . import tfds_source

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TARBALL = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
TFDS_NAME = "cifar10"
DATASETS = ("cifar10", "cifar10_batches", "cifar10_tar", "cifar10_tfds")

#: The original's scaling: ``(x - 127.5) / 128.`` (cifar10_data.py), result float32.
OFFSET, DIVISOR = 127.5, 128.0
_TABLE = scaling_table(OFFSET, DIVISOR)


def scale_cifar10(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 ``(x - 127.5) / 128``, bit-identical to the original."""
    return apply_table(x_uint8, _TABLE)


# ------------------------------------------------------------------------------ pickle batches
def _numpy_globals():
    """The few callables a pickled NumPy array needs, found from NumPy itself (their module
    path differs between NumPy 1 and 2, and between pickles written by Python 2 and 3)."""
    a = np.zeros(1, np.uint8)
    reconstruct = a.__reduce__()[0]
    frombuffer = a.__reduce_ex__(5)[0]
    scalar = np.float64(0).__reduce__()[0]
    return {"_reconstruct": reconstruct, "_frombuffer": frombuffer, "scalar": scalar,
            "ndarray": np.ndarray, "dtype": np.dtype}


_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                  "numpy.core.numeric", "numpy._core.numeric"}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batch files but refuses anything other than NumPy arrays and plain
    containers, so a tampered file cannot run code."""

    _numpy = None

    def find_class(self, module, name):
        if _BatchUnpickler._numpy is None:
            _BatchUnpickler._numpy = _numpy_globals()
        if module in _NUMPY_MODULES and name in _BatchUnpickler._numpy:
            return _BatchUnpickler._numpy[name]
        if module == "_codecs" and name == "encode":  # bytes pickled by Python 3 with protocol < 3
            import codecs
            return codecs.encode
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            import copyreg
            return copyreg._reconstructor
        if module in ("__builtin__", "builtins") and name == "object":
            return object
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch file")


def parse_batch(raw: bytes, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """One pickled batch (``{b'data': uint8 (n, 3072), b'labels': [n ints]}``, channel-major rows:
    1024 red, 1024 green, 1024 blue values, each 32x32 row by row) -> NHWC uint8, int32 labels.
    The number of rows is taken from the file (the original assumed 10,000)."""
    expected = ("a CIFAR-10 python batch: a pickled dict with b'data' (n x 3072 uint8) and b'labels' "
                f"(n ints 0..9), as in {TARBALL}")
    try:
        d = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types on garbage
        raise DataFormatError(where, f"cannot unpickle it ({exc.__class__.__name__}: {exc})", expected, URL) from exc
    if not isinstance(d, dict):
        raise DataFormatError(where, f"unpickled a {type(d).__name__}, not a dict", expected, URL)
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataFormatError(where, f"keys {sorted(map(str, d))} lack 'data' or 'labels'", expected, URL)
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFormatError(where, f"'data' is {data.dtype} of shape {data.shape}", expected, URL)
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataFormatError(where, f"{labels.size} labels for {len(data)} images", expected, URL)
    labels = check_labels(where, labels, 0, 9, "labels", expected, URL)
    images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)  # NCHW -> NHWC
    return np.ascontiguousarray(images), labels


def _batch_folder(directory: str):
    """``data_dir/cifar-10-batches-py``, or ``data_dir`` itself if it holds the batches."""
    for cand in (os.path.join(directory, BATCHES_DIR), directory):
        if os.path.isfile(os.path.join(cand, TRAIN_FILES[0])) or os.path.isfile(os.path.join(cand, TEST_FILES[0])):
            return cand
    return None


def _assemble(batches: Dict[str, Tuple[np.ndarray, np.ndarray]], source: str) -> LoadedData:
    out = LoadedData(source=source)
    for split, names in (("train", TRAIN_FILES), ("test", TEST_FILES)):
        out[f"x_{split}"] = np.concatenate([batches[n][0] for n in names], axis=0)
        out[f"y_{split}"] = np.concatenate([batches[n][1] for n in names], axis=0)
    return out


def read_batches_folder(folder) -> LoadedData:
    """uint8 NHWC data from a ``cifar-10-batches-py`` folder."""
    folder = os.fspath(folder)
    missing = [n for n in TRAIN_FILES + TEST_FILES if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise DataNotFoundError(not_found_message(
            "CIFAR-10 (python batches)", [_folder_option(os.path.dirname(folder) or folder)],
            [os.path.join(folder, m) + " (missing)" for m in missing]))
    batches = {}
    for n in TRAIN_FILES + TEST_FILES:
        p = os.path.join(folder, n)
        with open(p, "rb") as f:
            batches[n] = parse_batch(f.read(), p)
    return _assemble(batches, folder)


def read_tarball(path) -> LoadedData:
    """uint8 NHWC data read straight from ``cifar-10-python.tar.gz`` (nothing is extracted)."""
    path = os.fspath(path)
    wanted = set(TRAIN_FILES + TEST_FILES)
    batches = {}
    try:
        with tarfile.open(path, "r|gz") as tar:  # one sequential pass
            for member in tar:
                parent, base = os.path.split(member.name.rstrip("/"))
                if base in wanted and os.path.basename(parent) == BATCHES_DIR and member.isfile():
                    f = tar.extractfile(member)
                    batches[base] = parse_batch(f.read(), f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataFormatError(path, f"cannot read the archive ({exc.__class__.__name__}: {exc}); truncated download?",
                              f"the gzipped tar {TARBALL} with the folder {BATCHES_DIR}/", URL) from exc
    missing = sorted(wanted - set(batches))
    if missing:
        raise DataFormatError(path, f"the archive lacks {', '.join(BATCHES_DIR + '/' + m for m in missing)}",
                              f"the gzipped tar {TARBALL} with the folder {BATCHES_DIR}/", URL)
    return _assemble(batches, path)


def read_tfds(builder) -> LoadedData:
    out = LoadedData(source=f"tfds {TFDS_NAME} in {builder.data_dir}")
    for split, (images, labels, _restored) in tfds_source.load_prepared_splits(builder).items():
        out[f"x_{split}"] = np.ascontiguousarray(images, dtype=np.uint8)
        out[f"y_{split}"] = labels.astype(np.int32)
    return out


# ----------------------------------------------------------------------------------- messages
def _folder_option(directory: str) -> str:
    names = ", ".join(TRAIN_FILES + TEST_FILES)
    return (f"the extracted folder {BATCHES_DIR}/ (files {names}) inside {describe_dir(directory)}; "
            f"it is what {URL} unpacks to")


def _tar_option(directory: str) -> str:
    return f"the archive {TARBALL} itself in {describe_dir(directory)}; download it from {URL}"


def _tfds_option(data_dir) -> str:
    where = describe_dir(data_dir) if data_dir is not None else tfds_source.default_tfds_dir()
    return (f"TensorFlow Datasets '{TFDS_NAME}', already prepared in {where} (e.g. `tfds build {TFDS_NAME} "
            f"--data_dir {where}` where there is internet access); it is only read here, never downloaded")


# ------------------------------------------------------------------------------------ public API
def load_cifar10(data_dir=None, dataset: str = "cifar10", raw: bool = False) -> LoadedData:
    """Loads CIFAR-10 as ``dict(x_train, y_train, x_test, y_test)``.

    x: float32 NHWC (n, 32, 32, 3) scaled ``(x - 127.5) / 128`` exactly as the original (or the
    uint8 pixels with ``raw=True``); y: int32. Train is ``data_batch_1..5`` in that order, as the
    original.

    ``dataset``: ``"cifar10_batches"`` (folder ``cifar-10-batches-py`` in ``data_dir``, or
    ``data_dir`` itself), ``"cifar10_tar"`` (``cifar-10-python.tar.gz`` in ``data_dir``, read in
    place), ``"cifar10_tfds"`` (tfds ``cifar10`` prepared, never downloaded; the source files'
    order is restored from its ids), or ``"cifar10"``: the first of these that is present.
    """
    name = check_dataset_name(dataset, DATASETS, "load_cifar10")
    directory = resolve_dir(data_dir)
    tarball = os.path.join(directory, TARBALL)
    data = None
    if name in ("cifar10", "cifar10_batches"):
        folder = _batch_folder(directory)
        if folder is not None:
            data = read_batches_folder(folder)
        elif name == "cifar10_batches":
            raise DataNotFoundError(not_found_message(
                "CIFAR-10 (python batches)", [_folder_option(directory)],
                [os.path.join(directory, BATCHES_DIR, n) for n in TRAIN_FILES + TEST_FILES]))
    if data is None and name in ("cifar10", "cifar10_tar"):
        if os.path.isfile(tarball):
            data = read_tarball(tarball)
        elif name == "cifar10_tar":
            raise DataNotFoundError(not_found_message("CIFAR-10 (archive)", [_tar_option(directory)], [tarball]))
    tried = []
    if data is None and name in ("cifar10", "cifar10_tfds"):
        builder, tried = tfds_source.find_prepared(TFDS_NAME, data_dir)
        if builder is not None:
            data = read_tfds(builder)
    if data is None:
        looked = ([os.path.join(directory, BATCHES_DIR, TRAIN_FILES[0]) + " (and the other batches)", tarball]
                  if name == "cifar10" else []) + tried
        options = ([_folder_option(directory), _tar_option(directory)] if name == "cifar10" else []) + [_tfds_option(data_dir)]
        raise DataNotFoundError(not_found_message("CIFAR-10", options, looked))
    return checked_and_scaled(data, raw, scale_cifar10)
