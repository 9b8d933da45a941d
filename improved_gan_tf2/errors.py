"""The errors of a run: a run directory that cannot be used, and training that stopped early. Here, without
TensorFlow, so that the tools that only report them (:mod:`improved_gan_tf2.cli`, the report) start quickly;
:mod:`improved_gan_tf2.training` raises them and re-exports them (``training.RunDirectoryError`` ...)."""


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked (a file, not writable, in use, damaged, made with other flags or
    data); the message says why and what to do."""


class RunMismatchError(RunDirectoryError):
    """The output directory holds a run made with other flags (or other data)."""


class RunLockedError(RunDirectoryError):
    """Another process is running in the output directory."""


class RunWriteError(RunDirectoryError):
    """A file of the run could not be written (a full disk, a read-only file system, ...); what was saved before
    is intact and the same command resumes once the cause is mended."""


class CheckpointError(RunDirectoryError):
    """None of the checkpoints of a run directory restores."""


class TrainingStopped(Exception):
    """Training ended early, with nothing lost; ``str(error)`` is the one line to print, ``exit_status`` the
    process's exit status."""

    exit_status = 1
    prefix = "error: "


class NonFiniteError(TrainingStopped):
    """A loss or a parameter became NaN or infinite: training stopped before anything non-finite was saved."""

    exit_status = 3


class TrainingInterrupted(TrainingStopped):
    """Ctrl-C during training; the checkpoints written so far are intact."""

    exit_status = 130
    prefix = ""
