"""Running an experiment: run directories, checkpoints that resume, the originals' log lines, sample grids,
TensorBoard, the final summary, and (ImageNet) distribution strategies. The experiment runner
(:mod:`improved_gan_tf2.experiments`) assembles these; nothing here changes the arithmetic.

A run directory holds ``flags.json``, ``data.json`` (a fingerprint of the data), ``checkpoints/``
(``tf.train.CheckpointManager``; TensorFlow writes each checkpoint under a temporary name and then updates the
``checkpoint`` index atomically, so an interrupted save leaves the previous checkpoint usable; :func:`open_checkpoints`
resumes from the newest one that restores), ``samples/`` (PNG grids), ``logs/`` (TensorBoard), ``history.csv``,
``.lock`` (held by the process running there) and, at the end, ``summary.json``. A loss or a parameter that becomes
NaN or infinite stops training before anything non-finite is saved (:class:`NonFiniteGuard`,
:class:`EpochCheckpoint`).

One module per concept, all of whose public names this package exports: :mod:`~.run_directory` (the run directory
and its lock), :mod:`~.checkpoints` (checkpoints and their fallback), :mod:`~.callbacks` (the epoch log, history,
learning rate, sample grid, divergence guard, checkpoint per epoch), :mod:`~.semi_supervised`
(:func:`fit_semi_supervised`), :mod:`~.strategies` and :mod:`~.imagenet_monitor`.
"""
from improved_gan_tf2.errors import (  # defined there, without TensorFlow; used as training.<name>
    CheckpointError,
    NonFiniteError,
    RunDirectoryError,
    RunLockedError,
    RunMismatchError,
    RunWriteError,
    TrainingInterrupted,
    TrainingStopped,
)
from improved_gan_tf2.training.callbacks import (
    ORIGINAL_LOG_LINE,
    EpochCheckpoint,
    EpochLearningRate,
    EpochProgress,
    HistoryLog,
    NonFiniteGuard,
    OriginalEpochLog,
    SampleGrid,
)
from improved_gan_tf2.training.checkpoints import (
    IMAGENET_CHECKPOINT_NAME,
    checkpoint_files,
    checkpoint_number,
    epoch_checkpoint,
    imagenet_checkpoint,
    non_finite_variables,
    open_checkpoints,
    open_imagenet_checkpoints,
    restore_newest,
    save_checkpoint,
)
from improved_gan_tf2.training.imagenet_monitor import IMAGENET_LOG_LINE, ImageNetTrainingMonitor
from improved_gan_tf2.training.run_directory import (
    DATA_NAME,
    EXPERIMENT_KEY,
    LOCK_NAME,
    RESUMABLE_FLAG_CHANGES,
    RunDirectory,
    data_fingerprint,
    write_json_atomic,
)
from improved_gan_tf2.training.semi_supervised import (
    SAMPLE_SEED,
    fit_semi_supervised,
    semi_supervised_checkpoint_objects,
    write_environment,
)
from improved_gan_tf2.training.strategies import is_chief, make_strategy

__all__ = [
    # run directories
    "RunDirectory", "EXPERIMENT_KEY", "RESUMABLE_FLAG_CHANGES", "LOCK_NAME", "DATA_NAME", "data_fingerprint",
    "write_json_atomic",
    # checkpoints
    "open_checkpoints", "checkpoint_files", "restore_newest", "checkpoint_number", "non_finite_variables",
    "epoch_checkpoint", "IMAGENET_CHECKPOINT_NAME", "imagenet_checkpoint", "open_imagenet_checkpoints",
    "save_checkpoint",
    # callbacks
    "ORIGINAL_LOG_LINE", "OriginalEpochLog", "EpochProgress", "HistoryLog", "EpochLearningRate", "SampleGrid",
    "NonFiniteGuard", "EpochCheckpoint",
    # the semi-supervised loop
    "fit_semi_supervised", "semi_supervised_checkpoint_objects", "write_environment", "SAMPLE_SEED",
    # ImageNet
    "make_strategy", "is_chief", "IMAGENET_LOG_LINE", "ImageNetTrainingMonitor",
    # errors (improved_gan_tf2.errors)
    "CheckpointError", "NonFiniteError", "RunDirectoryError", "RunLockedError", "RunMismatchError", "RunWriteError",
    "TrainingInterrupted", "TrainingStopped",
]
