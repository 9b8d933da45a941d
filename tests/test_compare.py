"""improved_gan_tf2.compare: cuDNN semantics of the CPU stand-ins, the data writers, the patcher, argument errors.

Nothing here needs Theano or a checkout of the original, except the tests that run only when the environment
says where they are: ``IGAN_ORIGINAL_PYTHON`` (the Python of an environment made by ``compare setup``) and
``IGAN_ORIGINAL_DIR`` (a checkout of openai/improved-gan); among them, the last section's run of the compare
commands of README.md and docs/compare.md as the pages write them.
"""
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from improved_gan_tf2.compare import cudnn_numpy, feeds, judge, loop, patcher, run, step
from improved_gan_tf2.compare.dropins import fed_random
from improved_gan_tf2.compare.env import theano_env
from improved_gan_tf2.data import writers as original_data
from improved_gan_tf2.compare.__main__ import main
from improved_gan_tf2.compare.scripts import SCRIPTS, SUPPORT_FILES, UsageError, get_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- cuDNN semantics, by direct loops


def loop_conv(x, w, pad, stride, flip):
    """One output element at a time: sum over c, u, v of padded x times w (flipped for 'conv')."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]
    xp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    oh, ow = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for b in range(n):
        for f in range(o):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0
                    for ch in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                total += xp[b, ch, i * stride[0] + u, j * stride[1] + v] * w[f, ch, u, v]
                    out[b, f, i, j] = total
    return out


def loop_grad_input(w, top, input_shape, pad, stride, flip):
    """The transpose, one scattered term at a time."""
    n, c, h, wd = input_shape
    o, _, kh, kw = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]
    xp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]))
    for b in range(n):
        for f in range(o):
            for i in range(top.shape[2]):
                for j in range(top.shape[3]):
                    for ch in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                xp[b, ch, i * stride[0] + u, j * stride[1] + v] += top[b, f, i, j] * w[f, ch, u, v]
    return xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd]


CASES = [  # (input shape, kernel shape, border mode, stride)
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (2, 2)),     # Conv2DDNNLayer(pad=1, stride=2): the strided discriminator layers
    ((1, 2, 6, 6), (3, 2, 3, 3), "valid", (1, 1)),   # pad=0 (conv_7)
    ((1, 2, 5, 4), (2, 2, 3, 3), "full", (1, 1)),
    ((2, 2, 8, 8), (3, 2, 5, 5), "half", (2, 2)),    # the generator's deconvolutions' forward convolution
    ((1, 3, 6, 5), (2, 3, 3, 2), (2, 0), (1, 2)),    # unequal pads and strides
]


@pytest.mark.parametrize("shape,kshape,border,stride", CASES)
@pytest.mark.parametrize("mode", ["cross", "conv"])
def test_cudnn_conv_semantics_match_direct_loops(rng, shape, kshape, border, stride, mode):
    x = rng.randn(*shape)
    w = rng.randn(*kshape)
    pad = cudnn_numpy._border(border, kshape[2:])
    expected = loop_conv(x, w, pad, stride, flip=mode == "conv")
    out = cudnn_numpy.conv2d(x, w, border, stride, mode)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    top = rng.randn(*out.shape)
    grad = cudnn_numpy.conv2d_grad_input(w, top, shape, border, stride, mode)
    np.testing.assert_allclose(grad, loop_grad_input(w, top, shape, pad, stride, mode == "conv"), rtol=1e-12,
                               atol=1e-12)
    # the transpose: <conv(x), top> = <x, grad_input(top)>
    assert np.isclose((out * top).sum(), (x * grad).sum())


def test_cross_correlation_does_not_flip_and_deconv_matches_theano_reference(rng):
    """Conv2DDNNLayer's default is a cross-correlation; the original's Deconv2DLayer (Theano's gradient of a true
    convolution, border 'half', stride 2) is conv2d_grad_input in 'conv' mode (tests/numpy_reference.py)."""
    import numpy_reference as ref

    x = rng.randn(2, 3, 9, 9)
    w = rng.randn(4, 3, 3, 3)
    np.testing.assert_allclose(cudnn_numpy.conv2d(x, w, (1, 1), (2, 2), "cross"), ref.conv2d_nchw(x, w, 2, 1),
                               rtol=1e-12, atol=1e-12)
    assert np.abs(cudnn_numpy.conv2d(x, w, (1, 1), (1, 1), "conv") - cudnn_numpy.conv2d(x, w, (1, 1), (1, 1))).max() > 1e-3
    top = rng.randn(2, 4, 4, 4)
    w5 = rng.randn(4, 3, 5, 5)
    np.testing.assert_allclose(cudnn_numpy.conv2d_grad_input(w5, top, (2, 3, 8, 8), "half", (2, 2), "conv"),
                               ref.theano_deconv_half(top, w5, 2, (8, 8)), rtol=1e-12, atol=1e-12)


def _original_python():
    python = os.environ.get("IGAN_ORIGINAL_PYTHON")
    if not python:
        pytest.skip("set IGAN_ORIGINAL_PYTHON to the Python of an environment made by `compare setup`")
    return python


def _theano_env(tmp_path):
    """The compare tool's environment of the original (its Theano cache, else a fresh one under ``tmp_path``),
    without the user's THEANO_FLAGS, and the cuDNN stand-ins forced."""
    base = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(_original_python()))))
    root = base if os.path.isdir(os.path.join(base, "theano")) else str(tmp_path)
    env = theano_env(root, {key: value for key, value in os.environ.items() if key != "THEANO_FLAGS"})
    env["IGAN_FORCE_CUDNN_STANDINS"] = "1"
    return env


STANDIN_PROGRAM = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import theano, theano.tensor as T, lasagne
import cudnn_standins as cs
assert cs.USING_STANDINS
d = dict(np.load(sys.argv[2]))
x, w, top = T.tensor4(), T.tensor4(), T.tensor4()
out = {}
for i, (border, stride, mode) in enumerate([((1, 1), (2, 2), "cross"), ("valid", (1, 1), "conv"),
                                             ("half", (2, 2), "conv"), ((2, 0), (1, 2), "cross")]):
    y = cs.dnn_conv(x, w, border_mode=border, subsample=stride, conv_mode=mode)
    xs = d["x%d" % i]
    out["y%d" % i] = theano.function([x, w], y)(xs, d["w%d" % i])
    gi = cs.dnn_gradinput(w, top, xs.shape, border_mode=border, subsample=stride, conv_mode=mode)
    out["g%d" % i] = theano.function([w, top], gi)(d["w%d" % i], d["t%d" % i])
