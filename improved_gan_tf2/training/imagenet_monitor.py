"""What the ImageNet loop (``imagenet/train.py``) does around its update, as a ``fit`` callback: its log line,
sample grids and timed checkpoints."""
import os
import time

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.plotting import save_image_grid
from improved_gan_tf2.training.checkpoints import save_checkpoint


#: The log line of the ImageNet code (``imagenet/train.py``), fields and order unchanged.
IMAGENET_LOG_LINE = (
    "[Batch %(idx)d] time: %(total_time)4.4f, d_loss: %(d_loss).8f, g_loss: %(errG).8f, "
    "d_loss_real: %(errD_real).8f, d_loss_fake: %(errD_fake).8f, d_loss_class: %(errD_class).8f, "
    "sec/batch: %(sec_per_batch)4.4f, sec/this batch: %(sec_this_batch)4.4f"
)


class ImageNetTrainingMonitor(keras.callbacks.Callback):
    """What ``train.py``'s loop does around the update, as a ``fit`` callback.

    Every ``print_every_secs`` (15) the original's log line (:data:`IMAGENET_LOG_LINE`, same fields and order; the
    losses are the replicas' mean, where the original printed tower 0's) and the running top-1 error, also
    written as TensorBoard scalars; an 8x8 grid of the fixed sample inputs to ``sample_dir/train_<step>.png``
    (and TensorBoard) every 10 batches for the first 300 and then every ``sample_every_secs`` (300); a
    checkpoint every ``checkpoint_every_secs`` (3600). Only the chief writes (``chief=False`` on the others).
    """

    def __init__(self, manager=None, sample_dir=None, log_dir=None, print_every_secs=15.0,
                 sample_every_secs=300.0, checkpoint_every_secs=3600.0, chief=True, print_fn=print):
        super().__init__()
        self.manager = manager
        self.sample_dir = sample_dir
        self.print_every_secs = float(print_every_secs)
        self.sample_every_secs = float(sample_every_secs)
        self.checkpoint_every_secs = float(checkpoint_every_secs)
        self.chief = bool(chief)
        self.print_fn = print_fn
        self.writer = tf.summary.create_file_writer(log_dir) if (log_dir and self.chief) else None
        self.idx = 0
        self.written = []

    def on_train_begin(self, logs=None):
        now = time.time()
        self.start_time = self.print_time = self.sample_time = self.save_time = now

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.idx += 1
        idx = self.idx
        if not self.chief:
            return
        logs = logs or {}
        step = int(self.model.step.numpy())
        if time.time() - self.print_time > self.print_every_secs:
            self.print_time = time.time()
            values = {k: float(np.mean(np.asarray(v))) for k, v in logs.items()}
            fields = dict(
                idx=idx,
                total_time=self.print_time - self.start_time,
                d_loss=values["d_loss_fake"] + values["d_loss_real"] + values["d_loss_class"],
                errG=values["g_loss"], errD_real=values["d_loss_real"], errD_fake=values["d_loss_fake"],
                errD_class=values["d_loss_class"],
                sec_per_batch=(self.print_time - self.start_time) / (idx + 1.0),
                sec_this_batch=self.print_time - self.batch_start_time,
            )
            self.print_fn(IMAGENET_LOG_LINE % fields)
            self.print_fn("running top-1 error rate[%g]" % values["avg_error_rate"])
            if self.writer is not None:
                with self.writer.as_default(step=step):
                    for name, value in values.items():
                        tf.summary.scalar(name, value)
                    tf.summary.scalar("sec_per_batch", fields["sec_per_batch"])
        if (idx < 300 and idx % 10 == 0) or time.time() - self.sample_time > self.sample_every_secs:
            self.sample_time = time.time()
            self.write_samples(step)
        if self.manager is not None and time.time() - self.save_time > self.checkpoint_every_secs:
            self.save_time = time.time()
            self.written.append(save_checkpoint(self.manager, self.model))

    def write_samples(self, step):
        samples = self.model.sample().numpy()
        if self.sample_dir:
            path = os.path.join(self.sample_dir, "train_%d.png" % step)
            self.written.append(save_image_grid(samples, (8, 8), path))
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("G", (samples[:16] + 1.0) / 2.0, max_outputs=16)
            self.writer.flush()
