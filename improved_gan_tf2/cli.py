"""What the experiment scripts share around ``absl.app.run``: input errors end the run with one clear message
(no traceback), and the flags are recorded for the run directory."""
import contextlib
import sys

from absl import app, flags, logging

from improved_gan_tf2.data.errors import DataFormatError, DataNotFoundError
from improved_gan_tf2.training import RunMismatchError


class InputError(ValueError):
    """Bad flag values or inputs found after flag parsing (e.g. a count larger than a class)."""


INPUT_ERRORS = (InputError, DataNotFoundError, DataFormatError, RunMismatchError)


def run(main):
    """``absl.app.run(main)``, where an input error prints ``error: <message>`` and exits with status 2."""

    def guarded(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments {argv[1:]}; every option is a --flag.")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the original's log
        try:
            return main(argv)
        except INPUT_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)


def flag_values():
    """The parsed values of the experiment's flags (those defined here and in the script) as a dict."""
    values = flags.FLAGS
    modules = (__name__, sys.argv[0], "__main__")
    names = {f.name for module in modules for f in values.get_flags_for_module(module)}
    return {name: values[name].value for name in sorted(names)}


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


def define_semi_supervised_flags(*, count, epochs, learning_rate, datasets, out_dir, seed_data=True):
    """The flags of the original ``train_*.py`` scripts (same names and defaults) plus ``dataset``, ``data_dir``,
    ``epochs``, ``out_dir`` and ``jit_compile``, with validators that reject bad values before any work."""
    flags.DEFINE_integer("seed", 1, "Random seed of the parameters, the noise and the epoch order (original flag).")
    if seed_data:
        flags.DEFINE_integer("seed_data", 1, "Random seed of the labelled-subset choice (original flag).")
    flags.DEFINE_float("unlabeled_weight", 1.0,
                       "Weight of the unsupervised loss in the discriminator cost; 0 gives the supervised-only "
                       "baseline with the same network and budget (original flag).")
    flags.DEFINE_integer("batch_size", 100, "Minibatch size of the labelled, unlabelled and generated batches "
                         "(original flag).")
    flags.DEFINE_integer("count", count, "Number of labelled examples per class (original flag).")
    flags.DEFINE_integer("epochs", epochs, "Number of epochs (the original's loop length).")
    flags.DEFINE_float("learning_rate", learning_rate, "Adam learning rate (before any ramp-down).")
    flags.DEFINE_enum("dataset", datasets[0], datasets,
                      f"Data source: {datasets[0]} finds the original files in --data_dir (or a prepared tfds "
                      "copy); the others name one source.")
    flags.DEFINE_string("data_dir", None, "Directory with the data files (default: the current directory).")
    flags.DEFINE_string("out_dir", out_dir, "Run directory: checkpoints, sample grids, TensorBoard logs, "
                        "history.csv and summary.json. An existing run there is resumed.")
    flags.DEFINE_boolean("jit_compile", False, "Compile the train step with XLA (off by default: on a CPU it "
                         "is not faster here; see benchmarks/).")
    for name, lower in (("batch_size", 1), ("count", 1), ("epochs", 1)):
        flags.register_validator(name, lambda value, lower=lower: value >= lower,
                                 message=f"--{name} must be at least {lower}.")
    flags.register_validator("unlabeled_weight", lambda value: value >= 0, message="--unlabeled_weight must be >= 0.")
    flags.register_validator("learning_rate", lambda value: value > 0, message="--learning_rate must be > 0.")