layer = cs.Conv2DDNNLayer(lasagne.layers.InputLayer((None, 3, 9, 9)), 4, (3, 3), pad=1, stride=2,
                          nonlinearity=None)
layer.W.set_value(d["lw"]); layer.b.set_value(np.zeros(4, "float32"))
out["layer"] = theano.function([x], lasagne.layers.get_output(layer, x))(d["lx"])
assert cs.dnn is sys.modules["lasagne.layers.dnn"]
np.savez(sys.argv[3], **out)
"""


def test_theano_standins_compute_cudnn_semantics(rng, tmp_path):
    python = _original_python()
    cases = [((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (2, 2), "cross"), ((1, 2, 6, 6), (3, 2, 3, 3), "valid", (1, 1), "conv"),
             ((2, 2, 8, 8), (3, 2, 5, 5), "half", (2, 2), "conv"), ((1, 3, 6, 5), (2, 3, 3, 2), (2, 0), (1, 2), "cross")]
    data, expected = {}, {}
    for i, (shape, kshape, border, stride, mode) in enumerate(cases):
        x = rng.randn(*shape).astype(np.float32)
        w = rng.randn(*kshape).astype(np.float32)
        y = cudnn_numpy.conv2d(x, w, border, stride, mode)
        t = rng.randn(*y.shape).astype(np.float32)
        data.update({f"x{i}": x, f"w{i}": w, f"t{i}": t})
        expected[f"y{i}"] = y
        expected[f"g{i}"] = cudnn_numpy.conv2d_grad_input(w, t, shape, border, stride, mode)
    data["lx"] = rng.randn(2, 3, 9, 9).astype(np.float32)
    data["lw"] = rng.randn(4, 3, 3, 3).astype(np.float32)
    expected["layer"] = cudnn_numpy.conv2d(data["lx"], data["lw"], (1, 1), (2, 2), "cross")
    np.savez(tmp_path / "in.npz", **data)
    (tmp_path / "prog.py").write_text(STANDIN_PROGRAM)
    result = subprocess.run([python, str(tmp_path / "prog.py"), patcher.DROPINS_DIR, str(tmp_path / "in.npz"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True, env=_theano_env(tmp_path),
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    got = dict(np.load(tmp_path / "out.npz"))
    for key, value in expected.items():
        assert got[key].shape == value.shape, key
        assert np.abs(got[key] - value).max() <= 1e-5 * max(1.0, np.abs(value).max()), key


# ------------------------------------------------------------------------------------------------ data writers


def original_mnist_reader(path):
    """What train_mnist_feature_matching.py does with mnist.npz (floatX = float32)."""
    data = np.load(path)
    trainx = np.concatenate([data["x_train"], data["x_valid"]], axis=0).astype(np.float32)
    trainy = np.concatenate([data["y_train"], data["y_valid"]]).astype(np.int32)
    return trainx, trainy, data["x_test"].astype(np.float32), data["y_test"].astype(np.int32)


def original_cifar_reader(folder, subset):
    """cifar10_data.py's unpickle/load, in its Python 3 form (the patched copy's): pickle with latin1."""
    def unpickle(file):
        with open(file, "rb") as fo:
            d = pickle.load(fo, encoding="latin1")
        # np.cast[np.float32](...) in the original: the float64 arithmetic, then a cast
        return {"x": ((-127.5 + d["data"].reshape((-1, 3, 32, 32))) / 128.).astype(np.float32),
                "y": np.array(d["labels"]).astype(np.uint8)}
    names = [f"data_batch_{i}" for i in range(1, 6)] if subset == "train" else ["test_batch"]
    parts = [unpickle(os.path.join(folder, name)) for name in names]
    return np.concatenate([p["x"] for p in parts]), np.concatenate([p["y"] for p in parts])


def original_svhn_reader(folder, subset):
    """svhn_data.load followed by the SVHN scripts' rescale (floatX = float32)."""
    from scipy.io import loadmat

    data = loadmat(os.path.join(folder, f"{subset}_32x32.mat"))
    x, y = data["X"], data["y"].flatten()
    y[y == 10] = 0
    return np.transpose(((-127.5 + x) / 127.5).astype(np.float32), (3, 2, 0, 1)), y


def test_mnist_npz_round_trip(tmp_path):
    from improved_gan_tf2.data import load_mnist

    sample = load_mnist(dataset="mnist_sample")
    path = original_data.write_mnist_npz(tmp_path / "mnist.npz", sample["x_train"], sample["y_train"],
                                         sample["x_test"], sample["y_test"])
    with np.load(path) as f:
        assert sorted(f.files) == ["x_test", "x_train", "x_valid", "y_test", "y_train", "y_valid"]
        assert f["x_train"].dtype == np.float32 and f["x_train"].shape == (3200, 784) and f["x_valid"].shape == (800, 784)
        assert f["y_train"].dtype == np.int64
    again = load_mnist(dataset="mnist_npz", data_dir=str(tmp_path))
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(again[key], sample[key])
    for got, want in zip(original_mnist_reader(path), (sample["x_train"], sample["y_train"], sample["x_test"],
                                                       sample["y_test"])):
        np.testing.assert_array_equal(got, want)
    # uint8 images are divided by 255 in float32, as the project's loader does
    x = (sample["x_train"][:20] * 255).round().astype(np.uint8).reshape(20, 28, 28)
    original_data.write_mnist_npz(tmp_path / "u8.npz", x, sample["y_train"][:20], x, sample["y_train"][:20], n_valid=0)
    np.testing.assert_array_equal(np.load(tmp_path / "u8.npz")["x_train"], sample["x_train"][:20])


