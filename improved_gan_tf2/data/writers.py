"""Writers of the original's data formats (pure NumPy/SciPy), so that the original scripts and this port read
the same images:

- MNIST: ``mnist.npz`` as ``train_mnist_*.py`` read it: ``x_train``, ``x_valid``, ``x_test`` float32
  ``(n, 784)`` in [0, 1] and ``y_train``, ``y_valid``, ``y_test`` integer labels (int64, as in the
  ``mnist.pkl.gz``-derived file; the scripts cast with ``astype(floatX)`` / ``astype(np.int32)``); the scripts
  train on ``concatenate([x_train, x_valid])``.
- CIFAR-10: ``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``, Python-2-style pickles of a dict with
  the keys ``'batch_label'``, ``'labels'`` (list of ints), ``'data'`` (uint8 ``(n, 3072)``, channel-major rows)
  and ``'filenames'``. The keys are written as Python 2 ``str`` (as in the real files), so Python 3 reads them as
  ``str`` with ``encoding='latin1'`` and as ``bytes`` with ``encoding='bytes'``, as it does the real files.
- SVHN: ``svhn/train_32x32.mat`` and ``svhn/test_32x32.mat`` (MATLAB v5), ``X`` uint8 ``(32, 32, 3, n)`` and
  ``y`` uint8 ``(n, 1)`` with the digit 0 stored as 10.

Plus small synthetic CIFAR-10/SVHN-like sets (:func:`synthetic_images`): class-dependent smooth patterns with
noise, uint8, for checks that need 32x32 colour images but not the real data sets.
"""
import io
import os
import pickle
import struct

import numpy as np

from .cifar10 import BATCHES_DIR as CIFAR_BATCHES_DIR, TEST_FILES as CIFAR_TEST_FILES
from .cifar10 import TRAIN_FILES as CIFAR_TRAIN_FILES
from .svhn import FILES as SVHN_FILES, SUBDIR as SVHN_SUBDIR


def _check_images(images):
    """``images`` as an array, which must be uint8 (n, 32, 32, 3)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 images (n, 32, 32, 3), got {images.dtype} {images.shape}")
    return images


# ----------------------------------------------------------------------------------------------------- MNIST


def write_mnist_npz(path, x_train, y_train, x_test, y_test, n_valid=None):
    """``mnist.npz`` with the last ``n_valid`` (default a fifth) training examples as ``x_valid``/``y_valid``,
    so that the scripts' ``concatenate([x_train, x_valid])`` gives back ``x_train`` in its order. Images are
    float32 in [0, 1] (uint8 input is divided by 255 in float32), flattened to 784."""
    def images(x):
        x = np.asarray(x)
        x = x.reshape(len(x), 784)
        return (x.astype(np.float32) / np.float32(255.0)) if x.dtype == np.uint8 else x.astype(np.float32)

    x_train, x_test = images(x_train), images(x_test)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    n_valid = len(x_train) // 5 if n_valid is None else int(n_valid)
    cut = len(x_train) - n_valid
    np.savez(path, x_train=x_train[:cut], y_train=y_train[:cut], x_valid=x_train[cut:], y_valid=y_train[cut:],
             x_test=x_test, y_test=y_test)
    return os.fspath(path)


# -------------------------------------------------------------------------------------------------- CIFAR-10


class _Py2Str(str):
    """A string pickled as Python 2's ``str`` (opcode BINSTRING), as in the real CIFAR-10 batch files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can take a new type
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        data = obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(data)) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str

    def save_ndarray(self, obj):
        """What NumPy 1.x pickles for an array -- ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')``
        followed by ``__setstate__((1, shape, dtype, is_fortran, raw bytes))`` -- written by hand, so that the
        file names ``numpy.core`` (which NumPy 1 and 2 both import) even when NumPy 2 writes it (its own pickles
        name ``numpy._core``, which NumPy 1 cannot import)."""
        obj = np.ascontiguousarray(obj)
        self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
        self.write(pickle.MARK)
        self.save(np.ndarray)
        self.save((0,))
        self.save(b"b")
        self.write(pickle.TUPLE + pickle.REDUCE)
        self.write(pickle.MARK)
        self.save(1)
        self.save(tuple(int(d) for d in obj.shape))
        self.save(obj.dtype)
        self.save(False)
        self.save(obj.tobytes())
        self.write(pickle.TUPLE + pickle.BUILD)

    dispatch[np.ndarray] = save_ndarray


def cifar_batch_bytes(images_nhwc, labels, batch_label):
    """One pickled CIFAR-10 batch (protocol 2) of uint8 NHWC ``images`` and integer ``labels``."""
    images = _check_images(images_nhwc)
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    if len(labels) != len(data):
        raise ValueError(f"{len(labels)} labels for {len(data)} images")
    record = {
        _Py2Str("batch_label"): _Py2Str(batch_label),
        _Py2Str("labels"): labels,
        _Py2Str("data"): data,
        _Py2Str("filenames"): [_Py2Str(f"synthetic_{i:05d}.png") for i in range(len(data))],
    }
    stream = io.BytesIO()
    _Py2Pickler(stream, protocol=2).dump(record)
    return stream.getvalue()


