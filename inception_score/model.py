"""Inception score (Salimans et al., 2016, Sec. 4, Table 3) on the 2015 Inception graph, in TF2.

Port of ``inception_score/model.py`` of ``openai/improved-gan``. Same graph
(``classify_image_graph_def.pb`` from ``inception-2015-12-05.tgz``), same tensors (images 0..255 fed in place of
``ExpandDims:0``, logits ``matmul(squeeze(pool_3:0), W)`` with ``W`` the weight input of
``softmax/logits/MatMul`` and no bias) and the same score, but batched (the original runs one image per call,
its issue #32), loaded once per process without TF1 sessions, and with no download at import time.

Beyond the original: :func:`get_fid`, the Frechet Inception Distance of Heusel et al. (2017) on the same graph's
``pool_3`` features.
"""
import os
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib

import numpy as np

DATA_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
TGZ_NAME = "inception-2015-12-05.tgz"
GRAPH_NAME = "classify_image_graph_def.pb"
ENV_DIR = "INCEPTION_DIR"  # a directory holding the .pb or the .tgz
ENV_NO_DOWNLOAD = "INCEPTION_NO_DOWNLOAD"  # set to 1 to never touch the network
DOWNLOAD_TIMEOUT_S = 15

INPUT_TENSOR = "ExpandDims:0"
POOL_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"

_LOCK = threading.Lock()
_NETWORKS = {}  # realpath of the .pb -> loaded network, so each graph is loaded once per process


class InceptionGraphNotFoundError(FileNotFoundError):
    """The Inception graph is in none of the searched places and could not be downloaded."""


# --------------------------------------------------------------------------------------------------------------
# Finding the graph file