def test_cifar10_batches_round_trip(tmp_path):
    from improved_gan_tf2.data import load_cifar10

    x_train, y_train = original_data.synthetic_images(53, seed=3)
    x_test, y_test = original_data.synthetic_images(12, seed=4)
    folder = original_data.write_cifar10_batches(tmp_path, x_train, y_train, x_test, y_test)
    assert sorted(os.listdir(folder)) == sorted(original_data.CIFAR_TRAIN_FILES + ("test_batch",))
    raw = load_cifar10(str(tmp_path), dataset="cifar10_batches", raw=True)
    np.testing.assert_array_equal(raw["x_train"], x_train)
    np.testing.assert_array_equal(raw["y_train"], y_train)
    np.testing.assert_array_equal(raw["x_test"], x_test)
    scaled = load_cifar10(str(tmp_path), dataset="cifar10_batches")
    for subset in ("train", "test"):
        x, y = original_cifar_reader(folder, subset)
        np.testing.assert_array_equal(x, scaled[f"x_{subset}"].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, scaled[f"y_{subset}"])
    # keys are Python 2 strings, as in the real files: str with latin1, bytes with encoding='bytes'
    with open(os.path.join(folder, "data_batch_1"), "rb") as stream:
        raw_bytes = stream.read()
    assert set(pickle.loads(raw_bytes, encoding="bytes")) == {b"batch_label", b"labels", b"data", b"filenames"}
    # the array is pickled as NumPy 1 does (numpy.core), which NumPy 1 and 2 both read
    assert b"numpy.core.multiarray" in raw_bytes and b"numpy._core" not in raw_bytes


def test_the_original_environment_reads_the_written_cifar_batches(tmp_path):
    python = _original_python()
    x_train, y_train = original_data.synthetic_images(25, seed=7)
    folder = original_data.write_cifar10_batches(tmp_path, x_train, y_train, x_train[:5], y_train[:5])
    program = ("import pickle, sys, numpy as np\n"
               "d = pickle.load(open(sys.argv[1], 'rb'), encoding='latin1')\n"
               "x = np.cast[np.float32]((-127.5 + d['data'].reshape((-1, 3, 32, 32))) / 128.)\n"
               "np.save(sys.argv[2], x)\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, "-c", program, os.path.join(folder, "data_batch_1"), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    first = x_train[np.array_split(np.arange(25), 5)[0]]
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), ((first.transpose(0, 3, 1, 2) - 127.5) / 128.0).astype(np.float32))


def test_svhn_mat_round_trip(tmp_path):
    from improved_gan_tf2.data import load_svhn

    x_train, y_train = original_data.synthetic_images(30, seed=5)
    x_test, y_test = original_data.synthetic_images(11, seed=6)
    folder = original_data.write_svhn_mat(tmp_path, x_train, y_train, x_test, y_test)
    assert folder == os.path.join(str(tmp_path), "svhn")
    raw = load_svhn(str(tmp_path), dataset="svhn_mat", raw=True)
    np.testing.assert_array_equal(raw["x_train"], x_train)
    np.testing.assert_array_equal(raw["y_train"], y_train)
    scaled = load_svhn(str(tmp_path), dataset="svhn_mat")
    for subset in ("train", "test"):
        x, y = original_svhn_reader(folder, subset)
        np.testing.assert_array_equal(x, scaled[f"x_{subset}"].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, scaled[f"y_{subset}"])
    from scipy.io import loadmat

    stored = loadmat(os.path.join(folder, "train_32x32.mat"))
    assert stored["X"].dtype == np.uint8 and stored["X"].shape == (32, 32, 3, 30)
    assert stored["y"].shape == (30, 1) and stored["y"].min() >= 1 and stored["y"].max() == 10


def test_synthetic_images_are_class_dependent():
    x, y = original_data.synthetic_images(40, seed=0)
    assert x.dtype == np.uint8 and x.shape == (40, 32, 32, 3) and list(y[:12]) == list(range(10)) + [0, 1]
    means = np.stack([x[y == c].reshape(-1, 3072).mean(0) for c in range(10)])
    assert np.abs(means[0] - means[1]).mean() > 10 and 10 < x.std() < 80


# ------------------------------------------------------------------------------------------------ the patcher


def fake_checkout(root):
    """A tree with the files of the original, each holding the snippets the patches look for."""
    folder = os.path.join(root, "mnist_svhn_cifar10")
    os.makedirs(folder)
    patches = patcher.all_patches()
    for name in set(SUPPORT_FILES) | {s.file for s in SCRIPTS.values()}:
        text = "# fake file\n" + "".join(p.old * p.count + "x = 1\n" for p in patches if p.file == name)
        with open(os.path.join(folder, name), "w") as stream:
            stream.write(text)
    return folder


def test_patcher_applies_every_patch_to_a_copy(tmp_path):
    source = fake_checkout(str(tmp_path / "checkout"))
    before = {n: open(os.path.join(source, n)).read() for n in os.listdir(source)}
    lines = []
    applied = patcher.make_patched_copy(str(tmp_path / "checkout"), str(tmp_path / "copy"), log=lines.append)
    assert len(lines) == len(applied) + 2 and all(line.startswith("patched ") for line in lines[:-2])
    assert lines[-1] == patcher.INSTRUMENTATION and "GaussianNoiseLayer" in lines[-1] and "DropoutLayer" in lines[-1]
    assert any("nn.py" in line and "cudnn_standins" in line for line in lines)
    for name, text in before.items():  # the checkout is untouched
        assert open(os.path.join(source, name)).read() == text
    for patch in applied:
        copied = open(tmp_path / "copy" / patch.file).read()
        assert patch.new in copied
    nn = open(tmp_path / "copy" / "nn.py").read()
    assert "from lasagne.layers import dnn\n" not in nn and "lasagne.layers.dnn.as_tuple" not in nn
    mnist = open(tmp_path / "copy" / "train_mnist_feature_matching.py").read()
    assert "range(args.epochs)" in mnist and "//txs.shape[0]" in mnist
    for dropin in patcher.DROPINS:
        assert os.path.isfile(tmp_path / "copy" / dropin)


def test_patcher_names_a_missing_snippet(tmp_path):
    source = fake_checkout(str(tmp_path / "checkout"))
    path = os.path.join(source, "train_svhn_feature_matching.py")
    text = open(path).read().replace("import scipy.misc\n", "import imageio\n")
    open(path, "w").write(text)
    with pytest.raises(UsageError) as error:
        patcher.make_patched_copy(str(tmp_path / "checkout"), str(tmp_path / "copy"), log=lambda line: None)
    message = str(error.value)
    assert "train_svhn_feature_matching.py" in message and "'import scipy.misc'" in message and "\n" not in message
    assert not os.path.exists(tmp_path / "copy")  # nothing written before every patch is checked
    with pytest.raises(UsageError, match="outside the checkout"):
        fake = str(tmp_path / "other")
        fake_checkout(fake)
        patcher.make_patched_copy(fake, os.path.join(fake, "mnist_svhn_cifar10", "copy"), log=lambda line: None)


