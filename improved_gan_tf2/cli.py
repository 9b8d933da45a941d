"""What the experiment scripts and the tools share around ``absl.app.run`` and ``argparse``.

Each experiment record (:mod:`improved_gan_tf2.experiments`) declares its script's flags as data, a tuple of
:class:`Flag`; :func:`define_flags` turns them into absl flags of the running script (so that ``--help`` lists
them), with validators that reject bad values before any work. :func:`run` wraps ``absl.app.run`` so that an
input error found later (missing data, a count larger than a class, a run directory made with other flags) ends
the run with one line, ``error: <message>``, and exit status 2, not a traceback.

The exit statuses of every entry point (the scripts, ``python -m inception_score`` and the ``python -m
improved_gan_tf2.<tool>`` tools): 0 done (and ``--help``), 2 bad input (flags that do not parse or are out of
range, missing or damaged files: one line ``error: ...`` on stderr, before any work), 3 a run that diverged, 130
interrupted. :func:`parse_flags` gives absl's flag parsing that convention, ``errors.ArgumentParser``
argparse's.
"""
import contextlib
import dataclasses
import os
import sys
from typing import Any, Callable, Optional, Tuple

from absl import app, flags, logging

from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
from improved_gan_tf2.errors import INPUT_ERROR_STATUS, RunDirectoryError, TrainingInterrupted, TrainingStopped

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


def _help_hint(argv):
    program = os.path.basename(argv[0]) if argv and argv[0] else "the command"
    return f"{program} --help lists the flags"


def parse_flags(argv, error_prefix=""):
    """``absl.app.run``'s ``flags_parser``: parse ``argv`` into ``absl.flags.FLAGS`` and return what is left. A
    flag that does not parse or fails its validator (``--epochs=0``) prints one line, ``error: <message>``, and
    exits with status 2 (absl's own: two lines, status 1); ``--help`` (``--helpshort``, ``--helpfull``) exits with
    status 0 after its text (absl's: 1)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        message = "; ".join(line.strip().rstrip(".") for line in str(error).splitlines() if line.strip())
        print(f"{error_prefix}error: {message} ({_help_hint(argv)}).", file=sys.stderr)
        sys.exit(INPUT_ERROR_STATUS)
    except SystemExit as stop:  # absl's help flags exit with status 1 once the help is printed
        sys.exit(0 if stop.code == 1 else stop.code)


def run(main, error_prefix="", positional=False):
    """``absl.app.run(main)``, where an input error prints ``<error_prefix>error: <message>`` and exits with
    status 2, a run stopped by a NaN (``training.NonFiniteError``) prints its line and exits with status 3, and
    Ctrl-C prints one line and exits with status 130: never a traceback. Positional arguments are refused unless
    ``positional`` (the tools take run directories)."""

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the original's log
        try:
            if len(argv) > 1 and not positional:
                raise InputError(f"unexpected arguments {argv[1:]}; every option is a --flag ({_help_hint(argv)}).")
            return main(argv)
        except INPUT_ERRORS as error:
            print(f"{error_prefix}error: {error}", file=sys.stderr)
            sys.exit(INPUT_ERROR_STATUS)
        except TrainingStopped as error:
            print(f"{error_prefix}{error.prefix}{error}", file=sys.stderr)
            sys.exit(error.exit_status)
        except KeyboardInterrupt:
            print(f"{error_prefix}interrupted; nothing is lost: the same command starts again (a run resumes from "
                  f"its last checkpoint).", file=sys.stderr)
            sys.exit(INTERRUPTED_STATUS)

    app.run(guarded, flags_parser=lambda argv: parse_flags(argv, error_prefix))


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
