"""improved_gan_tf2.compare: cuDNN semantics of the CPU stand-ins, the data writers, the patcher, argument errors.

Nothing here needs Theano or a checkout of the original, except two tests that run only when the environment
says where they are: ``IGAN_ORIGINAL_PYTHON`` (the Python of an environment made by ``compare setup``) and
``IGAN_ORIGINAL_DIR`` (a checkout of openai/improved-gan).
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from improved_gan_tf2.compare import cudnn_numpy, patcher, run, step
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
    assert len(lines) == len(applied) + 1 and all(line.startswith("patched ") for line in lines[:-1])
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
    assert harness.model_source(path) == "a = 1\nlayers = []\n"


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


# ----------------------------------------------------------------------------------------- pieces of the drivers


def test_average_convention_and_relative_difference():
    p0, p1, p2 = (np.full(3, v) for v in (1.0, 2.0, 4.0))
    before = step.predicted_averages([[p0], [p1], [p2]], [True])
    np.testing.assert_allclose(before[0][0], 1e-4 * p0)           # the original: a1 = 1e-4 p0
    np.testing.assert_allclose(before[1][0], 1e-4 * p0 + 1e-4 * (p1 - 1e-4 * p0))
    assert step.rel_diff(np.array([2.0, -4.0]), np.array([2.0, -3.0])) == 0.25
    assert step.rel_diff(np.zeros(2), np.array([0.0, 1e-9])) == 1e-9
    assert step.rel_diff(np.zeros(2), np.zeros(3)) == float("inf")


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


# -------------------------------------------------------------------------------------------- the real thing


def test_step_mode_against_the_original(tmp_path):
    original_dir = os.environ.get("IGAN_ORIGINAL_DIR")
    python = os.environ.get("IGAN_ORIGINAL_PYTHON")
    if not (original_dir and python):
        pytest.skip("set IGAN_ORIGINAL_DIR (a checkout of openai/improved-gan) and IGAN_ORIGINAL_PYTHON (the Python "
                    "of an environment made by `python -m improved_gan_tf2.compare setup`) to run step mode")
    env_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(python))))
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "improved_gan_tf2.compare", "step",
                             "--script=train_mnist_feature_matching", f"--original_dir={original_dir}",
                             f"--env_dir={env_dir}", "--steps=2", f"--work_dir={tmp_path}"],
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("max_rel_param_diff=") and last.endswith("steps=2 script=train_mnist_feature_matching")


def test_step_report_accepts_round_off_and_rejects_a_real_difference():
    lines = []
    report = step.Report(lines.append)
    exact = np.linspace(-1.0, 1.0, 50)
    # float64 gradients agree: passes although the float32 ones differ (a kink crossed in float32)
    report.gradients(1, "disc", ["w"], [exact + 1e-3], [exact], [exact], [exact + 1e-9])
    # float32 within twice the original's own float32 error: passes although float64 differs (resolution limit)
    report.gradients(1, "disc", ["v"], [exact + 2e-5], [exact], [exact], [exact + 1e-7])
    assert report.first_failure is None and report.grad_ok == {("disc", "w"): True, ("disc", "v"): True}
    # parameters beyond the tolerance are accepted for tensors whose gradients passed, and listed
    report.tensors(2, "disc", ["w", "u"], [exact, exact], [exact + 1e-3, exact + 1e-6], 1e-4, grad_group="disc")
    assert report.first_failure is None and list(report.accepted) == [("disc", "w")]
    # a real difference: float64 gradients differ and float32 is far beyond the original's own error
    report.gradients(2, "gen", ["x"], [exact], [exact * 1.01], [exact], [exact * 1.01])
    assert report.first_failure.startswith("step 2, gradient of gen tensor x")
    report = step.Report(lines.append)
    report.tensors(1, "gen", ["y"], [exact], [exact + 1e-3], 1e-5, grad_group="gen")  # no gradient evidence
    assert report.first_failure.startswith("step 1, gen tensor y")