def test_harness_cuts_the_model_building_part(tmp_path):
    from improved_gan_tf2.compare import harness

    text = "a = 1\nlayers = []\n# load MNIST data\ndata = np.load('mnist.npz')\n"
    path = tmp_path / "_cut_probe.py"
    path.write_text(text)
    assert harness.model_source(path) == ("a = 1\nlayers = []\n", "# load MNIST data\ndata = np.load('mnist.npz')\n")


# ------------------------------------------------------------------------------------------- argument errors


def test_unknown_script_lists_the_six(capsys, tmp_path):
    assert main(["step", "--script=train_mnist_gan", f"--original_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: unknown script")
    assert all(name in err for name in SCRIPTS)
    with pytest.raises(UsageError):
        get_script("nn")


def test_not_a_checkout_names_the_missing_file(capsys, tmp_path):
    fake_checkout(str(tmp_path))
    os.remove(tmp_path / "mnist_svhn_cifar10" / "svhn_data.py")
    assert main(["step", "--script=train_mnist_feature_matching", f"--original_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "svhn_data.py is missing" in err
    assert main(["setup", f"--original_dir={tmp_path / 'nowhere'}"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_missing_environment_prints_the_setup_command(capsys, tmp_path):
    fake_checkout(str(tmp_path / "checkout"))
    for command in ("step", "run"):
        code = main([command, "--script=train_mnist_feature_matching", f"--original_dir={tmp_path / 'checkout'}",
                     f"--env_dir={tmp_path / 'env'}"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0
        assert "python -m improved_gan_tf2.compare setup --original_dir=" in err


def test_command_line_errors_exit_2_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: TensorFlow's start-up log is kept away
    result = subprocess.run([sys.executable, "-m", "improved_gan_tf2.compare", "run", "--script=nope",
                             f"--original_dir={tmp_path}"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "train_svhn_minibatch_discrimination" in result.stderr
    result = subprocess.run([sys.executable, "-m", "improved_gan_tf2.compare", "step"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "required" in result.stderr


@pytest.mark.parametrize("argv, named", [
    (["loop", "--epochs=0"], "--epochs must be at least 1"),
    (["loop", "--precision=float32"], "float64 only"),
    (["loop", "--precision=float16"], "float16"),
    (["step", "--precision=float16"], "float16"),
    (["step", "--steps=0"], "--steps must be at least 1"),
])
def test_bad_mode_flags_exit_2_with_one_line_before_any_work(capsys, tmp_path, argv, named):
    from improved_gan_tf2.compare.__main__ import main

    checkout = str(tmp_path / "checkout")
    fake_checkout(checkout)
    work = tmp_path / "work"
    code = main(argv + ["--script=train_mnist_feature_matching", f"--original_dir={checkout}",
                        f"--env_dir={tmp_path / 'no_env'}", f"--work_dir={work}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.strip().count("\n") == 0 and named in err, err
    assert not work.exists()  # refused before anything was written


# ----------------------------------------------------------------------------------------- pieces of the drivers


def test_average_convention_and_relative_difference():
    p0, p1, p2 = (np.full(3, v) for v in (1.0, 2.0, 4.0))
    before = step.predicted_averages([[p0], [p1], [p2]], [True])
    np.testing.assert_allclose(before[0][0], 1e-4 * p0)           # the original: a1 = 1e-4 p0
    np.testing.assert_allclose(before[1][0], 1e-4 * p0 + 1e-4 * (p1 - 1e-4 * p0))
    assert judge.rel_diff(np.array([2.0, -4.0]), np.array([2.0, -3.0])) == 0.25
    assert judge.rel_diff(np.zeros(2), np.array([0.0, 1e-9])) == 1e-9
    assert judge.rel_diff(np.zeros(2), np.zeros(3)) == float("inf")
    assert judge.rel_diff(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == float("inf")  # NaN on one side only


def test_run_mode_parses_the_original_lines_and_tabulates():
    text = ("Namespace(seed=1)\nIteration 0, time = 3s, loss_lab = 2.0000, loss_unl = 0.5000, train err = 0.9000, "
            "test err = 0.8000\nIteration 1, time = 4s, loss_lab = 1.0000, loss_unl = 0.2500, train err = 0.5000, "
            "test err = 0.4000\n")
    epochs = run.parse_epochs(text)
    assert [e["epoch"] for e in epochs] == [0, 1] and epochs[1]["test_err"] == 0.4 and epochs[0]["seconds"] == 3
    assert run.parse_seeds("1, 2,3") == [1, 2, 3]
    with pytest.raises(UsageError):
        run.parse_seeds("a")
    results = {f"{side}_seed{s}": {"epochs": epochs, "seconds_per_epoch": 2.5, "wall_seconds": 9.0}
               for side in ("original", "port") for s in (1, 2)}
    table = run.markdown_table(results, [1, 2], ["original", "port"])
    assert table.splitlines()[2] == "| 1 | 0.4000 | 2.50 | 0.4000 | 2.50 |" and "mean +- sd" in table


# ------------------------------------------------------------------------------- the judge and the fed numbers


def test_judge_float64_passes_rounding_and_names_the_first_real_difference():
    exact = np.linspace(-1.0, 1.0, 50)
    lines = []
    verdict = judge.Judge("float64", lines.append, learning_rate=3e-3)
    verdict.compare("step 1", "disc", ["a.W", "a.b"], [exact, exact], [exact * (1 + 1e-13), exact])
    verdict.losses("step 1", ["loss_lab"], [2.5], [2.5 * (1 + 1e-12)])
    assert verdict.first_failure is None and verdict.max_diff < 1e-11
    verdict.compare("step 2", "gen", ["b.W", "b.b"], [exact, exact], [exact, exact + 1e-6])
    verdict.compare("step 3", "gen", ["c.W"], [exact], [exact + 1.0])
    assert verdict.first_failure.startswith("step 2, gen tensor b.b: rel diff 1.000e-06")
    verdict = judge.Judge("float64", lines.append)
    verdict.losses("step 1", ["loss_lab", "loss_unl"], [2.5, 0.7], [2.5, 0.7 * (1 + 1e-6)])
    assert verdict.first_failure.startswith("step 1, loss_unl")
    with pytest.raises(ValueError):
        judge.Judge("float16", lines.append)


def test_judge_zero_update_exception_needs_evidence_from_both_sides():
    """A tensor whose exact gradient is zero is judged on the absolute scale only when both sides' gradients show
    it; with the evidence from one side only, the same difference fails."""
    names = ["bn.W", "bn.b"]
    tiny = np.full(4, 1e-18)
    grads = [np.ones((4, 4)), tiny]
    original, port = [np.ones((4, 4)), np.full(4, 1e-17)], [np.ones((4, 4)), np.full(4, 3e-17)]
    verdict = judge.Judge("float64", lambda line: None, learning_rate=3e-3)
    verdict.zero_updates.observe(names, grads, grads)
    verdict.compare("step 1", "gen", names, original, port, steps=1, trainable_names=names)
    assert verdict.first_failure is None and list(verdict.exempt) == ["bn.b"]
    assert any("bn.b" in line for line in verdict.summary_lines())
    verdict = judge.Judge("float64", lambda line: None, learning_rate=3e-3)
    verdict.zero_updates.observe(names, grads, [np.ones((4, 4)), np.full(4, 1e-3)])  # the port's is not zero
    verdict.compare("step 1", "gen", names, original, port, steps=1, trainable_names=names)
    assert verdict.first_failure.startswith("step 1, gen tensor bn.b")
    verdict = judge.Judge("float64", lambda line: None, learning_rate=3e-3)  # evidence, but the tensor moved
    verdict.zero_updates.observe(names, grads, grads)
    verdict.compare("step 1", "gen", names, original, [port[0], np.full(4, 1e-9)], steps=1, trainable_names=names)
    assert "moved" in verdict.first_failure


def test_judge_float32_is_against_the_originals_own_spread():
    exact = np.linspace(-1.0, 1.0, 50)
    verdict = judge.Judge("float32", lambda line: None)
    # the original's float32 run is 1e-5 from its float64 run: 20x that passes, 40x fails
    verdict.compare("step 1", "disc", ["w"], [exact], [exact + 2e-4], controls=[exact + 1e-5])
    assert verdict.first_failure is None
    verdict.compare("step 2", "disc", ["w"], [exact], [exact + 4e-4], controls=[exact + 1e-5])
    assert verdict.first_failure.startswith("step 2, disc tensor w") and "control" in verdict.first_failure
    verdict = judge.Judge("float32", lambda line: None)  # a spread of zero: the floor
    verdict.compare("step 1", "avg", ["w"], [exact], [exact + 1e-3], controls=[exact])
    assert verdict.first_failure is not None


def test_fed_uniforms_are_exact_in_float32_reproducible_and_keyed():
    u = fed_random.uniforms(3, "0/disc/layer1/lab+unl+fake", (2, 5000))
    assert u.dtype == np.float64 and u.min() > 0 and u.max() < 1
    np.testing.assert_array_equal(u.astype(np.float32).astype(np.float64), u)          # exact in float32
    np.testing.assert_array_equal((u * 2 ** 24) % 2, np.ones_like(u))                    # odd multiples of 2**-24
    np.testing.assert_array_equal(u, fed_random.uniforms(3, "0/disc/layer1/lab+unl+fake", (2, 5000)))
    assert not np.array_equal(u, fed_random.uniforms(3, "0/disc/layer2/lab+unl+fake", (2, 5000)))
    assert not np.array_equal(u, fed_random.uniforms(4, "0/disc/layer1/lab+unl+fake", (2, 5000)))
    assert abs(u.mean() - 0.5) < 0.01


def test_fed_normals_are_the_ports_box_muller_and_split_by_pass():
    import tensorflow as tf

    from improved_gan_tf2.layers import box_muller_normal

    rows, features = [3, 4, 2], (5, 6, 7)   # an odd element count: the last sine is dropped
    normals = fed_random.noise_normals(1, "2/disc", 0, ("lab", "unl", "fake"), rows, features)
    pairs = fed_random.noise_uniforms(1, "2/disc", 0, ("lab", "unl", "fake"), rows, features)
    ours = box_muller_normal(tf.constant(pairs), (9,) + features).numpy()
    np.testing.assert_allclose(normals, ours, rtol=0, atol=1e-14)
    unl = fed_random.split_rows(normals, ("lab", "unl", "fake"), rows, "unl")
    np.testing.assert_array_equal(unl, normals[3:7])
    assert fed_random.to_original_layout(unl).shape == (4, 7, 5, 6)
    assert fed_random.port_features((96, 16, 8)) == (16, 8, 96)
    assert fed_random.calls("disc", True, True) == [("lab", "unl", "fake")]
    assert fed_random.calls("disc", False, False) == [("lab",), ("unl",), ("fake",)]
    assert fed_random.calls("gen", True, True) == [("real",), ("fake",)]


def test_port_feed_gives_every_random_layer_its_calls_and_refuses_another_pattern():
    """On the MNIST model: a train step draws exactly the fed plan (one joint discriminator call per layer, a real
    and a generated pass per generator step); the layers' noise is the fed uniforms' Box-Muller; a model that
    draws once more is stopped with the layer's name."""
    import tensorflow as tf

    gan = step.build_port(SCRIPTS["train_mnist_feature_matching"], 1.0, "float64")
    feed = feeds.PortFeed(gan, seed=5).install()
    seen = []
    layer = feed.layers[1]
    draw = layer.draw_uniforms
    layer.draw_uniforms = lambda half, dtype: seen.append(draw(half, dtype)) or seen[-1]
    x = tf.constant(np.random.RandomState(0).rand(100, 784), tf.float64)
    y = tf.constant(np.arange(100) % 10, tf.int32)
    with step.keras_floatx("float64"):
        gan.train_step((x, y, x, x))
        feed.check_done("step")
        expected = fed_random.noise_uniforms(5, "0/disc", 1, ("lab", "unl", "fake"), [100, 100, 100], (1000,))
        np.testing.assert_array_equal(seen[0].numpy(), expected)
        assert len(seen) == 3 and feed.t == 0  # the joint pass, the real and the generated pass
        with pytest.raises(feeds.FeedError, match="input_noise drew random numbers more often"):
            gan.discriminator(x, training=True)  # a pass the original does not make
        feed.expect_init()
        with pytest.raises(feeds.FeedError, match="fewer random numbers"):  # the init's draws not made
            feed.check_done("before the first step")


def test_loop_mode_pieces():
    assert loop.ramp_epochs(1) is None and loop.ramp_epochs(3) == 0.8
    assert 3.0 - 2 / loop.ramp_epochs(3) == 0.5   # the last epoch at half the rate
    line = "Iteration 1, time = 4s, loss_lab = 0.1283, loss_unl = 0.0884, train err = 0.0355, test err = 0.3040"
    assert loop.printed_figures_agree(line, line.replace("time = 4s", "time = 9s"))
    assert loop.printed_figures_agree(line, line.replace("0.1283", "0.1284"))   # one unit: rounding
    assert not loop.printed_figures_agree(line, line.replace("0.1283", "0.1285"))
    assert not loop.printed_figures_agree(line, None)
    patches = loop.loop_patches(SCRIPTS["train_cifar_feature_matching"], 0.8)
    text = "lr = np.cast[th.config.floatX](args.learning_rate * np.minimum(3. - epoch/400., 1.))"
    assert "epoch/0.8" in patcher.apply_patches(text, patches, "probe")
    assert not loop.loop_patches(SCRIPTS["train_mnist_feature_matching"], None)


def test_loop_mode_mnist_data_is_short_epochs_the_original_can_tile(tmp_path):
    """MNIST loops train on MNIST_LOOP_TRAIN digits (10 iterations an epoch: within the rounding regime), read by the
    port from the written file; the labelled set (10 x count) divides it, or the original fails; the custom-labels
    script's labels are int32 (its T.ivector takes np.load as it is) and its split is patched to match."""
    for name in ("train_mnist_feature_matching", "train_mnist_fm_custom_labels"):
        flags, original_args, _ = loop.write_loop_data(SCRIPTS[name], str(tmp_path / name), seed=1)
        assert flags["dataset"] == "mnist_npz" and flags["data_dir"] == str(tmp_path / name)
        data = np.load(tmp_path / name / "mnist.npz")
        if name == "train_mnist_feature_matching":
            assert len(data["x_train"]) + len(data["x_valid"]) == loop.MNIST_LOOP_TRAIN
        else:
            labels = np.load(flags["labels"])
            assert labels.dtype == np.int32 and flags["train_examples"] == loop.MNIST_LOOP_TRAIN
            assert 0.05 < np.mean(labels != data["y_test"]) < 0.15   # 10% replaced at random (some by themselves)
            text = "trainx = trainx[0:8000]\ntrainy = trainy[0:8000]\nt = y[:8000]\ntestx = x[8000:]\ny[8000:]"
            patched = patcher.apply_patches(text, loop.loop_patches(SCRIPTS[name], None), "probe")
            assert "8000" not in patched and f"[{loop.MNIST_LOOP_TRAIN}:]" in patched
    assert loop.MNIST_LOOP_TRAIN % (10 * loop.LOOP_COUNTS["mnist"]) == 0


# -------------------------------------------------------------------------------------------- the real thing


def _original():
    original_dir = os.environ.get("IGAN_ORIGINAL_DIR")
    python = os.environ.get("IGAN_ORIGINAL_PYTHON")
    if not (original_dir and python):
        pytest.skip("set IGAN_ORIGINAL_DIR (a checkout of openai/improved-gan) and IGAN_ORIGINAL_PYTHON (the Python "
                    "of an environment made by `python -m improved_gan_tf2.compare setup`) to run the original")
    return original_dir, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(python))))


def _compare(root, *argv):
    """``python -m improved_gan_tf2.compare ...`` with the package at ``root`` (a planted copy, or this one)."""
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "improved_gan_tf2.compare"] + list(argv), capture_output=True,
                          text=True, env=env, timeout=7200, cwd=root)


#: The runs the planted bugs are checked with, each made once with the unchanged port (whose exit status must be
#: 0) and reused (--reuse_original) with each plant: (mode, script, extra arguments).
PLANT_RUNS = {
    "mnist_step": ("step", "train_mnist_feature_matching", ["--steps=3"]),
    "cifar_step": ("step", "train_cifar_feature_matching", ["--steps=2", "--width_scale=0.125"]),
    "mnist_loop": ("loop", "train_mnist_feature_matching", ["--epochs=1"]),
    "cifar_loop": ("loop", "train_cifar_feature_matching", ["--epochs=2", "--width_scale=0.125"]),
}

#: Each planted bug: (name, run, file, old text, new text, what the first divergence must name). Kept with
#: tests/README.md's list; the old text must occur exactly once (so that a plant cannot go stale silently).
PLANTS = [
    ("adam beta_1 0.5 -> 0.6", "mnist_step", "improved_gan_tf2/optimizers.py",
     "def __init__(self, learning_rate=0.001, beta_1=0.5,", "def __init__(self, learning_rate=0.001, beta_1=0.6,",
     "step 2, "),
    ("average after the update", "mnist_step", "improved_gan_tf2/models/semi_supervised.py",
     "        self.parameter_average.update()\n        self.discriminator_optimizer.apply_gradients(zip(gradients, "
     "discriminator_variables))\n",
     "        self.discriminator_optimizer.apply_gradients(zip(gradients, discriminator_variables))\n"
     "        self.parameter_average.update()\n", "step 1, avg tensor"),
    ("average rate 1e-4 -> 2e-4", "mnist_step", "improved_gan_tf2/optimizers.py",
     "        self.rate = float(rate)\n", "        self.rate = 2.0 * float(rate)\n", "step 1, avg tensor"),
    ("feature matching L2 -> L1", "mnist_step", "improved_gan_tf2/losses.py",
     "tf.reduce_mean(tf.square(difference))", "tf.reduce_mean(tf.abs(difference))", "step 1, loss_gen[0]"),
    ("loss_unl with unlabelled and generated logits swapped", "mnist_step",
     "improved_gan_tf2/models/semi_supervised.py",
     "losses.unsupervised_loss(logits_unl, logits_gen, self.label_smoothing)",
     "losses.unsupervised_loss(logits_gen, logits_unl, self.label_smoothing)", "step 1, loss_unl"),
    ("noise sigma 0.5 -> 0.4", "mnist_step", "improved_gan_tf2/networks/mnist.py",
     "GaussianNoise(0.5, ", "GaussianNoise(0.4, ", "init, disc tensor"),
    ("dropout rate 0.5 -> 0.4", "cifar_step", "improved_gan_tf2/networks/cifar_svhn.py",
     "keras.layers.Dropout(0.5, ", "keras.layers.Dropout(0.4, ", "init, disc tensor"),
    ("learning-rate ramp", "cifar_loop", "improved_gan_tf2/experiments/registry.py",
     "base * min(3.0 - epoch / float(self.ramp_epochs), 1.0)",
     "base * min(3.0 - epoch / float(self.ramp_epochs) / 2.0, 1.0)", "epoch 1"),
    ("floor instead of ceil labelled tiling", "cifar_loop", "improved_gan_tf2/experiments/cifar_svhn.py",
     'tiling="ceil"', 'tiling="floor"', "epoch 0"),
    ("test error of the raw parameters", "mnist_loop", "improved_gan_tf2/models/semi_supervised.py",
     'self.trackers["test_err"].update_state(errors(averaged_logits), sample_weight=weights)',
     'self.trackers["test_err"].update_state(errors(self.discriminator(images, training=False)[0]), '
     'sample_weight=weights)', "epoch 0"),
]


class _OriginalRuns(dict):
    """The unchanged port against the original in each run of :data:`PLANT_RUNS`, made on first use (so that ``-k``
    selects which run): ``(arguments, completed process)``; the work directories keep the original's outputs for
    the plants."""

    def __init__(self, original_dir, env_dir, work):
        super().__init__()
        self.original_dir, self.env_dir, self.work = original_dir, env_dir, work

    def __missing__(self, name):
        mode, script, extra = PLANT_RUNS[name]
        args = [mode, f"--script={script}", f"--original_dir={self.original_dir}", f"--env_dir={self.env_dir}",
                f"--work_dir={self.work / name}"] + extra
        self[name] = (args, _compare(ROOT, *args))
        return self[name]


@pytest.fixture(scope="module")
def original_runs(tmp_path_factory):
    original_dir, env_dir = _original()
    return _OriginalRuns(original_dir, env_dir, tmp_path_factory.mktemp("compare_runs"))


@pytest.mark.parametrize("run_name", sorted(PLANT_RUNS))
def test_the_unchanged_port_agrees_with_the_original(original_runs, run_name):
    args, result = original_runs[run_name]
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("max_rel_diff=") and "precision=float64" in last
    if args[0] == "step":  # float64 end to end: rounding level
        assert float(last.split()[0].split("=")[1]) <= 1e-9


@pytest.mark.parametrize("plant", PLANTS, ids=[p[0] for p in PLANTS])
def test_a_planted_bug_fails_the_comparison(original_runs, plant, tmp_path):
    """Each bug of :data:`PLANTS`, planted in a copy of the port: exit status 1 and the first divergence named."""
    name, run_name, file, old, new, named = plant
    copy = tmp_path / "port"
    shutil.copytree(os.path.join(ROOT, "improved_gan_tf2"), copy / "improved_gan_tf2",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / file
    text = path.read_text()
    assert text.count(old) == 1, f"{name}: the text to plant in {file} changed; update PLANTS"
    path.write_text(text.replace(old, new))
    args, unchanged = original_runs[run_name]
    assert unchanged.returncode == 0, "the unchanged port must pass first"
    result = _compare(str(copy), *(args + ["--reuse_original"]))
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{name}: exit {result.returncode}\n" + output[-3000:]
    divergence = [line for line in output.splitlines() if line.startswith("FIRST DIVERGENCE: ")]
    assert divergence and divergence[0][len("FIRST DIVERGENCE: "):].startswith(named), (name, divergence)


# ------------------------------------------------------------------------------ the pages' commands, as written

#: The bash blocks of compare commands a user reads: (page, heading, index of the bash block under that heading).
COMPARE_BLOCKS = [("README.md", "Comparing with the original release", 0),
                  ("docs/compare.md", "Comparing with the original release", 0),
                  ("docs/compare.md", "run: full runs, test error against epoch", 0)]
COMPARE = ["python", "-m", "improved_gan_tf2.compare"]


def _page_compare_commands():
    """``(where, words)`` of every ``python -m improved_gan_tf2.compare`` command of :data:`COMPARE_BLOCKS`, read
    from the pages (``where``: the page and the line of its block)."""
    from docs_pages import block, commands

    found = []
    for page, heading, index in COMPARE_BLOCKS:
        chosen = block(page, heading, "bash", index)
        found += [(chosen.where, words) for words in commands(chosen.text) if words[:3] == COMPARE]
    return found


def _as_run_here(words, original_dir, env_dir):
    """A page's compare command as this test runs it: only the placeholders and the long settings replaced --
    ``--original_dir`` (``PATH/TO/improved-gan`` or ``...``) by the checkout, the optional ``[--flag=VALUE]`` by
    what this machine has (``--env_dir``: the environment of IGAN_ORIGINAL_PYTHON; ``--lasagne``: the default
    source, which ``setup`` does not fetch for an environment that already imports Lasagne), ``--steps`` and
    ``--epochs`` by 1 and ``--seeds`` by its first seed. Every flag keeps the page's spelling."""
    from improved_gan_tf2.compare.env import DEFAULT_LASAGNE

    optional_values = {"--env_dir": env_dir, "--lasagne": DEFAULT_LASAGNE}
    out = []
    for word in words:
        optional = re.fullmatch(r"\[(--[\w-]+=[^\]]*)\]", word)
        flag, _, value = (optional.group(1) if optional else word).partition("=")
        if optional:
            assert flag in optional_values, f"an optional flag this test does not know how to fill: {word}"
            word = f"{flag}={optional_values[flag]}"
        elif flag == "--original_dir":
            assert value in ("PATH/TO/improved-gan", "..."), f"--original_dir is not a placeholder: {word}"
            word = f"{flag}={original_dir}"
        elif flag in ("--steps", "--epochs"):
            word = f"{flag}=1"
        elif flag == "--seeds":
            word = f"{flag}={value.split(',')[0]}"
        out.append(word)
    left = [w for w in out if "PATH/TO" in w or "..." in w or w.startswith("[")]
    assert not left, f"placeholders left in {' '.join(out)}: {left}"
    return out


def _run_out_dir(words, cwd):
    """Where a run-mode command writes: its ``--out_dir``, else ``runs/compare_<script>``, under ``cwd``."""
    flags = dict(word.partition("=")[::2] for word in words[4:])
    return os.path.join(cwd, flags.get("--out_dir") or f"runs/compare_{flags['--script']}")


def _check_compare_command(where, words, cwd, env, env_dir, kept=False):
    """Run one compare command (its words as :func:`_as_run_here` made them) in ``cwd`` and check what the pages
    say its mode does; an AssertionError naming the page and the command otherwise. ``kept``: a run-mode command
    whose results.json holds both sides' runs already, which it must keep (and still tabulate and plot)."""
    from docs_pages import run as run_page_command

    result = run_page_command(words, cwd, timeout=3600, env=env)
    output = result.stdout + result.stderr
    said = f"{where}: {' '.join(words)}\nexit {result.returncode}\n{output[-4000:]}"
    assert result.returncode == 0, said
    mode = words[3]
    lines = result.stdout.strip().splitlines()
    if mode == "setup":   # the patched copy, each patch printed with its reason; the working environment kept
        assert f"environment {os.path.join(env_dir, 'venv')} already imports Theano and Lasagne; kept" in output, said
        assert len([line for line in lines if line.startswith("patched ") and " -- " in line]) == \
            len(patcher.all_patches()), said
        assert any(line.startswith(f"original environment ready in {env_dir}: ") for line in lines), said
        for script in SCRIPTS.values():
            assert os.path.isfile(os.path.join(env_dir, "scripts", script.file)), said
    elif mode in ("step", "loop"):   # exit 0, no divergence, the last line the verdict
        assert not any(line.startswith("FIRST DIVERGENCE") for line in lines), said
        assert lines[-1].startswith("max_rel_diff=") and "precision=float64" in lines[-1], said
        if mode == "step":
            assert float(lines[-1].split()[0].split("=")[1]) <= 1e-9, said
    else:   # run: a Markdown table and a plot of test error against epoch, in --out_dir (runs/compare_<script>)
        assert mode == "run", said
        flags = dict(word.partition("=")[::2] for word in words[4:])
        out = _run_out_dir(words, cwd)
        done = [line for line in lines if line.endswith(f"_seed{flags['--seeds']}: done before "
                                                        f"({os.path.join(out, 'results.json')}), kept")]
        assert len(done) == (2 if kept else 0), said
        with open(os.path.join(out, "table.md")) as stream:
            table = stream.read().splitlines()
        seed = flags["--seeds"]
        assert table[0].startswith("| seed | original: ") and any(row.startswith(f"| {seed} | ") for row in table), \
            said + "\n".join(table)
        with open(os.path.join(out, "test_error.png"), "rb") as stream:
            assert stream.read(8) == b"\x89PNG\r\n\x1a\n", said
        assert lines[-1] == f"table: {os.path.join(out, 'table.md')}; plot: {os.path.join(out, 'test_error.png')}", said


def test_the_pages_compare_commands_run_as_written(tmp_path):
    """Every compare command of README.md's and docs/compare.md's blocks (:data:`COMPARE_BLOCKS`), from the page
    text, run in a checkout-like directory with the original of IGAN_ORIGINAL_DIR and the environment of
    IGAN_ORIGINAL_PYTHON (also the default of the commands without --env_dir, through IGAN_ORIGINAL_ENV), at 1
    step, 1 epoch and one seed: setup exits 0 keeping the environment, step and loop exit 0 with their verdict line,
    run writes its table and plot. A command that two pages show alike is run once; a run command that differs from
    an earlier one only in ``--out_dir`` starts from that one's results.json (run mode's resumption: it keeps both
    sides' runs and writes its own table and plot), which saves both sides' training a second time."""
    import time

    from docs_pages import checkout
    from helpers import ENV
    from improved_gan_tf2.compare.env import check_env

    original_dir, env_dir = _original()
    check_env(env_dir, original_dir)   # a working environment, which setup keeps (it would otherwise build one)
    env = dict(ENV, IGAN_ORIGINAL_ENV=env_dir)
    cwd = checkout(tmp_path / "checkout")
    seen, runs, ran = set(), {}, []
    page_commands = _page_compare_commands()
    assert {words[3] for _, words in page_commands} == {"setup", "step", "loop", "run"}, page_commands
    for where, words in page_commands:
        words = _as_run_here(words, original_dir, env_dir)
        if tuple(words) in seen:
            continue
        seen.add(tuple(words))
        kept = False
        if words[3] == "run":
            same = tuple(word for word in words if not word.startswith("--out_dir="))
            out = _run_out_dir(words, cwd)
            if same in runs and runs[same] != out:
                os.makedirs(out)
                shutil.copyfile(os.path.join(runs[same], "results.json"), os.path.join(out, "results.json"))
                kept = True
            runs.setdefault(same, out)
        started = time.time()
        _check_compare_command(where, words, cwd, env, env_dir, kept)
        ran.append(f"{time.time() - started:4.0f} s  {where}: {' '.join(words[3:5])}" + (" (kept)" if kept else ""))
    print("\n".join(ran))


def test_a_misspelt_flag_in_a_page_command_fails_the_check(tmp_path):
    """The check above is not blind to the page: a copy of the page's step command with ``--steps`` misspelt fails
    it (the tool exits 2 on the unknown flag, before looking for the original)."""
    from docs_pages import checkout
    from helpers import ENV

    where, words = next((where, words) for where, words in _page_compare_commands() if words[3] == "step")
    planted = [word.replace("--steps=", "--stpes=") for word in words]
    assert planted != words
    planted = _as_run_here(planted, str(tmp_path / "original"), str(tmp_path / "env"))
    with pytest.raises(AssertionError, match=r"(?s)exit 2\n.*unrecognized arguments: --stpes=3"):
        _check_compare_command(where, planted, checkout(tmp_path / "checkout"), ENV, str(tmp_path / "env"))


def test_the_pages_test_command_sets_what_this_files_gate_reads(monkeypatch):
    """docs/compare.md's pytest command (under "Not compared, and the tests") runs this file with exactly the
    variables its gate reads: with the page's assignments (and no other IGAN_ORIGINAL_*) the gated tests run, without
    any one of them they are skipped; its Python is the one ``setup`` makes by default."""
    from docs_pages import block, commands
    from improved_gan_tf2.compare.env import env_dir

    chosen = block("docs/compare.md", "Not compared, and the tests", "bash")
    (words,) = commands(chosen.text)
    assignments = {}
    while re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = os.path.expanduser(value)   # the shell expands ~ after = in an assignment
    assert words[:3] == ["python", "-m", "pytest"] and "tests/test_compare.py" in words[3:], (chosen.where, words)
    assert sorted(assignments) == ["IGAN_ORIGINAL_DIR", "IGAN_ORIGINAL_PYTHON"], chosen.where
    for name in [name for name in os.environ if name.startswith("IGAN_ORIGINAL")]:
        monkeypatch.delenv(name)
    for name, value in assignments.items():
        monkeypatch.setenv(name, value)
    original_dir, root = _original()   # not skipped
    assert original_dir == assignments["IGAN_ORIGINAL_DIR"] and root == env_dir(None)
    assert _original_python() == assignments["IGAN_ORIGINAL_PYTHON"]
    for name in assignments:
        with monkeypatch.context() as without:
            without.delenv(name)
            with pytest.raises(pytest.skip.Exception, match=name):
                _original()
