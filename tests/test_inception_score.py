"""Inception score and FID (``inception_score/``) against independent references of the original's definition.

The graph is ``inception_score.fake_graph.small_graph_def``: random weights, but the real graph's tensor names and
traps (``ExpandDims`` at batch 1, ``_output_shapes`` hints at batch 1, ``pool_3/_reshape`` to ``[1, N]``, a
non-zero bias after ``softmax/logits/MatMul``, the legacy ``BatchNormWithGlobalNormalization`` op). References:
a NumPy forward pass of the same weights with the original's score formula, and the original's own procedure
(a TF1 session, one image per call, fed to ``ExpandDims:0``).
"""
import io
import os
import re
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import scipy.special
import tensorflow as tf

from inception_score import fake_graph, model
from inception_score import graph as inception_graph  # `graph` is a fixture below

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16  # the fake graph resizes to SIZE x SIZE (the real one to 299)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """Never touch the network, the user's cache or $INCEPTION_DIR."""
    monkeypatch.setenv(model.ENV_NO_DOWNLOAD, "1")
    monkeypatch.delenv(model.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    graph_def, weights = fake_graph.small_graph_def(image_size=SIZE)
    directory = str(tmp_path_factory.mktemp("graph"))
    fake_graph.write_graph(graph_def, directory)
    return directory, graph_def, weights


def make_images(rng, n, h, w):
    """Images in 0..255 with a random colour each, so the network's predictions differ between images."""
    base = rng.uniform(0, 255, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 40, (n, h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------------
# Independent references


def np_resize_bilinear(x, size):
    """TF's ResizeBilinear (align_corners=False, half_pixel_centers=False): source = dest * in / out."""
    def axis(n_in):
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    ylo, yhi, fy = axis(x.shape[1])
    xlo, xhi, fx = axis(x.shape[2])
    fx = fx[None, None, :, None]
    rows = lambda r: x[:, r][:, :, xlo] * (1 - fx) + x[:, r][:, :, xhi] * fx  # noqa: E731
    fy = fy[None, :, None, None]
    return rows(ylo) * (1 - fy) + rows(yhi) * fy


def np_conv_same(x, k):
    kh, kw = k.shape[:2]
    pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    return sum(pad[:, i:i + h, j:j + w] @ k[i, j] for i in range(kh) for j in range(kw))


def np_features_and_probs(images, w, bias=False):
    """NumPy float64 forward pass of the fake graph, one image at a time; probs = softmax(pool_3 @ W [+ b])."""
    feats = []
    for img in images:
        x = np_resize_bilinear(np.asarray(img, np.float64)[None], SIZE)
        x = (x - 128.0) * (1.0 / 128.0)
        x = np_conv_same(x, w["conv"].astype(np.float64))
        x = (x - w["bn_mean"]) / np.sqrt(w["bn_var"] + w["bn_eps"]) * w["bn_gamma"] + w["bn_beta"]
        x = np.maximum(x, 0)
        x = np.concatenate([np.maximum(np_conv_same(x, w[k].astype(np.float64)), 0)
                            for k in ("mixed_a", "mixed_b")], axis=-1)
        feats.append(x.mean(axis=(1, 2))[0])
    feats = np.array(feats)
    logits = feats @ w["softmax_w"] + (w["softmax_b"] if bias else 0)
    return feats, scipy.special.softmax(logits, axis=1)


def np_inception_score(probs, splits):
    """exp(E_x KL(p(y|x) || p(y))) per part (parts cut at i * n // splits, as the original); mean and std."""
    n, scores = len(probs), []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        kl = scipy.special.rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return np.mean(scores), np.std(scores)


def original_session_probs(graph_def, images, fetch_softmax=False):
    """The original's procedure: import the GraphDef into a TF1 graph, feed ExpandDims:0 one image at a time and
    fetch softmax(matmul(squeeze(pool_3), W)) (or, with ``fetch_softmax``, the graph's own ``softmax:0``)."""
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(graph_def, name="")
        pool_3 = g.get_tensor_by_name("pool_3:0")
        weights = g.get_operation_by_name("softmax/logits/MatMul").inputs[1]
        out = g.get_tensor_by_name("softmax:0") if fetch_softmax else tf.nn.softmax(
            tf.matmul(tf.squeeze(pool_3, [1, 2]), weights))
        with tf.compat.v1.Session(graph=g) as sess:
            return np.concatenate([sess.run(out, {"ExpandDims:0": img[None].astype(np.float32)})
                                   for img in images])


def np_fid(f1, f2):
    """|mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), the trace from the eigenvalues of S1 S2."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2)
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.abs(eig.real)))


# ------------------------------------------------------------------------------------------------------------
# The score


def test_score_matches_numpy_formula(graph, rng):
    directory, _, weights = graph
    images = make_images(rng, 100, 12, 12)
    mean, std = model.get_inception_score(list(images), splits=10, model_dir=directory)
    ref_mean, ref_std = np_inception_score(np_features_and_probs(images, weights)[1], 10)
    assert ref_mean > 1.3  # the fake network's predictions vary enough for the check to mean something
    np.testing.assert_allclose([mean, std], [ref_mean, ref_std], rtol=2e-4)


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_batch_sizes_give_the_original_numbers(graph, batch_size):
    directory, graph_def, _ = graph
    images = make_images(np.random.RandomState(5), 100, 12, 12)
    ref = np_inception_score(original_session_probs(graph_def, images), 10)
    got = model.get_inception_score(images, splits=10, batch_size=batch_size, model_dir=directory)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_features_match_the_legacy_batchnorm_kernel(graph, rng):
    """The loader rewrites BatchNormWithGlobalNormalization; the TF1 session still runs the legacy kernel."""
    directory, graph_def, _ = graph
    images = make_images(rng, 5, 12, 12)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            ref = np.concatenate([sess.run("pool_3:0", {"ExpandDims:0": img[None].astype(np.float32)})
                                  for img in images])[:, 0, 0]
    features, _ = model.load_inception(directory)(images)
    np.testing.assert_allclose(features, ref, rtol=1e-5, atol=1e-6)


def test_bias_is_left_out(graph, rng):
    directory, graph_def, weights = graph
    images = make_images(rng, 50, 12, 12)
    got = model.get_inception_score(images, splits=5, model_dir=directory)
    without = np_inception_score(np_features_and_probs(images, weights)[1], 5)
    with_bias = np_inception_score(original_session_probs(graph_def, images, fetch_softmax=True), 5)
    np.testing.assert_allclose(got, without, rtol=2e-4)
    assert abs(with_bias[0] - without[0]) > 0.05  # the graph's own softmax:0 (with the bias) would be caught


def test_any_image_size_list_and_array(graph, rng):
    directory, _, weights = graph
    small, large = make_images(rng, 10, 12, 12), make_images(rng, 10, 23, 37)
    mixed = [small[0], large[0], large[1]] + list(small[1:]) + list(large[2:])
    got = model.get_inception_score(mixed, splits=2, batch_size=4, model_dir=directory)
    np.testing.assert_allclose(got, np_inception_score(np_features_and_probs(mixed, weights)[1], 2), rtol=2e-4)
    as_array = model.get_inception_score(large, splits=2, model_dir=directory)
    as_list = model.get_inception_score(list(large.astype(np.float64)), splits=2, model_dir=directory)
    np.testing.assert_allclose(as_array, as_list, rtol=1e-6)


def test_loaded_once_and_batch_agnostic(graph):
    directory, _, _ = graph
    net = model.load_inception(directory)
    assert model.load_inception(directory) is net
    features, probs = net._fn.structured_outputs
    assert features.shape.as_list() == [None, 2 * 8] and probs.shape.as_list() == [None, 10]


def test_the_fake_graph_has_the_real_traps(graph):
    """A naive port fails on these, so the tests above can fail."""
    _, graph_def, _ = graph
    images = make_images(np.random.RandomState(0), 7, 12, 12).astype(np.float32)
    assert graph_def.versions.producer < 9
    assert any(n.op == "BatchNormWithGlobalNormalization" for n in graph_def.node)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess, pytest.raises(ValueError, match="Cannot feed"):
            sess.run("pool_3:0", {"ExpandDims:0": images})  # ExpandDims has a batch of 1
    with tf.Graph().as_default() as g:
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3])
        tf.graph_util.import_graph_def(graph_def, input_map={"ExpandDims:0": x}, name="")
        with tf.compat.v1.Session(graph=g) as sess, pytest.raises(tf.errors.InvalidArgumentError):
            sess.run("softmax:0", {x: images})  # pool_3/_reshape is hard-coded to [1, N]

    def naive(x):
        return tf.graph_util.import_graph_def(graph_def, input_map={"ExpandDims:0": x},
                                              return_elements=["pool_3:0"])[0]

    fn = tf.compat.v1.wrap_function(naive, [tf.TensorSpec([None, None, None, 3], tf.float32)])
    with pytest.raises(tf.errors.UnimplementedError, match="BatchNormWithGlobalNormalization"):
        fn(images)  # the legacy op cannot run in a TF2 function


@pytest.mark.parametrize("images, message", [
    ([], "no images"),
    ("images.png", "expected a list"),
    ([np.full((8, 8), 200.0)], r"\(H, W, 3\)"),
    ([np.full((8, 8, 4), 200.0)], "3 colour channels"),
    (np.full((8, 8, 3), 200.0), r"For one image, pass \[image\]"),
    (np.full((2, 3, 8, 8), 200.0), "NCHW"),
    ([np.full((8, 8, 3), 0.9)], r"x \* 255"),
    ([np.full((8, 8, 3), 200.0), np.full((8, 8, 3), -1.0)], r"\(x \+ 1\) \* 127.5"),
    ([np.full((8, 8, 3), np.nan)], "NaN"),
    ([np.full((8, 8, 3), 200.0), np.full((8, 8, 3), 300.0)], "found a maximum of 300"),  # scored silently before
])
def test_bad_inputs_raise_value_errors(images, message):
    with pytest.raises(ValueError, match=message):
        model.get_inception_score(images, splits=1)


def test_bad_splits_and_batch_size():
    images = [np.full((8, 8, 3), 200.0)] * 3
    with pytest.raises(ValueError, match="splits"):
        model.get_inception_score(images, splits=4)
    with pytest.raises(ValueError, match="batch_size"):
        model.get_inception_score(images, splits=1, batch_size=0)


# ------------------------------------------------------------------------------------------------------------
# Finding the graph


def test_tgz_is_unpacked(graph, tmp_path, rng):
    directory, graph_def, _ = graph
    fake_graph.write_graph(graph_def, str(tmp_path), as_tgz=True)
    images = make_images(rng, 20, 12, 12)
    got = model.get_inception_score(images, splits=2, model_dir=str(tmp_path))
    np.testing.assert_allclose(got, model.get_inception_score(images, splits=2, model_dir=directory), rtol=1e-6)
    assert sorted(os.listdir(tmp_path)) == [model.GRAPH_NAME, model.TGZ_NAME]  # no temporary files left


def test_search_order(graph, tmp_path, monkeypatch):
    directory, _, _ = graph
    pb = os.path.join(directory, model.GRAPH_NAME)
    cache = os.path.join(str(tmp_path), "xdg_cache", "improved_gan_tf2", "inception")
    assert model.default_cache_dir() == cache
    os.makedirs(cache)
    with open(pb, "rb") as src, open(os.path.join(cache, model.GRAPH_NAME), "wb") as dst:
        dst.write(src.read())
    assert model.find_graph() == os.path.join(cache, model.GRAPH_NAME)
    monkeypatch.setenv(model.ENV_DIR, directory)
    assert model.find_graph() == pb
    assert model.find_graph(str(tmp_path)) == pb  # model_dir holds nothing: $INCEPTION_DIR is next
    assert model.find_graph(pb) == pb


def test_missing_graph_error_names_url_file_and_place(tmp_path):
    empty = str(tmp_path / "empty")
    for call in (lambda: model.find_graph(empty, download=False),
                 lambda: model.get_inception_score([np.full((8, 8, 3), 200.0)], splits=1, model_dir=empty)):
        with pytest.raises(model.InceptionGraphNotFoundError) as err:
            call()
        message = str(err.value)
        for needed in (model.DATA_URL, model.GRAPH_NAME, empty, model.ENV_DIR, model.default_cache_dir()):
            assert needed in message


class _Response(io.BytesIO):
    def __init__(self, data, length=None, fail_after=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset")
        return super().read(n if self.fail_after is None else min(n, self.fail_after))


def _tgz_bytes(graph_def, tmp_path):
    return open(fake_graph.write_graph(graph_def, str(tmp_path / "tgz"), as_tgz=True), "rb").read()


def test_download_then_unpack(graph, tmp_path, monkeypatch):
    _, graph_def, _ = graph
    data, calls = _tgz_bytes(graph_def, tmp_path), []

    def urlopen(url, timeout=None):
        calls.append((url, timeout))
        return _Response(data)

    monkeypatch.setattr(inception_graph.urllib.request, "urlopen", urlopen)
    target = str(tmp_path / "target")
    os.makedirs(target)  # an explicit model_dir must exist (test_missing_model_dir_is_not_created)
    path = model.find_graph(target, download=True)
    assert calls == [(model.DATA_URL, model.DOWNLOAD_TIMEOUT_S)]
    assert path == os.path.join(target, model.GRAPH_NAME)
    assert sorted(os.listdir(target)) == [model.GRAPH_NAME, model.TGZ_NAME]
    assert open(path, "rb").read() == graph_def.SerializeToString()


@pytest.mark.parametrize("failure", ["reset", "truncated", "offline"])
def test_failed_download_leaves_nothing(graph, tmp_path, monkeypatch, failure):
    _, graph_def, _ = graph
    data = _tgz_bytes(graph_def, tmp_path)

    def urlopen(url, timeout=None):
        if failure == "offline":
            raise urllib.error.URLError("Temporary failure in name resolution")
        if failure == "reset":
            return _Response(data, fail_after=len(data) // 2)
        return _Response(data[:len(data) // 2], length=len(data))

    monkeypatch.setattr(inception_graph.urllib.request, "urlopen", urlopen)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(model.InceptionGraphNotFoundError,
                       match="(?s)the download failed: .*" + re.escape(model.DATA_URL)):
        model.find_graph(str(target), download=True)
    assert not target.exists() or os.listdir(target) == []


def test_missing_model_dir_is_not_created(tmp_path, monkeypatch):
    """An explicit model_dir that does not exist is an error (the CLI's wording), for the library as for
    ``--model_dir``: nothing is created or downloaded."""
    def urlopen(url, timeout=None):
        raise AssertionError("no download for a mistyped model_dir")

    monkeypatch.setattr(inception_graph.urllib.request, "urlopen", urlopen)
    typo = str(tmp_path / "typo")
    with pytest.raises(model.InceptionGraphNotFoundError, match="--model_dir=%s: no such file or directory"
                       % re.escape(typo)):
        model.find_graph(typo, download=True)
    assert not os.path.exists(typo)


# ------------------------------------------------------------------------------------------------------------
# FID


def test_fid_checks_both_sets_before_scoring(monkeypatch):
    monkeypatch.setattr(model, "_run", lambda *args, **kwargs: pytest.fail("an image set was scored before the check"))
    images = np.full((3, 8, 8, 3), 200.0)
    with pytest.raises(ValueError, match="images_b: the FID needs at least 2 images per set, got 1"):
        model.get_fid(images, images[:1])
    with pytest.raises(ValueError, match="images_a: the FID needs at least 2 images per set, got 1"):
        model.get_fid([images[0]], images)


def test_fid_matches_scipy_free_reference(graph, rng):
    directory, _, weights = graph
    a, b = make_images(rng, 60, 12, 12), make_images(rng, 60, 12, 12) // 2
    got = model.get_fid(a, b, batch_size=25, model_dir=directory)
    ref = np_fid(np_features_and_probs(a, weights)[0], np_features_and_probs(b, weights)[0])
    assert ref > 0.01
    np.testing.assert_allclose(got, ref, rtol=1e-3)
    assert abs(model.get_fid(a, a, model_dir=directory)) < 1e-6 * ref + 1e-9


# ------------------------------------------------------------------------------------------------------------
# Command line


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "inception_score", *args], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=120)


def test_cli_scores_npz_and_png_directory(graph, tmp_path, rng):
    from PIL import Image

    directory, _, _ = graph
    images = make_images(rng, 20, 12, 12)
    np.savez(tmp_path / "images.npz", samples=images)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    others = make_images(rng, 20, 14, 14)
    for i, img in enumerate(others):
        Image.fromarray(img).save(pngs / ("%03d.png" % i))
    out = _cli(str(tmp_path / "images.npz"), "--splits=2", "--batch_size=8", "--model_dir", directory,
               "--fid", str(pngs))
    assert out.returncode == 0, out.stderr
    mean, std = map(float, re.search(r"Inception score: ([\d.]+) ± ([\d.]+)", out.stdout).groups())
    np.testing.assert_allclose([mean, std], model.get_inception_score(images, splits=2, model_dir=directory),
                               atol=1e-4)
    fid = float(re.search(r"FID: ([\d.]+)", out.stdout).group(1))
    np.testing.assert_allclose(fid, model.get_fid(images, list(others), model_dir=directory), rtol=1e-4, atol=1e-4)


def test_cli_errors_are_one_line(tmp_path):
    out = _cli(str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "missing.npz: no such file" in out.stderr and "Traceback" not in out.stderr
    np.save(tmp_path / "x.npy", np.full((2, 8, 8, 3), 200, np.uint8))
    out = _cli(str(tmp_path / "x.npy"), "--splits=1", "--model_dir", str(tmp_path / "empty"),
               INCEPTION_NO_DOWNLOAD="1")
    assert out.returncode == 2 and model.DATA_URL in out.stderr and "Traceback" not in out.stderr


def test_cli_checks_every_input_before_scoring(graph, tmp_path):
    """Issue 16: a zero-byte .npy, a bad --fid set and a mistyped --model_dir each give one line before any image
    is scored, and the mistyped directory is not created."""
    directory, _, _ = graph
    good = tmp_path / "good.npy"
    np.save(good, np.full((4, 8, 8, 3), 200, np.uint8))
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "bright.npy", np.full((4, 8, 8, 3), 300.0))
    cases = [
        ((str(tmp_path / "empty.npy"), "--splits=1", "--model_dir", directory), "empty.npy: cannot read the array"),
        ((str(good), "--splits=1", "--model_dir", directory, "--fid", str(tmp_path / "bright.npy")),
         "bright.npy: pixel values must be in 0..255, found a maximum of 300"),
        ((str(good), "--splits=1", "--model_dir", str(tmp_path / "typo")), "--model_dir=%s: no such file or directory"
         % (tmp_path / "typo")),
    ]
    for args, message in cases:
        out = _cli(*args)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]
        assert "Scoring" not in out.stdout
    assert not (tmp_path / "typo").exists()


@pytest.mark.slow
def test_full_size_graph_batched_equals_original(tmp_path):
    """Inception-v3 size (94 legacy batch norms, 299x299, 2048 features): batched == the original's procedure."""
    graph_def = fake_graph.inception_v3_graph_def()
    fake_graph.write_graph(graph_def, str(tmp_path))
    images = make_images(np.random.RandomState(3), 8, 32, 32)
    ref = np_inception_score(original_session_probs(graph_def, images), 2)
    for batch_size in (1, 8):
        got = model.get_inception_score(images, splits=2, batch_size=batch_size, model_dir=str(tmp_path))
        np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_score_formula_on_given_predictions(rng):
    """Literal original expression where it is finite; 0 log 0 = 0 where the original would give NaN."""
    probs = scipy.special.softmax(rng.normal(0, 3, (30, 7)), axis=1).astype(np.float32)
    n, splits, original = 30, 3, []
    for i in range(splits):
        part = probs[(i * n // splits):((i + 1) * n // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        original.append(np.exp(np.mean(np.sum(kl, 1))))
    assert model.inception_score_from_predictions(probs, splits) == (np.mean(original), np.std(original))
    probs[:, 0] = 0
    probs[:5, 1] = 0
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(model.inception_score_from_predictions(probs, splits),
                               np_inception_score(probs.astype(np.float64), splits), rtol=1e-5)
