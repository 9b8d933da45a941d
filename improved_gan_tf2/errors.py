"""The errors of a run: a run directory that cannot be used, and training that stopped early, and the exit status
of bad input. Here, without TensorFlow, so that the tools that only report them (:mod:`improved_gan_tf2.cli`, the
report) start quickly; :mod:`improved_gan_tf2.training` raises them and re-exports them
(``training.RunDirectoryError`` ...).

Every entry point exits with 0 when done (and for ``--help``), 2 for bad input (one line ``error: ...`` on stderr,
before any work), 3 for a run that diverged (:class:`NonFiniteError`) and 130 when interrupted
(:class:`TrainingInterrupted`)."""
import argparse
import sys

#: Exit status of bad input: flags that do not parse or are out of range, missing or damaged files.
INPUT_ERROR_STATUS = 2


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``error: <message> (<prog> --help lists the
    options)``, with exit status :data:`INPUT_ERROR_STATUS` (argparse's own prints the usage first). Subcommand
    parsers made by ``add_subparsers`` are of this class too. A flag must be spelt whole, as absl's scripts require
    (argparse would take ``--step`` for ``--steps``, so a misspelt flag could run something else)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", type(self))
        return super().add_subparsers(**kwargs)

    def error(self, message):
        print(f"error: {message.rstrip('.')} ({self.prog} --help lists the options).", file=sys.stderr)
        sys.exit(INPUT_ERROR_STATUS)


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