def default_cache_dir():
    """``$XDG_CACHE_HOME/improved_gan_tf2/inception`` (``~/.cache/...`` when the variable is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "improved_gan_tf2", "inception")


def _search_dirs(model_dir):
    out = []
    for d in (model_dir, os.environ.get(ENV_DIR), default_cache_dir()):
        d = d and os.path.abspath(os.path.expanduser(d))
        if d and d not in out:
            out.append(d)
    return out


def _download_allowed(download):
    if download is not None:
        return bool(download)
    return os.environ.get(ENV_NO_DOWNLOAD, "").strip().lower() in ("", "0", "false", "no")


def check_model_dir(model_dir):
    """Raise :class:`InceptionGraphNotFoundError` when ``model_dir`` is given but does not exist (a mistyped
    directory is neither created nor downloaded into)."""
    if model_dir is not None and not os.path.exists(os.path.expanduser(model_dir)):
        raise InceptionGraphNotFoundError(
            "--model_dir=%s: no such file or directory; give the directory that holds %s or %s (from %s), or leave "
            "--model_dir out to search $%s and %s (downloading there if needed)"
            % (model_dir, GRAPH_NAME, TGZ_NAME, DATA_URL, ENV_DIR, default_cache_dir()))


def find_graph(model_dir=None, download=None):
    """Path of ``classify_image_graph_def.pb``, unpacking or downloading ``inception-2015-12-05.tgz`` if needed.

    Looks in ``model_dir`` (a directory, or the ``.pb``/``.tgz`` itself, which must exist: see
    :func:`check_model_dir`), then ``$INCEPTION_DIR``, then :func:`default_cache_dir`; in each, the ``.pb``
    first, then the ``.tgz`` (unpacked next to it). Failing that, downloads the original's ``DATA_URL``
    (``download=None``: unless ``$INCEPTION_NO_DOWNLOAD`` is set) into the first of these directories, else raises
    :class:`InceptionGraphNotFoundError` saying where to put the file. Never falls back to other weights.
    """
    check_model_dir(model_dir)
    if model_dir and os.path.isfile(model_dir):
        if model_dir.endswith((".tgz", ".tar.gz")):
            return _unpack(model_dir)
        return os.path.abspath(model_dir)
    dirs = _search_dirs(model_dir)
    for d in dirs:
        pb, tgz = os.path.join(d, GRAPH_NAME), os.path.join(d, TGZ_NAME)
        if os.path.isfile(pb):
            return pb
        if os.path.isfile(tgz):
            return _unpack(tgz)
    target = dirs[0]
    reason = "downloads are off (download=False or $%s set)" % ENV_NO_DOWNLOAD
    if _download_allowed(download):
        try:
            return _unpack(_download(DATA_URL, target))
        except (OSError, urllib.error.URLError) as e:  # no network, proxy, full disk, ...
            reason = "the download failed: %s" % (e,)
    raise InceptionGraphNotFoundError(
        "The Inception graph '%s' was not found (searched: %s) and %s.\n"
        "Download %s\n"
        "and put it, or the '%s' unpacked from it, in one of: the model_dir argument (--model_dir), "
        "the directory named by $%s, or %s."
        % (GRAPH_NAME, ", ".join(dirs), reason, DATA_URL, GRAPH_NAME, ENV_DIR, default_cache_dir())
    )


def _download(url, directory):
    """Download ``url`` to ``directory/TGZ_NAME`` through a temporary file renamed at the end (atomic)."""
    os.makedirs(directory, exist_ok=True)
    dest = os.path.join(directory, TGZ_NAME)
    fd, tmp = tempfile.mkstemp(prefix=TGZ_NAME + ".", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if total:
                    sys.stderr.write("\r>> Downloading %s %.1f%%" % (TGZ_NAME, 100.0 * done / total))
                    sys.stderr.flush()
        sys.stderr.write("\n")
        if total and done != total:
            raise OSError("incomplete download of %s: %d of %d bytes" % (url, done, total))
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def _unpack(tgz):
    """Extract ``GRAPH_NAME`` from ``tgz`` next to it (else into the cache directory), atomically."""
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            member = next((m for m in tar.getmembers()
                           if m.isfile() and os.path.basename(m.name) == GRAPH_NAME), None)
            if member is None:
                raise OSError("%s holds no %s; it is not %s from %s" % (tgz, GRAPH_NAME, TGZ_NAME, DATA_URL))
            data = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, ValueError) as e:
        raise OSError("%s is not a readable .tgz (%s); delete it and download %s again" % (tgz, e, DATA_URL))
    for directory in (os.path.dirname(os.path.abspath(tgz)), default_cache_dir()):
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=GRAPH_NAME + ".", suffix=".part", dir=directory)
        except OSError:
            continue  # read-only directory: try the cache
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            dest = os.path.join(directory, GRAPH_NAME)
            os.replace(tmp, dest)
            return dest
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    raise OSError("could not write %s next to %s nor in %s" % (GRAPH_NAME, tgz, default_cache_dir()))


# --------------------------------------------------------------------------------------------------------------
# Loading the graph (once per process)


def _legacy_batchnorm_to_standard_ops(graph_def):
    """Rewrite ``BatchNormWithGlobalNormalization`` nodes (removed at GraphDef version 9; the 2015 graph uses
    them) into ``(t - m) * (rsqrt(v + eps) * gamma) + beta``, the legacy kernel's own arithmetic, so the graph
    can run inside a TF2 function. The node keeps its name, so its consumers are unchanged."""
    import tensorflow as tf
    from tensorflow.core.framework import node_def_pb2

    nodes = []
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            nodes.append(node)
            continue
        data = [i for i in node.input if not i.startswith("^")]
        control = [i for i in node.input if i.startswith("^")]
        t, m, v, beta, gamma = data
        dtype = node.attr["T"].type
        name = node.name

        def make(op, suffix, inputs, extra=None):
            n = node_def_pb2.NodeDef(name=name + suffix if suffix else name, op=op, device=node.device)
            n.input.extend(inputs)
            n.attr["T"].type = dtype
            if extra:
                extra(n)
            nodes.append(n)
            return n.name

        def eps_value(n):
            n.attr.clear()
            n.attr["dtype"].type = dtype
            n.attr["value"].tensor.CopyFrom(
                tf.make_tensor_proto(node.attr["variance_epsilon"].f, dtype=tf.dtypes.as_dtype(dtype)))

        eps = make("Const", "/_legacy/eps", control, eps_value)
        scale = make("Rsqrt", "/_legacy/rsqrt", [make("AddV2", "/_legacy/var_eps", [v, eps])])
        if node.attr["scale_after_normalization"].b:
            scale = make("Mul", "/_legacy/scale", [scale, gamma])
        centred = make("Sub", "/_legacy/centred", [t, m] + control)
        make("AddV2", "", [make("Mul", "/_legacy/scaled", [centred, scale]), beta])
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    return graph_def


def _prepare_graph_def(path):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        try:
            graph_def.ParseFromString(f.read())
        except Exception as e:  # protobuf's DecodeError
            raise OSError("%s is not a GraphDef (%s); delete it and get %s from %s" % (path, e, TGZ_NAME, DATA_URL))
    names = {n.name: n for n in graph_def.node}
    for needed in (INPUT_TENSOR.split(":")[0], POOL_TENSOR.split(":")[0], LOGITS_MATMUL):
        if needed not in names:
            raise ValueError("%s has no node '%s': it is not the Inception graph %s from %s"
                             % (path, needed, GRAPH_NAME, DATA_URL))
    for node in graph_def.node:
        # Shape hints recorded at batch 1 would pin the static batch size to 1 on import; devices are dropped so
        # that the graph runs where TF2 places it.
        node.attr.pop("_output_shapes", None)
        node.device = ""
    return _legacy_batchnorm_to_standard_ops(graph_def)


class InceptionNetwork:
    """The 2015 Inception graph as a TF2 function: NHWC float images in 0..255 (any size, any batch) to
    ``(pool_3 features, softmax)``, the softmax being the original's ``softmax(matmul(squeeze(pool_3), W))``."""

    def __init__(self, path):
        import tensorflow as tf

        graph_def = _prepare_graph_def(path)

        def forward(images):
            # The graph's own input chain (DecodeJpeg -> Cast -> ExpandDims) has a batch of 1; feeding our
            # batch-agnostic tensor in place of ExpandDims:0 is what the original does with feed_dict.
            pool_3, matmul = tf.graph_util.import_graph_def(
                graph_def, input_map={INPUT_TENSOR: images}, return_elements=[POOL_TENSOR, LOGITS_MATMUL],
                name="inception")
            # pool_3 is fetched before pool_3/_reshape (hard-coded to [1, 2048]); W without the bias, as the original.
            features = tf.squeeze(pool_3, [1, 2])
            weights = matmul.inputs[1]
            return features, tf.nn.softmax(tf.matmul(features, weights))

        self.path = path
        self._fn = tf.compat.v1.wrap_function(forward, [tf.TensorSpec([None, None, None, 3], tf.float32)])

    def __call__(self, images):
        features, probs = self._fn(np.asarray(images, dtype=np.float32))
        return features.numpy(), probs.numpy()


