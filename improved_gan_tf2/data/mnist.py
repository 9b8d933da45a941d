"""MNIST: the original's ``mnist.npz``, MNIST's own IDX files, tfds ``mnist``, or the shipped sample.

Every source yields ``x`` float32 in [0, 1] of shape (n, 784) and ``y`` int32.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from typing import Optional

import numpy as np

from inception_score.model import ARRAY_READ_ERRORS, array_file_problem  # numpy only

from .common import (
    LoadedData,
    apply_table,
    check_dataset_name,
    check_finite,
    check_labels,
    check_loaded,
    resolve_dir,
    scaling_table,
)
from .errors import DataFormatError, DataNotFoundError, describe_dir, not_found_message
from . import tfds_source

NPZ_NAME = "mnist.npz"
NPZ_URL = "https://github.com/openai/improved-gan/raw/master/mnist_svhn_cifar10/mnist.npz"
NPZ_WHERE = "the openai/improved-gan repository, file mnist_svhn_cifar10/mnist.npz (" + NPZ_URL + ")"
IDX_URL = "http://yann.lecun.com/exdb/mnist/"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
TFDS_NAME = "mnist"

SAMPLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_sample.npz")
#: SHA-256 of ``x.tobytes() + y.tobytes()`` of the shipped sample (x uint8 (5000,28,28), y uint8
#: (5000,)); see mnist_sample.md. Checked on every load, so a corrupted or LFS-pointer file fails loudly.
SAMPLE_CONTENT_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
SAMPLE_TRAIN_FRACTION_NUM, SAMPLE_TRAIN_FRACTION_DEN = 4, 5  # 80 % of each class to train

DATASETS = ("mnist", "mnist_npz", "mnist_idx", "mnist_tfds", "mnist_sample")

_DIV255 = scaling_table(0.0, 255.0)


# --------------------------------------------------------------------------------------- IDX files
def _read_bytes(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            data = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(
            path, f"the gzip stream is damaged or truncated ({exc})",
            "a complete gzip-compressed MNIST IDX file", IDX_URL) from exc
    if data[:2] == b"\x1f\x8b":
        # A gzip file without the .gz suffix: decompress it anyway.
        try:
            return gzip.decompress(data)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DataFormatError(
                path, f"the gzip stream is damaged or truncated ({exc})",
                "a complete MNIST IDX file, gzipped or not", IDX_URL) from exc
    return data


def read_idx(path, expected_magic: int) -> np.ndarray:
    """Reads one IDX file of unsigned bytes (MNIST's own format), gzipped or not.

    Header: big-endian int32 magic number (0x00000803 = 2051 for images, 0x00000801 = 2049 for
    labels: two zero bytes, type code 0x08 = unsigned byte, number of dimensions), then one
    big-endian int32 per dimension, then the data.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    ndim = expected_magic & 0xFF
    kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
    what = f"an MNIST IDX {kind} file: magic number {expected_magic}, then {ndim} dimension size(s)"
    header_len = 4 + 4 * ndim
    if len(data) < 4:
        raise DataFormatError(path, f"file is only {len(data)} bytes long (truncated header)", what, IDX_URL)
    (magic,) = struct.unpack(">i", data[:4])
    if magic != expected_magic:
        raise DataFormatError(path, f"bad magic number {magic}", what, IDX_URL)
    if len(data) < header_len:
        raise DataFormatError(path, f"file is only {len(data)} bytes long (truncated header)", what, IDX_URL)
    dims = struct.unpack(">" + "i" * ndim, data[4:header_len])
    if any(d < 0 for d in dims):
        raise DataFormatError(path, f"negative dimension in header {dims}", what, IDX_URL)
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header_len
    if got < expected:
        raise DataFormatError(
            path, f"truncated file: header {dims} announces {expected} data bytes but only {got} follow",
            what, IDX_URL)
    if got > expected:
        raise DataFormatError(
            path, f"{got - expected} unexpected bytes after the {expected} data bytes the header {dims} announces",
            what, IDX_URL)
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header_len).reshape(dims)


def _idx_path(directory: str, base: str) -> Optional[str]:
    for name in (base, base + ".gz"):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    return None


