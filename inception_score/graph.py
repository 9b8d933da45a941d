"""Finding, downloading, unpacking and loading the 2015 Inception graph, in TF2.

Port of the graph half of ``inception_score/model.py`` of ``openai/improved-gan`` (``DATA_URL``,
``_init_inception``): found and loaded on first use, once per process, never at import (see ``model.py``).
"""
import os
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request

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
