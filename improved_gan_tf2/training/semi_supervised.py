"""The semi-supervised training loop of the MNIST, SVHN and CIFAR-10 scripts (``train_*.py`` of
``mnist_svhn_cifar10``) as one ``fit``: resumable, one line per epoch, one-line errors for a full disk or an
interruption."""
import contextlib
import os
import re

import keras
import tensorflow as tf

from improved_gan_tf2 import environment
from improved_gan_tf2.data.pipeline import evaluation_dataset, semi_supervised_dataset
from improved_gan_tf2.errors import RunWriteError, TrainingInterrupted
from improved_gan_tf2.training.callbacks import (
    EpochCheckpoint,
    EpochLearningRate,
    EpochProgress,
    HistoryLog,
    NonFiniteGuard,
    OriginalEpochLog,
    SampleGrid,
)
from improved_gan_tf2.training.checkpoints import checkpoint_number


# The sample grids show the same noise every epoch, drawn apart from the training noise.
SAMPLE_SEED = 1234


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
                        epochs, learning_rate_schedule, make_grid, value_range=(0.0, 1.0), evaluation_tail="drop",
                        callbacks=()):
    """Train ``gan`` (a compiled ``SemiSupervisedGAN``) as the original loop does, resuming ``run`` if it has a
    checkpoint; returns the summary it writes to ``run.summary_path``.

    Fresh runs start with the data-dependent init on ``x_init``. Each epoch: the learning rate of
    ``learning_rate_schedule(epoch)``, the batches of ``epoch_order``, the test error of the averaged
    parameters, the original's log line (the one line an epoch prints; on a terminal the progress within the
    epoch is shown on that line until it is printed), a sample grid, TensorBoard scalars and a checkpoint.
    ``evaluation_tail``: how the test set is batched (``evaluation_dataset``'s ``tail``): ``"drop"`` for MNIST and
    CIFAR-10, the SVHN scripts' overlapping last batch otherwise. The objects of ``gan.checkpoint_objects()``
    (when the model has that method) are checkpointed with the rest. ``callbacks``: more Keras callbacks, run
    after the run's own.
    """
    manager, epoch_variable, restored = run.open_checkpoints(**semi_supervised_checkpoint_objects(gan))
    with _write_failures(manager):  # a full disk: one line, the run resumable
        start_epoch = int(epoch_variable.numpy()) if restored else 0
        run.trim_logs(start_epoch)
        if not run.started:  # flags.json and data.json once the checkpoints and the logs are known to be usable
            run.start()
        if start_epoch == 0:
            gan.initialize(x_init, batch_size)
        elif start_epoch < epochs:
            print(f"Resuming {run.path} after epoch {start_epoch - 1} (checkpoint {restored})")
        else:
            trained = "1 epoch (epoch 0" if start_epoch == 1 else f"{start_epoch} epochs (epochs 0-{start_epoch - 1}"
            print(f"The run in {run.path} is done: it has trained {trained}, checkpoint {restored}) and "
                  f"--epochs={epochs} asks for no more; measuring its test error again. A larger --epochs continues "
                  f"it.")
        train_dataset, steps_per_epoch = semi_supervised_dataset(
            x_lab, y_lab, x_unl, batch_size, epoch_order, start_epoch=start_epoch
        )
        test_dataset, test_count = evaluation_dataset(x_test, y_test, batch_size, tail=evaluation_tail)
        environment_info = environment.describe()
        write_environment(run.log_dir, environment_info, start_epoch)
        progress = EpochProgress(steps_per_epoch, epochs)
        if start_epoch < epochs:
            try:
                history = gan.fit(
                    train_dataset,
                    epochs=epochs,
                    initial_epoch=start_epoch,
                    steps_per_epoch=steps_per_epoch,
                    validation_data=test_dataset,
                    shuffle=False,  # the dataset already follows the original's order
                    verbose=0,  # the original's line and EpochProgress instead of Keras's two lines an epoch
                    callbacks=[
                        # first: a NaN batch stops before anything is saved
                        NonFiniteGuard(manager, steps_per_epoch),
                        EpochLearningRate(learning_rate_schedule,
                                          [gan.discriminator_optimizer, gan.generator_optimizer]),
                        # the epoch's history row before its checkpoint: a row cut short by a kill is of an epoch
                        # not saved, which the resumed run drops and trains again
                        HistoryLog(run.history_path),
                        EpochCheckpoint(manager, epoch_variable),  # refuses to save non-finite values
                        keras.callbacks.TensorBoard(run.log_dir, write_graph=False),
                        SampleGrid(lambda: gan.sample(batch_size, seed=SAMPLE_SEED), make_grid, run.samples_dir,
                                   run.log_dir, value_range),
                        progress,
                        # last: once an epoch's line is printed, everything of that epoch is saved
                        OriginalEpochLog(times_path=run.times_path),
                        *callbacks,
                    ],
                )
            except KeyboardInterrupt:
                raise TrainingInterrupted(_interrupted_message(manager)) from None
            finally:
                progress.clear()
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
            "environment": environment_info,  # what computed it: runs differ across CPUs and versions
        }
        run.write_summary(summary)
        done = summary["epochs_completed"]
        print(f"Done: {done} epoch{'' if done == 1 else 's'}, test err = {summary['test_err']:.4f} "
              f"({summary['test_errors']} of {test_count}). Results in {run.path}: summary.json, history.csv, "
              f"samples/, checkpoints/ (the same command resumes), logs/ (tensorboard --logdir {run.log_dir}).")
        return summary


#: What TensorFlow's messages say when a file cannot be written (it raises ``ResourceExhaustedError`` and others).
_WRITE_FAILURES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied",
                   "Input/output error")


@contextlib.contextmanager
def _write_failures(manager):
    """Turn a failed write of a run's file (``OSError``; TensorFlow's error for a checkpoint that cannot be written)
    into :class:`RunWriteError`: one line naming the file, what is saved, and what to do."""
    try:
        yield
    except (OSError, tf.errors.OpError) as error:
        if isinstance(error, OSError):
            reason, where = error.strerror or str(error), error.filename
        else:
            reason = next((text for text in _WRITE_FAILURES if text in error.message), None)
            if reason is None:
                raise
            match = re.search(r"(\S+); " + re.escape(reason), error.message)
            where = match.group(1) if match else None
        raise RunWriteError(f"cannot write {where or 'a file of the run'} ({reason}); "
                            f"{_checkpoint_saved(manager)}: free some space (or mend the cause) and run the same "
                            f"command again to resume.") from None


def _checkpoint_saved(manager):
    latest = manager.latest_checkpoint
    return f"the checkpoints up to {latest} are intact" if latest else "no checkpoint was written yet"


def write_environment(log_dir, info, step):
    """The run's :func:`environment.describe` as a TensorBoard text (``environment``, in ``log_dir/train``) at
    ``step`` (the epoch a run starts or resumes at), so that runs shown side by side say what computed them."""
    text = "\n".join(f"- **{key}**: {value}" for key, value in info.items())
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
    with writer.as_default():
        tf.summary.text("environment", text, step=step)
    writer.close()


def _interrupted_message(manager):
    latest = manager.latest_checkpoint
    if latest is None:
        return "interrupted in the first epoch, before any checkpoint; the same command starts the run again."
    done = checkpoint_number(latest)
    saved = "epoch 0 is" if done == 1 else f"epochs 0-{done - 1} are"
    return (f"interrupted after epoch {done - 1} (during epoch {done}); {saved} saved in {latest}: the same command "
            f"resumes from there.")
