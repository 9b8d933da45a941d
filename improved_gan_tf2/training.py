"""Running an experiment: run directories, checkpoints that resume, the originals' log lines, sample grids,
TensorBoard, the final summary, and (ImageNet) distribution strategies. The experiment runner
(:mod:`improved_gan_tf2.experiments`) assembles these; nothing here changes the arithmetic.

A run directory holds ``flags.json``, ``checkpoints/`` (``tf.train.CheckpointManager``; TensorFlow writes each
checkpoint under a temporary name and then updates the ``checkpoint`` index atomically, so an interrupted save
leaves the previous checkpoint usable), ``samples/`` (PNG grids), ``logs/`` (TensorBoard), ``history.csv`` and,
at the end, ``summary.json``.
"""
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from improved_gan_tf2.data.pipeline import evaluation_dataset, semi_supervised_dataset
from improved_gan_tf2.plotting import save_image_grid, save_png

ORIGINAL_LOG_LINE = (
    "Iteration %d, time = %ds, loss_lab = %.4f, loss_unl = %.4f, train err = %.4f, test err = %.4f"
)
#: The log line of the ImageNet code (``imagenet/train.py``), fields and order unchanged.
IMAGENET_LOG_LINE = (
    "[Batch %(idx)d] time: %(total_time)4.4f, d_loss: %(d_loss).8f, g_loss: %(errG).8f, "
    "d_loss_real: %(errD_real).8f, d_loss_fake: %(errD_fake).8f, d_loss_class: %(errD_class).8f, "
    "sec/batch: %(sec_per_batch)4.4f, sec/this batch: %(sec_this_batch)4.4f"
)
# The sample grids show the same noise every epoch, drawn apart from the training noise.
SAMPLE_SEED = 1234
# Flags that may change between an interrupted run and its resumption.
RESUMABLE_FLAG_CHANGES = frozenset({"epochs", "out_dir", "data_dir", "verbose", "jit_compile"})


#: The key of ``flags.json`` that names the run's experiment (the original script's name).
EXPERIMENT_KEY = "experiment"


class RunMismatchError(ValueError):
    """The output directory holds a run made with other flags."""


