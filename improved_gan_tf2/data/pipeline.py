"""``tf.data`` pipelines that feed :class:`~improved_gan_tf2.models.semi_supervised.SemiSupervisedGAN` batches
in exactly the original scripts' order (see :class:`~improved_gan_tf2.data.OriginalEpochOrder`)."""
import numpy as np
import tensorflow as tf


def semi_supervised_dataset(x_lab, y_lab, x_unl, batch_size, epoch_order, start_epoch=0, prefetch=2):
    """Endless dataset of ``(x_lab, y_lab, x_unl, x_unl2)`` batches, epoch after epoch, in the original order.

    Each epoch has ``len(x_unl) // batch_size`` batches (the original's ``nr_batches_train``): batch ``t`` takes
    rows ``t*batch_size:(t+1)*batch_size`` of the tiled, shuffled labelled set and of the two shuffled copies of
    the unlabelled set. ``start_epoch`` replays that many epochs of the order first, so a resumed run sees the
    batches the uninterrupted run would have seen. Returns ``(dataset, steps_per_epoch)``.
    """
    x_lab, x_unl = np.asarray(x_lab, np.float32), np.asarray(x_unl, np.float32)
    y_lab = np.asarray(y_lab, np.int32)
    steps_per_epoch = len(x_unl) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x_unl)} unlabelled examples.")
    for _ in range(start_epoch):
        epoch_order.next_epoch()

    def batches():
        while True:
            epoch = epoch_order.next_epoch()
            for t in range(steps_per_epoch):
                rows = slice(t * batch_size, (t + 1) * batch_size)
                lab = epoch.lab_idx[rows]
                yield x_lab[lab], y_lab[lab], x_unl[epoch.unl_idx[rows]], x_unl[epoch.unl2_idx[rows]]

    image = tf.TensorSpec((batch_size,) + x_unl.shape[1:], tf.float32)
    signature = (tf.TensorSpec((batch_size,) + x_lab.shape[1:], tf.float32), tf.TensorSpec((batch_size,), tf.int32),
                 image, image)
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(prefetch)
    return dataset, steps_per_epoch


def evaluation_dataset(x, y, batch_size):
    """Test batches as the original's ``test_batch`` loop: ``len(x) // batch_size`` full batches (the rest is
    left out, as there). Returns ``(dataset, number of examples evaluated)``."""
    count = (len(x) // batch_size) * batch_size
    if count == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} test examples.")
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x[:count], np.float32), np.asarray(y[:count], np.int32)))
    return dataset.batch(batch_size, drop_remainder=True), count
