"""Inception score (Salimans et al., 2016, Sec. 4, Table 3) on the 2015 Inception graph, in TF2.

Port of ``inception_score/model.py`` of ``openai/improved-gan``. Same graph
(``classify_image_graph_def.pb`` from ``inception-2015-12-05.tgz``), same tensors (images 0..255 fed in place of
``ExpandDims:0``, logits ``matmul(squeeze(pool_3:0), W)`` with ``W`` the weight input of
``softmax/logits/MatMul`` and no bias) and the same score, but batched (the original runs one image per call,
its issue #32), loaded once per process without TF1 sessions, and with no download at import time.

The graph is found and loaded by ``graph.py``, image files are read by ``arrays.py``; their public names are
re-exported here.

Beyond the original: :func:`get_fid`, the Frechet Inception Distance of Heusel et al. (2017) on the same graph's
``pool_3`` features.
"""
import sys
import time
import warnings

import numpy as np

from inception_score.arrays import (  # noqa: F401  (re-exported: the names of this module before the split)
    ARRAY_READ_ERRORS, NUMPY_FILE_STARTS, ArrayKeyError, UnreadableArrayError, array_file_problem, read_array_file)
from inception_score.graph import (  # noqa: F401  (re-exported, as above)
    DATA_URL, DOWNLOAD_TIMEOUT_S, ENV_DIR, ENV_NO_DOWNLOAD, GRAPH_NAME, INPUT_TENSOR, LOGITS_MATMUL, POOL_TENSOR,
    TGZ_NAME, InceptionGraphNotFoundError, InceptionNetwork, check_model_dir, default_cache_dir, find_graph,
    load_inception)

# --------------------------------------------------------------------------------------------------------------
# Inputs


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
