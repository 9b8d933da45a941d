"""``tf.data`` pipelines that feed :class:`~improved_gan_tf2.models.semi_supervised.SemiSupervisedGAN` batches
in exactly the original scripts' order (see :class:`~improved_gan_tf2.data.OriginalEpochOrder`)."""
import numpy as np
import tensorflow as tf

from .epoch_order import labelled_batch_sizes, tiling_problem


def semi_supervised_dataset(x_lab, y_lab, x_unl, batch_size, epoch_order, start_epoch=0, prefetch=2):
    """Endless dataset of ``(x_lab, y_lab, x_unl, x_unl2)`` batches, epoch after epoch, in the original order.

    Each epoch has ``len(x_unl) // batch_size`` batches (the original's ``nr_batches_train``): batch ``t`` takes
    rows ``t*batch_size:(t+1)*batch_size`` of the tiled, shuffled labelled set and of the two shuffled copies of
    the unlabelled set. ``start_epoch`` replays that many epochs of the order first, so a resumed run sees the
    batches the uninterrupted run would have seen. Returns ``(dataset, steps_per_epoch)``.

    When the tiled labelled set is shorter than the epoch's batches (floor tiling, e.g. MNIST with a count whose
    ``10 * count`` does not divide the unlabelled set), the last labelled batch is short, as the original's slice
    is, and the labelled batches have no static size; an epoch that would leave a batch without labelled rows is
    refused (``epoch_order.tiling_problem``).
    """
    dtype = image_dtype(x_unl)
    x_lab, x_unl = np.asarray(x_lab, dtype), np.asarray(x_unl, dtype)
    y_lab = np.asarray(y_lab, np.int32)
    steps_per_epoch = len(x_unl) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x_unl)} unlabelled examples.")
    lab_batch = batch_size  # full labelled batches keep their static size (the step traced as it always was)
    tiling = getattr(epoch_order, "tiling", None)
    if tiling is not None:
        problem = tiling_problem(len(x_lab), len(x_unl), batch_size, tiling)
        if problem is not None:
            raise ValueError(problem)
        if labelled_batch_sizes(len(x_lab), len(x_unl), batch_size, tiling).min() < batch_size:
            lab_batch = None
    for _ in range(start_epoch):
        epoch_order.next_epoch()

    def batches():
        while True:
            epoch = epoch_order.next_epoch()
            for t in range(steps_per_epoch):
                rows = slice(t * batch_size, (t + 1) * batch_size)
                lab = epoch.lab_idx[rows]
                yield x_lab[lab], y_lab[lab], x_unl[epoch.unl_idx[rows]], x_unl[epoch.unl2_idx[rows]]

    image = tf.TensorSpec((batch_size,) + x_unl.shape[1:], dtype)
    signature = (tf.TensorSpec((lab_batch,) + x_lab.shape[1:], dtype), tf.TensorSpec((lab_batch,), tf.int32),
                 image, image)
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(prefetch)
    return dataset, steps_per_epoch


def image_dtype(x):
    """The dtype images are fed in: float64 stays float64 (the comparison with the original in float64), anything
    else becomes float32."""
    return np.float64 if np.asarray(x).dtype == np.float64 else np.float32


EVALUATION_TAILS = ("drop", "overlap_predictions", "overlap_batches")


def overlapping_windows(n, batch_size):
    """The SVHN scripts' test batches: ``ceil(n / batch_size)`` windows ``[last - batch_size, last)`` with
    ``last = min((t + 1) * batch_size, n)``, so the last window ends at ``n`` and overlaps the one before it
    when ``batch_size`` does not divide ``n``. Returns a list of ``(first, last)``."""
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} is larger than the {n} test examples.")
    windows = []
    for t in range(-(-n // batch_size)):
        last = min((t + 1) * batch_size, n)
        windows.append((last - batch_size, last))
    return windows


def evaluation_dataset(x, y, batch_size, tail="drop"):
    """Test batches as the original's ``test_batch`` loops make them. Returns ``(dataset, number of examples
    evaluated)``.

    ``tail="drop"`` (MNIST, CIFAR-10): ``len(x) // batch_size`` full batches of ``(x, y)``; the rest is left
    out, as there. The SVHN scripts evaluate the whole test set in the windows of :func:`overlapping_windows`
    and the batches are ``(x, y, weight)``, the weights giving each example its share of the original's error:

    - ``"overlap_predictions"`` (``train_svhn_feature_matching.py``): the predictions of each window are written
      into one array of ``len(x)`` rows, the last window overwriting the rows it shares with the one before,
      and the error is the mean over the ``len(x)`` rows. Weight 1 on the window that wrote a row last, 0 on
      rows a later window overwrites: every test example counts once.
    - ``"overlap_batches"`` (``train_svhn_minibatch_discrimination.py``): the error is the mean of the
      windows' batch errors, so the rows shared by the last two windows count twice. Weight 1 everywhere.

    With a network that mixes the examples of a batch (minibatch discrimination) the windows themselves matter
    too, since a prediction depends on the other examples of its window; they are the original's.
    """
    if tail not in EVALUATION_TAILS:
        raise ValueError(f"tail must be one of {EVALUATION_TAILS}, got {tail!r}.")
    if tail == "drop":
        count = (len(x) // batch_size) * batch_size
        if count == 0:
            raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} test examples.")
        dataset = tf.data.Dataset.from_tensor_slices(
            (np.asarray(x[:count], image_dtype(x)), np.asarray(y[:count], np.int32)))
        return dataset.batch(batch_size, drop_remainder=True), count
    n = len(x)
    windows = overlapping_windows(n, batch_size)
    rows = np.concatenate([np.arange(first, last) for first, last in windows])
    if tail == "overlap_predictions":
        writer = np.empty(n, np.int64)  # the window that writes each row last
        for t, (first, last) in enumerate(windows):
            writer[first:last] = t
        weights = np.concatenate([(writer[first:last] == t) for t, (first, last) in enumerate(windows)])
    else:
        weights = np.ones(len(rows), bool)
    dataset = tf.data.Dataset.from_tensor_slices((
        np.asarray(x, image_dtype(x))[rows], np.asarray(y, np.int32)[rows], weights.astype(np.float32)))
    return dataset.batch(batch_size, drop_remainder=True), n