def load_inception(model_dir=None, download=None):
    """The :class:`InceptionNetwork` of :func:`find_graph`'s file, loaded once per process."""
    path = os.path.realpath(find_graph(model_dir, download))
    with _LOCK:
        if path not in _NETWORKS:
            _NETWORKS[path] = InceptionNetwork(path)
        return _NETWORKS[path]


# --------------------------------------------------------------------------------------------------------------
# Inputs


class ArrayKeyError(Exception):
    """A ``.npz`` file without the array asked for (``key`` given), or holding several and none asked for
    (``key`` None). ``keys``: the names of the arrays it holds."""

    def __init__(self, keys, key):
        super().__init__(key)
        self.keys, self.key = keys, key


class UnreadableArrayError(Exception):
    """A ``.npy``/``.npz`` file that numpy cannot read (truncated, not a zip, pickled objects, ...); ``cause``:
    numpy's (or zipfile's, or zlib's) exception, or None; ``reason``: why, in words (:func:`array_file_problem`)."""

    def __init__(self, cause, reason=None):
        super().__init__(reason or cause)
        self.cause = cause
        self.reason = reason or " ".join(str(cause).split())


#: What numpy raises on a ``.npy``/``.npz`` file it cannot read (a truncated ``.npz``: zipfile.BadZipFile).
ARRAY_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
#: How NumPy files begin: a ``.npy`` header, or the zip archive of an ``.npz`` (an empty one too).
NUMPY_FILE_STARTS = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")