def write_json_atomic(path, value):
    """Write ``value`` as JSON to ``path`` through a temporary file and a rename."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as stream:
        json.dump(value, stream, indent=2, sort_keys=True, default=_json_default)
        stream.write("\n")
    os.replace(temporary, path)


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class RunDirectory:
    """The output directory of one run; refuses to resume a run made with different flags.

    ``flags`` are the script's flag values and, under :data:`EXPERIMENT_KEY`, the experiment's name, so that any
    tool can rebuild the run from its ``flags.json``."""

    def __init__(self, out_dir, flags):
        self.path = os.path.abspath(out_dir)
        self.flags = dict(flags)
        self.checkpoint_dir = os.path.join(self.path, "checkpoints")
        self.samples_dir = os.path.join(self.path, "samples")
        self.log_dir = os.path.join(self.path, "logs")
        self.history_path = os.path.join(self.path, "history.csv")
        self.summary_path = os.path.join(self.path, "summary.json")
        self._flags_path = os.path.join(self.path, "flags.json")
        os.makedirs(self.path, exist_ok=True)
        if os.path.exists(self._flags_path):
            with open(self._flags_path) as stream:
                stored = json.load(stream)
            if EXPERIMENT_KEY in self.flags and EXPERIMENT_KEY not in stored:
                # written before flags.json named its experiment: the other flags identify the run
                stored[EXPERIMENT_KEY] = self.flags[EXPERIMENT_KEY]
            changed = sorted(
                key for key in set(stored) | set(self.flags)
                if key not in RESUMABLE_FLAG_CHANGES and stored.get(key) != self.flags.get(key)
            )
            if changed:
                details = ", ".join(f"{k}: {stored.get(k)!r} -> {self.flags.get(k)!r}" for k in changed)
                raise RunMismatchError(
                    f"{self.path} holds a run made with other flags ({details}); "
                    f"pass a new --out_dir, or the same flags to resume that run."
                )
        write_json_atomic(self._flags_path, self.flags)

    def checkpoint_manager(self, max_to_keep=3, **objects):
        """A ``CheckpointManager`` over ``objects`` plus an ``epoch`` counter (returned as the second value)."""
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = tf.train.Checkpoint(epoch=epoch, **objects)
        return tf.train.CheckpointManager(checkpoint, self.checkpoint_dir, max_to_keep=max_to_keep), epoch

    def trim_history(self, epochs_completed):
        """Drop ``history.csv`` rows of epochs after the checkpoint being resumed (an interrupted run may have
        logged an epoch it did not save)."""
        if not os.path.exists(self.history_path):
            return
        with open(self.history_path) as stream:
            lines = stream.readlines()
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < epochs_completed]
        if epochs_completed == 0:
            kept = []
        if kept != lines:
            temporary = f"{self.history_path}.tmp"
            with open(temporary, "w") as stream:
                stream.writelines(kept)
            os.replace(temporary, self.history_path)

    def write_summary(self, summary):
        write_json_atomic(self.summary_path, summary)


def restore_checkpoint(manager):
    """Restore the newest checkpoint of ``manager``, checking that it matches every object; returns its path, or
    None when there is none."""
    path = manager.latest_checkpoint
    if path:
        manager.checkpoint.restore(path).assert_existing_objects_matched()
    return path


class OriginalEpochLog(keras.callbacks.Callback):
    """Prints the original scripts' per-epoch line (time covers training and testing, as there)."""

    def __init__(self, print_fn=print):
        super().__init__()
        self.print_fn = print_fn

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.print_fn(("\n" if sys.stdout.isatty() else "") + ORIGINAL_LOG_LINE % (
            epoch, time.time() - self._begin, logs.get("loss_lab", np.nan), logs.get("loss_unl", np.nan),
            logs.get("train_err", np.nan), logs.get("val_test_err", np.nan),
        ))
        sys.stdout.flush()


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
    """Writes a grid of generated samples each epoch: ``samples/epoch_NNNN.png``, ``samples/latest.png`` and a
    TensorBoard image. ``make_grid`` turns the sampled batch (NumPy) into one image in ``value_range``."""

    def __init__(self, sample_fn, make_grid, samples_dir, log_dir=None, value_range=(0.0, 1.0)):
        super().__init__()
        self.sample_fn = sample_fn
        self.make_grid = make_grid
        self.samples_dir = samples_dir
        self.value_range = value_range
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "samples")) if log_dir else None

    def on_epoch_end(self, epoch, logs=None):
        grid = self.make_grid(np.asarray(self.sample_fn()))
        save_png(os.path.join(self.samples_dir, f"epoch_{epoch:04d}.png"), grid, self.value_range)
        save_png(os.path.join(self.samples_dir, "latest.png"), grid, self.value_range)
        if self.writer is not None:
            low, high = self.value_range
            image = np.clip((grid - low) / (high - low), 0, 1)
            image = image[None, :, :, None] if image.ndim == 2 else image[None]
            with self.writer.as_default():
                tf.summary.image("samples", image, step=epoch)
            self.writer.flush()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves ``manager``'s checkpoint after every epoch, numbered by the epochs completed."""

    def __init__(self, manager, epoch_variable):
        super().__init__()
        self.manager = manager
        self.epoch_variable = epoch_variable

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_variable.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def semi_supervised_checkpoint_objects(gan):
    """What a semi-supervised run's checkpoints hold besides the epoch counter, by name: both networks, both
    optimizers, the parameter average, the random generators' states and the objects of
    ``gan.checkpoint_objects()`` (when the model has that method)."""
    return dict(
        generator=gan.generator,
        discriminator=gan.discriminator,
        discriminator_optimizer=gan.discriminator_optimizer,
        generator_optimizer=gan.generator_optimizer,
        parameter_average=gan.parameter_average,
        random_states=gan.random_states(),
        **(gan.checkpoint_objects() if hasattr(gan, "checkpoint_objects") else {}),
    )