def find_idx_files(directory: str):
    """``({key: path}, [missing base names])`` for the four IDX files in ``directory``."""
    found, missing = {}, []
    for key, base in IDX_FILES.items():
        p = _idx_path(directory, base)
        if p is None:
            missing.append(base)
        else:
            found[key] = p
    return found, missing


def read_mnist_idx(directory) -> dict:
    """The four IDX files as uint8 arrays: images (n, 28, 28), labels (n,)."""
    directory = resolve_dir(directory)
    found, missing = find_idx_files(directory)
    if missing:
        raise DataNotFoundError(not_found_message("MNIST (IDX files)", [_idx_option(directory)], [
            os.path.join(directory, m) + "[.gz]" for m in missing]))
    out = {}
    for split in ("train", "test"):
        ip, lp = found[f"{split}_images"], found[f"{split}_labels"]
        images = read_idx(ip, IDX_IMAGES_MAGIC)
        labels = read_idx(lp, IDX_LABELS_MAGIC)
        if images.shape[1:] != (28, 28):
            raise DataFormatError(ip, f"images are {images.shape[1]}x{images.shape[2]}", "28x28 MNIST images", IDX_URL)
        if len(images) != len(labels):
            raise DataFormatError(
                lp, f"{len(labels)} labels but {os.path.basename(ip)} has {len(images)} images",
                "one label per image", IDX_URL)
        if labels.size and labels.max() > 9:
            raise DataFormatError(lp, f"label value {int(labels.max())} out of range", "labels 0..9", IDX_URL)
        out[f"x_{split}"], out[f"y_{split}"] = images, labels
    return out


# ------------------------------------------------------------------------------------- mnist.npz
def _npz_path(data_dir) -> str:
    p = resolve_dir(data_dir)
    if p.endswith(".npz") and not os.path.isdir(p):
        return p
    return os.path.join(p, NPZ_NAME)