def array_file_problem(path, error=None):
    """Why ``path`` is not a NumPy file of plain arrays, one line, or None when it begins as one and no ``error``
    (numpy's exception on reading it) is given. ``np.load`` reads a file of any other kind as a pickle and, with
    ``allow_pickle=False``, advises allowing pickles, which is never the fix for a file of unknown origin (loading
    a pickle can run code): here it is named for what it is."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(NUMPY_FILE_STARTS[0]))
    except OSError as e:
        return "cannot be opened (%s)" % (e.strerror or e)
    if not head:
        return "is empty"
    if not head.startswith(NUMPY_FILE_STARTS):
        return ("is not a NumPy archive of arrays (.npz) or array (.npy): it begins with neither's header (a Git LFS "
                "pointer, a partial download or another kind of file?)")
    if error is None:
        return None
    text = " ".join(str(error).split())
    if "pickle" in text.lower():
        return ("holds Python objects, not plain arrays of numbers: such files are not loaded (unpickling them "
                "could run code); save the arrays themselves")
    return "is damaged or cut short (%s: %s)" % (type(error).__name__, text)


def read_array_file(path, key=None):
    """``(array, key)`` of the ``.npy`` or ``.npz`` file ``path`` (chosen by its suffix; the caller checks that it
    is one of the two), without pickles. In a ``.npz``, ``key`` names the array, and may be left out when there is
    just one; a ``.npy`` ignores ``key`` and gives key None. Raises :class:`ArrayKeyError` or
    :class:`UnreadableArrayError`, for the caller to word."""
    problem = array_file_problem(path)
    if problem:
        raise UnreadableArrayError(None, problem)
    try:
        if path.lower().endswith(".npy"):
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if key is not None:
                if key not in keys:
                    raise ArrayKeyError(keys, key)
            elif len(keys) == 1:
                key = keys[0]
            else:
                raise ArrayKeyError(keys, None)
            return data[key], key
    except ARRAY_READ_ERRORS as e:
        raise UnreadableArrayError(e, array_file_problem(path, e)) from e


def _check_images(images, what="images"):
    """The original's asserts (a list of HxWx3 arrays in 0..255) as ValueErrors, also accepting one NHWC array.
    Returns a sequence of HxWx3 arrays (a view per image for an NHWC array)."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            hint = ""
            if images.ndim == 3 and images.shape[-1] == 3:
                hint = " For one image, pass [image]."
            elif images.ndim == 4 and images.shape[1] == 3:
                hint = " This looks like NCHW: pass images.transpose(0, 2, 3, 1)."
            raise ValueError("%s: expected an NHWC array of shape (N, H, W, 3) or a list of (H, W, 3) arrays; "
                             "got an array of shape %s.%s" % (what, images.shape, hint))
        seq = images
    elif isinstance(images, (list, tuple)):
        seq = images
        for i, img in enumerate(seq):
            if not isinstance(img, np.ndarray):
                raise ValueError("%s[%d]: expected a numpy array of shape (H, W, 3), got %s"
                                 % (what, i, type(img).__name__))
            if img.ndim != 3 or img.shape[-1] != 3:
                raise ValueError("%s[%d]: expected shape (H, W, 3) with 3 colour channels last, got %s"
                                 % (what, i, img.shape))
    else:
        raise ValueError("%s: expected a list of (H, W, 3) numpy arrays or one (N, H, W, 3) array, got %s"
                         % (what, type(images).__name__))
    if len(seq) == 0:
        raise ValueError("%s: no images given (an empty list or array)" % what)
    if any(0 in img.shape[:2] for img in seq):
        raise ValueError("%s: images must have at least one pixel" % what)
    if isinstance(seq, np.ndarray):
        lo, hi = seq.min(), seq.max()
    else:
        lo, hi = min(img.min() for img in seq), max(img.max() for img in seq)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("%s: images contain NaN or infinite values" % what)
    if lo < 0:
        raise ValueError("%s: pixel values must be in 0..255, found a minimum of %g. Images in [-1, 1] map to "
                         "0..255 with (x + 1) * 127.5." % (what, lo))
    if hi <= 10:
        raise ValueError("%s: pixel values must be in 0..255, found a maximum of %g (the original asserts "
                         "max > 10). Images in [0, 1] map to 0..255 with x * 255." % (what, hi))
    if hi > 255:
        raise ValueError("%s: pixel values must be in 0..255, found a maximum of %g. Images in 0..65535 map to "
                         "0..255 with x / 257; clip values that overshoot with np.clip(x, 0, 255)." % (what, hi))
    return seq