def write_cifar10_batches(data_dir, x_train, y_train, x_test, y_test):
    """``data_dir/cifar-10-batches-py/`` with the training set split into five batch files (in order) and the
    test set in ``test_batch``. Images uint8 NHWC. Returns the folder."""
    folder = os.path.join(os.fspath(data_dir), CIFAR_BATCHES_DIR)
    os.makedirs(folder, exist_ok=True)
    parts = np.array_split(np.arange(len(x_train)), len(CIFAR_TRAIN_FILES))
    for i, (name, idx) in enumerate(zip(CIFAR_TRAIN_FILES, parts), start=1):
        with open(os.path.join(folder, name), "wb") as stream:
            stream.write(cifar_batch_bytes(np.asarray(x_train)[idx], np.asarray(y_train)[idx],
                                           f"training batch {i} of 5"))
    with open(os.path.join(folder, CIFAR_TEST_FILES[0]), "wb") as stream:
        stream.write(cifar_batch_bytes(x_test, y_test, "testing batch 1 of 1"))
    return folder


# ------------------------------------------------------------------------------------------------------ SVHN


def write_svhn_mat(data_dir, x_train, y_train, x_test, y_test):
    """``data_dir/svhn/{train,test}_32x32.mat`` from uint8 NHWC images and labels 0..9 (0 stored as 10).
    Returns the folder."""
    from scipy.io import savemat

    folder = os.path.join(os.fspath(data_dir), SVHN_SUBDIR)
    os.makedirs(folder, exist_ok=True)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x = _check_images(x)
        y = np.asarray(y).reshape(-1).astype(np.uint8)
        y = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
        savemat(os.path.join(folder, SVHN_FILES[split]), {"X": np.ascontiguousarray(x.transpose(1, 2, 3, 0)),
                                                             "y": y}, do_compression=False)
    return folder


# ------------------------------------------------------------------------------------------- synthetic data


def synthetic_images(n, seed=0, num_classes=10):
    """``n`` uint8 images (n, 32, 32, 3) and labels (n,): each class a smooth random colour pattern, each image
    that pattern shifted by a few pixels, scaled, and with pixel noise. Classes cycle 0, 1, ..., 9, 0, ..."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    templates = []
    for _ in range(num_classes):
        pattern = np.zeros((32, 32, 3))
        for _ in range(3):
            fx, fy = rng.uniform(0.5, 3.0, 2)
            phase = rng.uniform(0, 2 * np.pi, 3)
            pattern += np.sin(2 * np.pi * (fx * xx + fy * yy))[..., None] * np.cos(phase)[None, None, :]
        templates.append(pattern / 3.0)
    labels = np.arange(n) % num_classes
    images = np.empty((n, 32, 32, 3), np.uint8)
    for i, c in enumerate(labels):
        shifted = np.roll(templates[c], tuple(rng.randint(-3, 4, 2)), axis=(0, 1))
        value = 127.5 + 90.0 * rng.uniform(0.6, 1.0) * shifted + rng.normal(0, 12.0, shifted.shape)
        images[i] = np.clip(np.round(value), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_synthetic(dataset, data_dir, n_train=1000, n_test=200, seed=0):
    """A synthetic ``"cifar10"`` or ``"svhn"`` set in the original's format under ``data_dir``."""
    x_train, y_train = synthetic_images(n_train, seed)
    x_test, y_test = synthetic_images(n_test, seed + 1)
    if dataset == "cifar10":
        return write_cifar10_batches(data_dir, x_train, y_train, x_test, y_test)
    if dataset == "svhn":
        return write_svhn_mat(data_dir, x_train, y_train, x_test, y_test)
    raise ValueError(f"dataset must be 'cifar10' or 'svhn', got {dataset!r}")


def main(argv=None):
    """``python -m improved_gan_tf2.data.writers --synthetic=cifar10|svhn --out=DIR [--train=1000 --test=200]``:
    a synthetic stand-in for CIFAR-10 or SVHN in the original's files (for quick runs of the scripts where the
    real data sets cannot be downloaded)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.train < 10 or args.test < 1:
        parser.error("--train must be at least 10 (one image per class) and --test at least 1")
    folder = write_synthetic(args.synthetic, args.out, args.train, args.test, args.seed)
    print(f"wrote a synthetic {args.synthetic} set ({args.train} training, {args.test} test images) to {folder}")
    return 0


def build_parser():
    """The command line of :func:`main`."""
    from improved_gan_tf2.errors import ArgumentParser

    parser = ArgumentParser(prog="python -m improved_gan_tf2.data.writers", description=main.__doc__)
    parser.add_argument("--synthetic", choices=("cifar10", "svhn"), required=True,
                        help="which data set's files to write: cifar10 (cifar-10-batches-py/) or svhn (.mat files)")
    parser.add_argument("--out", required=True, help="the --data_dir to give the scripts")
    parser.add_argument("--train", type=int, default=1000,
                        help="training images, at least 10: one per class (default: %(default)s)")
    parser.add_argument("--test", type=int, default=200, help="test images, at least 1 (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the class patterns and of each image's shift and noise (default: %(default)s)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
