"""The Keras callbacks of a run: the original scripts' per-epoch line and progress, ``history.csv``, the learning
rate per epoch, sample grids, the guard that stops a diverging run, and the checkpoint per epoch."""
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.errors import NonFiniteError
from improved_gan_tf2.plotting import save_grid_png
from improved_gan_tf2.training.checkpoints import _capitalized, _checkpoint_advice, _refuse_non_finite
from inception_score.model import Progress  # numpy only at import


ORIGINAL_LOG_LINE = (
    "Iteration %d, time = %ds, loss_lab = %.4f, loss_unl = %.4f, train err = %.4f, test err = %.4f"
)


class OriginalEpochLog(keras.callbacks.Callback):
    """Prints the original scripts' per-epoch line (time covers training and testing, as there) and, with
    ``times_path``, appends ``epoch,seconds`` to that CSV (a resumed run may repeat an epoch: its last row counts)."""

    def __init__(self, print_fn=print, times_path=None):
        super().__init__()
        self.print_fn = print_fn
        self.times_path = times_path

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.time() - self._begin
        self.print_fn(ORIGINAL_LOG_LINE % (
            epoch, seconds, logs.get("loss_lab", np.nan), logs.get("loss_unl", np.nan),
            logs.get("train_err", np.nan), logs.get("val_test_err", np.nan),
        ))
        sys.stdout.flush()
        if self.times_path is not None:
            new = not os.path.exists(self.times_path)
            with open(self.times_path, "a") as stream:
                stream.write(("epoch,seconds\n" if new else "") + f"{epoch},{seconds:.3f}\n")


class EpochProgress(keras.callbacks.Callback):
    """On a terminal, the progress within the epoch on one line (``Epoch 5/300  12/40 [====>     ]``, an
    :class:`inception_score.model.Progress` bar), erased at the epoch's end, so that the original's line
    (:class:`OriginalEpochLog`, which comes after this callback) is all an epoch leaves on the screen. Writes
    nothing to a file or a pipe."""

    def __init__(self, steps_per_epoch, epochs, stream=None):
        super().__init__()
        self.steps_per_epoch, self.epochs, self.stream = steps_per_epoch, epochs, stream
        self.progress = None

    def on_epoch_begin(self, epoch, logs=None):
        self.progress = Progress(self.steps_per_epoch, "batch", self.stream,
                                 prefix=f"Epoch {epoch + 1}/{self.epochs}  ", plain=False)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.update(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.clear()

    def clear(self):
        """Erase the progress line (also when training stops within an epoch, before its message)."""
        if self.progress is not None:
            self.progress.close(keep=False)


class HistoryLog(keras.callbacks.CSVLogger):
    """``history.csv``: ``keras.callbacks.CSVLogger`` appending to the run's file, whose columns stay those of its
    header when it has one (a run resumed by a newer version, whose model logs more, keeps its file's columns)."""

    def __init__(self, path):
        super().__init__(path, append=True)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if os.path.exists(self.filename):
            with open(self.filename, newline="") as stream:
                header = stream.readline().strip()
            if header:
                self.keys = [key for key in header.split(self.sep) if key != "epoch"]


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the learning rate of each optimizer to ``schedule(epoch)`` at the start of every epoch."""

    def __init__(self, schedule, optimizers):
        super().__init__()
        self.schedule = schedule
        self.optimizers = list(optimizers)

    def on_epoch_begin(self, epoch, logs=None):
        for optimizer in self.optimizers:
            optimizer.learning_rate.assign(float(self.schedule(epoch)))


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of generated samples each epoch: ``samples/epoch_NNNN.png``, ``samples/latest.png`` (at a
    whole-number upscale, :func:`~improved_gan_tf2.plotting.save_grid_png`) and a TensorBoard image (at its size). ``make_grid`` turns the sampled batch (NumPy) into one image in ``value_range``."""

    def __init__(self, sample_fn, make_grid, samples_dir, log_dir=None, value_range=(0.0, 1.0)):
        super().__init__()
        self.sample_fn = sample_fn
        self.make_grid = make_grid
        self.samples_dir = samples_dir
        self.value_range = value_range
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "samples")) if log_dir else None

    def on_epoch_end(self, epoch, logs=None):
        grid = self.make_grid(np.asarray(self.sample_fn()))
        save_grid_png(os.path.join(self.samples_dir, f"epoch_{epoch:04d}.png"), grid, self.value_range)
        save_grid_png(os.path.join(self.samples_dir, "latest.png"), grid, self.value_range)
        if self.writer is not None:
            low, high = self.value_range
            image = np.clip((grid - low) / (high - low), 0, 1)
            image = image[None, :, :, None] if image.ndim == 2 else image[None]
            with self.writer.as_default():
                tf.summary.image("samples", image, step=epoch)
            self.writer.flush()


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose logged values (the losses) are NaN or infinite, before anything of
    that epoch is saved: raises :class:`NonFiniteError` naming the epoch, the iteration and the values.

    ``where(epoch, batch)`` describes the position (default: ``epoch E, iteration I of N``); ``manager`` is the
    checkpoint manager whose last checkpoint the message names."""

    def __init__(self, manager=None, steps_per_epoch=None, where=None):
        super().__init__()
        self.manager = manager
        self.steps_per_epoch = steps_per_epoch
        self.where = where
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {}
        for name, value in (logs or {}).items():
            try:
                finite = bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
            except (TypeError, ValueError):
                continue
            if not finite:
                bad[name] = value
        if bad:
            if self.where is not None:
                where = self.where(self.epoch, batch)
            else:
                of = f" of {self.steps_per_epoch}" if self.steps_per_epoch else ""
                where = f"epoch {self.epoch}, iteration {batch}{of}"
            values = ", ".join(f"{name} = {_format_value(value)}" for name, value in sorted(bad.items()))
            raise NonFiniteError(f"training diverged at {where}: {values}; stopped before saving anything of it. "
                                 f"{_capitalized(_checkpoint_advice(self.manager))}.")


def _format_value(value):
    array = np.asarray(value, dtype=np.float64)
    return str(float(array)) if array.ndim == 0 else np.array2string(array, threshold=4)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves ``manager``'s checkpoint after every epoch, numbered by the epochs completed, unless a variable of it
    holds a NaN or an infinity: then raises :class:`NonFiniteError` and the last checkpoint stays the latest."""

    def __init__(self, manager, epoch_variable):
        super().__init__()
        self.manager = manager
        self.epoch_variable = epoch_variable

    def on_epoch_end(self, epoch, logs=None):
        _refuse_non_finite(self.manager, f"in epoch {epoch}", f"epoch {epoch} was not saved", count_more=True)
        self.epoch_variable.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