def _batches(seq, batch_size):
    """Consecutive runs of same-sized images, cut into float32 batches of at most ``batch_size``."""
    start, n = 0, len(seq)
    while start < n:
        shape = seq[start].shape
        stop = start + 1
        while stop < n and stop - start < batch_size and seq[stop].shape == shape:
            stop += 1
        if isinstance(seq, np.ndarray):
            yield seq[start:stop].astype(np.float32)
        else:
            yield np.stack([np.asarray(img, dtype=np.float32) for img in seq[start:stop]])
        start = stop


def as_rgb(images):
    """NHWC images with 3 channels: one-channel images repeated to three (the Inception graph takes RGB)."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def _check_batch_size(batch_size):
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError("batch_size must be a positive integer, got %r" % (batch_size,))
    return int(batch_size)


def run_inception(images, batch_size=100, model_dir=None, verbose=False, what="images"):
    """``(pool_3 features [N, 2048], softmax predictions [N, 1008])`` of ``images`` (checked), batched."""
    return _run(_check_images(images, what), _check_batch_size(batch_size), model_dir, verbose)


class Progress:
    """The progress of a long loop over ``total`` items (``unit``: their name). On a terminal, a bar on one line,
    rewritten at each :meth:`update` (``prefix``, done/total, ``[=====>    ]``, items per second); :meth:`close`
    ends that line (``keep``) or erases it. Elsewhere (a log file, a pipe) no escape codes: with ``plain``, a plain
    line at each tenth, ``  500 of 5000 images (10 %)``, else nothing."""

    WIDTH = 30

    def __init__(self, total, unit, stream=None, prefix="", plain=True):
        self.total, self.unit, self.prefix, self.plain = max(1, int(total)), unit, prefix, plain
        self.stream = stream if stream is not None else sys.stdout
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._tenths, self._start, self._shown = 0, time.time(), False

    def update(self, done):
        if self.terminal:
            filled = self.WIDTH * min(done, self.total) // self.total
            bar = ("=" * filled + (">" if filled < self.WIDTH else "")).ljust(self.WIDTH)
            rate = done / max(time.time() - self._start, 1e-9)
            self.stream.write("\r\x1b[K%s%d/%d [%s] %.0f %ss/s" % (self.prefix, done, self.total, bar, rate,
                                                                    self.unit))
            self._shown = True
        elif self.plain and done * 10 // self.total > self._tenths:
            self._tenths = done * 10 // self.total
            self.stream.write("  %s%d of %d %ss (%d %%)\n" % (self.prefix, done, self.total, self.unit,
                                                             100 * done // self.total))
        self.stream.flush()

    def close(self, keep=True):
        """End the terminal's bar line (``keep``) or erase it."""
        if self.terminal and self._shown:
            self.stream.write("\n" if keep else "\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _run(seq, batch_size, model_dir, verbose):
    net = load_inception(model_dir)
    progress = Progress(len(seq), "image") if verbose else None
    features, probs, done = [], [], 0
    for batch in _batches(seq, batch_size):
        f, p = net(batch)
        features.append(f)
        probs.append(p)
        done += len(batch)
        if progress is not None:
            progress.update(done)
    if progress is not None:
        progress.close()
    return np.concatenate(features, 0), np.concatenate(probs, 0)


# --------------------------------------------------------------------------------------------------------------
# Scores


def inception_score_from_predictions(preds, splits=10):
    """The original's score: per split, ``exp(mean_i KL(p(y|x_i) || p(y)))``; mean and std over splits.

    The original's float32 arithmetic, term for term, except that a probability of exactly 0 contributes 0
    (``0 log 0 = 0``) where the original's ``0 * -inf`` would make the score NaN."""
    n = preds.shape[0]
    if int(splits) != splits or not 1 <= splits <= n:
        raise ValueError("splits must be an integer between 1 and the number of images (%d), got %r"
                         % (n, splits))
    splits = int(splits)
    scores = []
    for k in range(splits):
        part = preds[k * n // splits:(k + 1) * n // splits]
        scores.append(np.exp(np.mean(kl_terms_from_predictions(part))))
    return float(np.mean(scores)), float(np.std(scores))


def kl_terms_from_predictions(preds):
    """Each image's own term of the score, ``KL(p(y|x_i) || p(y))``, with ``p(y)`` the mean of ``preds`` over all
    the given images (float32 arithmetic as :func:`inception_score_from_predictions`, ``0 log 0 = 0``). With
    ``splits=1`` the score is ``exp(mean(terms))``. Ranking samples by these terms is how Salimans et al. (2016,
    Sec. 5.1) picked "the top 1 % of samples by Inception score" for their human evaluation."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise ValueError("expected predictions of shape (N, classes) with N >= 1, got %s" % (preds.shape,))
    p_y = np.mean(preds, axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = preds * (np.log(preds) - np.log(p_y))
    return np.sum(np.where(preds > 0, terms, 0), axis=1)


def get_kl_terms(images, batch_size=100, model_dir=None, verbose=False):
    """:func:`kl_terms_from_predictions` of the Inception graph's predictions for ``images`` (inputs as
    :func:`get_inception_score`): one float per image, the larger the more confidently and distinctly classified."""
    _, probs = run_inception(images, batch_size, model_dir, verbose)
    return kl_terms_from_predictions(probs)


def get_inception_score(images, splits=10, batch_size=100, model_dir=None, verbose=False):
    """Inception score ``(mean, std)`` over ``splits`` parts (Sec. 4; the original's ``get_inception_score``).

    ``images``: a list of HxWx3 arrays in 0..255 (the original's input; any size, the graph resizes to 299) or
    one NHWC array. ``batch_size`` only changes speed, not the numbers. ``model_dir``: see :func:`find_graph`.
    """
    if int(splits) != splits or splits < 1:
        raise ValueError("splits must be a positive integer, got %r" % (splits,))
    seq = _check_images(images)
    if splits > len(seq):
        raise ValueError("splits (%d) is larger than the number of images (%d)" % (splits, len(seq)))
    _, probs = _run(seq, _check_batch_size(batch_size), model_dir, verbose)
    return inception_score_from_predictions(probs, splits)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` in float64, real part of the matrix square root
    (Heusel et al., 2017)."""
    import scipy.linalg

    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular covariances (fewer images than features) are the usual case
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):  # regularize, as Heusel et al.'s code does
            offset = np.eye(sigma1.shape[0]) * 1e-6
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def feature_statistics(features):
    """Mean and covariance (``np.cov``, N - 1 normalization) of ``pool_3`` features, in float64."""
    features = np.asarray(features, np.float64)
    if features.shape[0] < 2:
        raise ValueError("FID needs at least 2 images per set, got %d" % features.shape[0])
    return features.mean(axis=0), np.cov(features, rowvar=False)


def check_fid_sets(named_sets):
    """Raise a ValueError naming the first of ``named_sets`` (``(name, images)`` pairs, images already checked)
    holding fewer than 2 images: the FID's covariances need at least 2 per set."""
    for what, images in named_sets:
        if len(images) < 2:
            raise ValueError("%s: the FID needs at least 2 images per set, got %d" % (what, len(images)))


def get_fid(images_a, images_b, batch_size=100, model_dir=None, verbose=False):
    """Frechet Inception Distance between two image sets on the same graph's ``pool_3`` features (not in the
    original; Heusel et al., 2017). Inputs as :func:`get_inception_score`; both sets are checked before either is
    scored."""
    named = [(what, _check_images(images, what)) for what, images in (("images_a", images_a), ("images_b", images_b))]
    check_fid_sets(named)
    batch_size = _check_batch_size(batch_size)
    stats = []
    for _, seq in named:
        features, _ = _run(seq, batch_size, model_dir, verbose)
        stats.append(feature_statistics(features))
    return frechet_distance(*stats[0], *stats[1])
