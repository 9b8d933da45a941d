"""What the experiment scripts share around ``absl.app.run``.

Each experiment record (:mod:`improved_gan_tf2.experiments`) declares its script's flags as data, a tuple of
:class:`Flag`; :func:`define_flags` turns them into absl flags of the running script (so that ``--help`` lists
them), with validators that reject bad values before any work. :func:`run` wraps ``absl.app.run`` so that an
input error found later (missing data, a count larger than a class, a run directory made with other flags) ends
the run with one line, ``error: <message>``, and exit status 2, not a traceback.
"""
import contextlib
import dataclasses
import os
import sys
from typing import Any, Callable, Optional, Tuple

from absl import app, flags, logging

from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
from improved_gan_tf2.errors import RunDirectoryError, TrainingInterrupted, TrainingStopped

FLAG_KINDS = ("integer", "float", "boolean", "string", "enum")


class InputError(ValueError):
    """Bad flag values or inputs found after flag parsing (e.g. a count larger than a class)."""


INPUT_ERRORS = (InputError, DataNotFoundError, DataFormatError, RunDirectoryError)
#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED_STATUS = TrainingInterrupted.exit_status


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line flag of an experiment script: its absl ``kind``, name, default and help, and an
    optional ``check`` (value -> bool) whose failure prints ``message``."""

    kind: str
    name: str
    default: Any
    help: str
    check: Optional[Callable[[Any], bool]] = None
    message: str = ""
    choices: Tuple[str, ...] = ()  #: for ``kind="enum"``
    required: bool = False

    def __post_init__(self):
        if self.kind not in FLAG_KINDS:
            raise ValueError(f"Flag kind must be one of {FLAG_KINDS}, got {self.kind!r}.")


def at_least(name, lower):
    """A :class:`Flag` check and message: ``--name`` must be at least ``lower``."""
    return dict(check=lambda value: value >= lower, message=f"--{name} must be at least {lower}.")


def _main_module():
    return sys.argv[0] if sys.argv and sys.argv[0] else "__main__"


def define_flags(specs):
    """Define each :class:`Flag` of ``specs`` as an absl flag of the running script (listed by ``--help``)."""
    module = _main_module()
    for spec in specs:
        common = dict(module_name=module, required=spec.required)
        if spec.kind == "enum":
            flags.DEFINE_enum(spec.name, spec.default, list(spec.choices), spec.help, **common)
        else:
            define = getattr(flags, f"DEFINE_{spec.kind}")
            define(spec.name, spec.default, spec.help, **common)
        if spec.check is not None:
            flags.register_validator(spec.name, spec.check, message=spec.message)


def flag_values():
    """The parsed values of the running script's flags (those :func:`define_flags` and the script defined), as a
    dict sorted by name."""
    values = flags.FLAGS
    modules = (_main_module(), "__main__")
    names = {f.name for module in modules for f in values.get_flags_for_module(module)}
    return {name: values[name].value for name in sorted(names)}


def run(main, error_prefix="", positional=False):
    """``absl.app.run(main)``, where an input error prints ``<error_prefix>error: <message>`` and exits with
    status 2, a run stopped by a NaN (``training.NonFiniteError``) prints its line and exits with status 3, and
    Ctrl-C prints one line and exits with status 130: never a traceback. Positional arguments are refused unless
    ``positional`` (the tools take run directories)."""

    def guarded(argv):
        if len(argv) > 1 and not positional:
            raise app.UsageError(f"unexpected arguments {argv[1:]}; every option is a --flag.")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the original's log
        try:
            return main(argv)
        except INPUT_ERRORS as error:
            print(f"{error_prefix}error: {error}", file=sys.stderr)
            sys.exit(2)
        except TrainingStopped as error:
            print(f"{error_prefix}{error.prefix}{error}", file=sys.stderr)
            sys.exit(error.exit_status)
        except KeyboardInterrupt:
            print(f"{error_prefix}interrupted; nothing is lost: the same command starts again (a run resumes from "
                  f"its last checkpoint).", file=sys.stderr)
            sys.exit(INTERRUPTED_STATUS)

    app.run(guarded)


def script_name():
    """The running script's file name (``train_imagenet.py``), for error lines in the original scripts' style."""
    return os.path.basename(_main_module())


@contextlib.contextmanager
def bad_input():
    """Within the block, a ``ValueError`` from a library check (e.g. ``select_labelled``) is an input error."""
    try:
        yield
    except ValueError as error:
        if isinstance(error, INPUT_ERRORS):
            raise
        raise InputError(str(error)) from error


def require(condition, message):
    """Raise :class:`InputError` with ``message`` unless ``condition``."""
    if not condition:
        raise InputError(message)