def fit_semi_supervised(gan, run, *, x_lab, y_lab, x_unl, x_test, y_test, x_init, epoch_order, batch_size,
                        epochs, learning_rate_schedule, make_grid, value_range=(0.0, 1.0), verbose=None,
                        evaluation_tail="drop"):
    """Train ``gan`` (a compiled ``SemiSupervisedGAN``) as the original loop does, resuming ``run`` if it has a
    checkpoint; returns the summary it writes to ``run.summary_path``.

    Fresh runs start with the data-dependent init on ``x_init``. Each epoch: the learning rate of
    ``learning_rate_schedule(epoch)``, the batches of ``epoch_order``, the test error of the averaged
    parameters, the original's log line, a sample grid, TensorBoard scalars and a checkpoint. ``verbose``: a
    progress bar within each epoch (1), or one line per epoch (2, the default when stdout is not a terminal).
    ``evaluation_tail``: how the test set is batched (``evaluation_dataset``'s ``tail``): ``"drop"`` for MNIST and
    CIFAR-10, the SVHN scripts' overlapping last batch otherwise. The objects of ``gan.checkpoint_objects()``
    (when the model has that method) are checkpointed with the rest.
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    manager, epoch_variable = run.checkpoint_manager(**semi_supervised_checkpoint_objects(gan))
    start_epoch = int(epoch_variable.numpy()) if restore_checkpoint(manager) else 0
    run.trim_history(start_epoch)
    if start_epoch == 0:
        gan.initialize(x_init, batch_size)
    else:
        print(f"Resuming {run.path} after epoch {start_epoch - 1} (checkpoint {manager.latest_checkpoint})")
    train_dataset, steps_per_epoch = semi_supervised_dataset(
        x_lab, y_lab, x_unl, batch_size, epoch_order, start_epoch=start_epoch
    )
    test_dataset, test_count = evaluation_dataset(x_test, y_test, batch_size, tail=evaluation_tail)
    if start_epoch < epochs:
        history = gan.fit(
            train_dataset,
            epochs=epochs,
            initial_epoch=start_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=test_dataset,
            shuffle=False,  # the dataset already follows the original's order
            verbose=verbose,
            callbacks=[
                EpochLearningRate(learning_rate_schedule, [gan.discriminator_optimizer, gan.generator_optimizer]),
                EpochCheckpoint(manager, epoch_variable),
                keras.callbacks.CSVLogger(run.history_path, append=True),
                keras.callbacks.TensorBoard(run.log_dir, write_graph=False),
                SampleGrid(lambda: gan.sample(batch_size, seed=SAMPLE_SEED), make_grid, run.samples_dir,
                           run.log_dir, value_range),
                OriginalEpochLog(),  # last: once an epoch's line is printed, everything of that epoch is saved
            ],
        )
        final = {name: history.history[f"val_{name}"][-1] for name in ("test_err", "test_err_raw")}
    else:  # a finished run, resumed: measure its test error again
        final = gan.evaluate(test_dataset, return_dict=True, verbose=0)
    summary = {
        "flags": run.flags,
        "epochs_completed": int(epoch_variable.numpy()) if manager.latest_checkpoint else 0,
        "test_examples": test_count,
        "test_err": float(final["test_err"]),
        "test_errors": int(round(float(final["test_err"]) * test_count)),
        "test_err_raw": float(final["test_err_raw"]),
        "test_errors_raw": int(round(float(final["test_err_raw"]) * test_count)),
        "checkpoint": manager.latest_checkpoint,
        "history": run.history_path,
    }
    run.write_summary(summary)
    return summary


# ---------------------------------------------------------------------- ImageNet: strategies, checkpoints by step, log


def _cluster_size(tf_config):
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def make_strategy(kind="auto"):
    """The distribution strategy: ``"auto"`` is ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more
    than one worker, else ``MirroredStrategy`` over the visible GPUs (the CPU if there are none);
    ``"mirrored"``, ``"multi_worker"`` and ``"default"`` (no strategy) force one."""
    if kind == "auto":
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        kind = "multi_worker" if _cluster_size(tf_config) > 1 else "mirrored"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy must be 'auto', 'mirrored', 'multi_worker' or 'default', got {kind!r}.")


def is_chief(strategy):
    """True on the one process that writes logs, samples and checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def make_checkpoint_manager(model, directory, max_to_keep=5):
    """``tf.train.Checkpoint`` of the model (weights, reference batch, sample inputs, step) and both
    optimizers, in a manager keeping the last ``max_to_keep`` (the original ``Saver``'s default) as
    ``DCGAN.model-<step>``."""
    # "d_optimizer" / "g_optimizer": the keys of the checkpoints written so far (and the original's d_optim/g_optim)
    checkpoint = tf.train.Checkpoint(model=model, d_optimizer=model.discriminator_optimizer,
                                     g_optimizer=model.generator_optimizer)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name="DCGAN.model")


def save_checkpoint(manager, model):
    """Save ``manager``'s checkpoint numbered by the model's step; returns its path."""
    return manager.save(checkpoint_number=int(model.step.numpy()))


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