def _as_unit_float(path: str, key: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[1:] == (28, 28):
        x = x.reshape(len(x), 784)
    if x.ndim != 2 or x.shape[1] != 784:
        raise DataFormatError(path, f"array {key!r} has shape {x.shape}", "(n, 784) or (n, 28, 28) images", NPZ_WHERE)
    if x.dtype == np.uint8:
        return apply_table(x, _DIV255)
    if not np.issubdtype(x.dtype, np.floating):
        raise DataFormatError(path, f"array {key!r} has dtype {x.dtype}", "float pixels in [0, 1] or uint8", NPZ_WHERE)
    x = x.astype(np.float32)  # the original: .astype(th.config.floatX) with floatX = float32
    check_finite(path, x, f"array {key!r}", "float pixels in [0, 1]", NPZ_WHERE)
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise DataFormatError(path, f"array {key!r} has values in [{x.min()}, {x.max()}]", "float pixels in [0, 1]", NPZ_WHERE)
    return x


def _labels(path: str, key: str, y: np.ndarray) -> np.ndarray:
    return check_labels(path, y, 0, 9, f"array {key!r}", "integer labels 0..9", NPZ_WHERE)


def read_mnist_npz(path) -> LoadedData:
    """The original's mnist.npz: train = concat(x_train, x_valid) as the original scripts do.

    Also accepts the same keys without ``x_valid``/``y_valid`` and uint8 (n, 28, 28) images (the
    layout of Keras's ``mnist.npz``), scaled by 1/255.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataNotFoundError(not_found_message("MNIST (mnist.npz)", [_npz_option(os.path.dirname(path))], [path]))
    expected = "the original's mnist.npz (x_train, x_valid, x_test, y_train, y_valid, y_test)"
    problem = array_file_problem(path)
    if problem:
        raise DataFormatError(path, f"it {problem}", expected, NPZ_WHERE)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ARRAY_READ_ERRORS as exc:
        raise DataFormatError(path, f"cannot be read: it {array_file_problem(path, exc)}", expected,
                              NPZ_WHERE) from exc
    required = ["x_train", "y_train", "x_test", "y_test"]
    missing = [k for k in required if k not in arrays]
    if missing or (("x_valid" in arrays) != ("y_valid" in arrays)):
        raise DataFormatError(
            path, f"keys {sorted(arrays)} (missing {missing or ['x_valid/y_valid pair']})",
            "arrays x_train, x_valid, x_test, y_train, y_valid, y_test", NPZ_WHERE)
    xs, ys = [arrays["x_train"]], [arrays["y_train"]]
    if "x_valid" in arrays:
        xs.append(arrays["x_valid"])
        ys.append(arrays["y_valid"])
    out = LoadedData(source=path)
    x_train = np.concatenate([_as_unit_float(path, k, x) for k, x in zip(("x_train", "x_valid"), xs)], axis=0)
    y_train = np.concatenate([_labels(path, k, y) for k, y in zip(("y_train", "y_valid"), ys)])
    x_test = _as_unit_float(path, "x_test", arrays["x_test"])
    y_test = _labels(path, "y_test", arrays["y_test"])
    for k, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DataFormatError(path, f"{len(x)} {k} images but {len(y)} {k} labels", "one label per image", NPZ_WHERE)
    out.update(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return out


# ------------------------------------------------------------------------------------------ tfds
def _load_tfds(builder) -> LoadedData:
    splits = tfds_source.load_prepared_splits(builder)
    out = LoadedData(source=f"tfds {TFDS_NAME} in {builder.data_dir}")
    for split, (images, labels, _) in splits.items():
        out[f"x_{split}"] = apply_table(images.reshape(len(images), 784), _DIV255)
        out[f"y_{split}"] = labels.astype(np.int32)
    return out


# ------------------------------------------------------------------------------------ the sample
def sample_split_indices(y: np.ndarray, num=SAMPLE_TRAIN_FRACTION_NUM, den=SAMPLE_TRAIN_FRACTION_DEN):
    """Fixed, class-balanced split of the shipped sample: for each class, the first
    ``floor(n_class * num / den)`` examples in file order go to train and the rest to test.
    Returns ``(train_idx, test_idx)``, each with the classes interleaved (the first example of each
    class in class order, then the second of each, ...), so that any prefix of a split is about
    class-balanced, as a prefix of MNIST is (the file itself is sorted by class)."""
    y = np.asarray(y)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = (len(idx) * num) // den
        train.append(idx[:k])
        test.append(idx[k:])
    return _interleave_classes(train), _interleave_classes(test)


def _interleave_classes(per_class):
    """Indices ordered by (rank within their class, class)."""
    ranks = np.concatenate([np.arange(len(idx)) for idx in per_class])
    classes = np.concatenate([np.full(len(idx), c) for c, idx in enumerate(per_class)])
    return np.concatenate(per_class)[np.lexsort((classes, ranks))]


def read_mnist_sample(path: str = SAMPLE_PATH, verify: bool = True):
    """The shipped 5,000-digit sample as uint8 ``(x (5000, 28, 28), y (5000,))`` in file order."""
    where = "the improved-gan-tf2 repository (improved_gan_tf2/data/mnist_sample.npz; rebuild it with make_mnist_sample.py)"
    if not os.path.isfile(path):
        raise DataNotFoundError(f"The shipped MNIST sample {path} is missing; it is part of {where}.")
    expected = "an .npz with x uint8 (5000, 28, 28) and y uint8 (5000,)"
    problem = array_file_problem(path)
    if problem:
        raise DataFormatError(path, f"it {problem}", expected, where)
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except KeyError as exc:
        raise DataFormatError(path, f"it has no array {exc}", expected, where) from exc
    except ARRAY_READ_ERRORS as exc:
        raise DataFormatError(path, f"cannot be read: it {array_file_problem(path, exc)}", expected, where) from exc
    if x.dtype != np.uint8 or x.shape != (5000, 28, 28) or y.dtype != np.uint8 or y.shape != (5000,):
        raise DataFormatError(path, f"x {x.dtype}{x.shape}, y {y.dtype}{y.shape}",
                              "x uint8 (5000, 28, 28) and y uint8 (5000,)", where)
    if verify:
        digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
        if digest != SAMPLE_CONTENT_SHA256:
            raise DataFormatError(path, f"content checksum {digest} does not match", f"SHA-256 {SAMPLE_CONTENT_SHA256}", where)
    return x, y


def _load_sample() -> LoadedData:
    x, y = read_mnist_sample()
    train_idx, test_idx = sample_split_indices(y)
    flat = apply_table(x.reshape(len(x), 784), _DIV255)
    return LoadedData(
        x_train=flat[train_idx], y_train=y[train_idx].astype(np.int32),
        x_test=flat[test_idx], y_test=y[test_idx].astype(np.int32),
        source=SAMPLE_PATH + " (shipped 5,000-digit sample: 4,000 train / 1,000 test)")


# ------------------------------------------------------------------------------------ public API
def _npz_option(directory: str) -> str:
    return f"the original's {NPZ_NAME}: put it in {describe_dir(directory)}; it is in {NPZ_WHERE}"


def _idx_option(directory: str) -> str:
    names = ", ".join(IDX_FILES.values())
    return (f"MNIST's own IDX files {names} (each gzipped with a .gz suffix, or not): put them in "
            f"{describe_dir(directory)}; download them from {IDX_URL}")


def _tfds_option(directory) -> str:
    where = describe_dir(directory) if directory is not None else tfds_source.default_tfds_dir()
    return (f"TensorFlow Datasets '{TFDS_NAME}', already prepared (e.g. `tfds build {TFDS_NAME} --data_dir "
            f"{where}` on a machine with internet access, then copy the folder {os.path.join(where, TFDS_NAME)}); "
            f"it is only read here, never downloaded")


def _from_idx(directory: str) -> LoadedData:
    raw = read_mnist_idx(directory)
    out = LoadedData(source=f"MNIST IDX files in {directory}")
    for split in ("train", "test"):
        x = raw[f"x_{split}"]
        out[f"x_{split}"] = apply_table(x.reshape(len(x), 784), _DIV255)
        out[f"y_{split}"] = raw[f"y_{split}"].astype(np.int32)
    return out


def load_mnist(data_dir=None, dataset: str = "mnist") -> LoadedData:
    """Loads MNIST as ``dict(x_train, y_train, x_test, y_test)``: x float32 in [0, 1], shape
    (n, 784); y int32.

    ``dataset``:
      * ``"mnist_npz"``: the original's ``mnist.npz`` in ``data_dir`` (train = train + valid);
      * ``"mnist_idx"``: MNIST's four IDX files in ``data_dir`` (gzipped or not), scaled by 1/255;
      * ``"mnist_tfds"``: tfds ``mnist`` prepared in ``data_dir`` or tfds's default directory
        (never downloaded); its order is tfds's, not the IDX files' (see the README);
      * ``"mnist"``: the first of npz, IDX files, tfds that is present;
      * ``"mnist_sample"``: the shipped 5,000 real digits, 4,000 train / 1,000 test (no data_dir).

    ``data_dir=None`` means the current directory (the original read ``mnist.npz`` from there).
    """
    return check_loaded(_load_mnist(data_dir, dataset))


def _load_mnist(data_dir, dataset) -> LoadedData:
    name = check_dataset_name(dataset, DATASETS, "load_mnist")
    if name == "mnist_sample":
        return _load_sample()
    directory = resolve_dir(data_dir)
    if name == "mnist_npz":
        return read_mnist_npz(_npz_path(data_dir))
    if name == "mnist_idx":
        return _from_idx(directory)
    if name == "mnist_tfds":
        builder, tried = tfds_source.find_prepared(TFDS_NAME, data_dir)
        if builder is None:
            raise DataNotFoundError(not_found_message("MNIST (tfds)", [_tfds_option(data_dir)], tried))
        return _load_tfds(builder)
    # auto
    npz = _npz_path(data_dir)
    if os.path.isfile(npz):
        return read_mnist_npz(npz)
    found, missing = find_idx_files(directory)
    if found and missing:
        raise DataNotFoundError(not_found_message(
            "MNIST (IDX files, incomplete set)", [_idx_option(directory)],
            [os.path.join(directory, m) + "[.gz] (missing)" for m in missing]))
    if found:
        return _from_idx(directory)
    builder, tried = tfds_source.find_prepared(TFDS_NAME, data_dir)
    if builder is not None:
        return _load_tfds(builder)
    looked = [npz] + [os.path.join(directory, b) + "[.gz]" for b in IDX_FILES.values()] + tried
    options = [_npz_option(directory), _idx_option(directory), _tfds_option(data_dir),
               "or run on the 5,000 real digits shipped with this repository, a quick check only: "
               "--dataset=mnist_sample in the scripts (load_mnist(dataset='mnist_sample'))"]
    raise DataNotFoundError(not_found_message("MNIST", options, looked))
