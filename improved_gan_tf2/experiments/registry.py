"""The experiment records and their registry, keyed by the name of the original script each one ports.

A record says *what* an original script trains -- its networks, losses, optimizer settings, data, labelled-set
choice, schedule, evaluation, sample grid and flags -- as data; :mod:`improved_gan_tf2.experiments.runner` says
*how* any of them is trained, rebuilt and restored. A run directory's ``flags.json`` holds the record's name
(``"experiment"``) next to the flags, so any tool can rebuild the run with :func:`get_experiment`.
"""
import dataclasses
from typing import Callable, Optional, Tuple

from improved_gan_tf2.cli import Flag, at_least

#: Every registered experiment, by the original script's name (``"train_mnist_feature_matching"``, ...).
EXPERIMENTS = {}

LABELLED_CHOICES = ("seed_data", "seed", "custom")
INIT_BATCHES = ("permuted", "first_epoch")


def register(experiment):
    """Add ``experiment`` to :data:`EXPERIMENTS` under its ``script`` name; returns it."""
    if experiment.script in EXPERIMENTS:
        raise ValueError(f"an experiment named {experiment.script!r} is already registered.")
    EXPERIMENTS[experiment.script] = experiment
    return experiment


def get_experiment(name):
    """The registered experiment called ``name`` (the original script's name, with or without ``.py``)."""
    key = str(name)[:-3] if str(name).endswith(".py") else str(name)
    try:
        return EXPERIMENTS[key]
    except KeyError:
        raise KeyError(f"no experiment named {name!r}; the registered ones are {', '.join(sorted(EXPERIMENTS))}.") \
            from None


class _Record:
    """What every record has: a ``script`` name, the ``original`` file it ports, and its ``flags``."""

    def default_flags(self):
        """The script's flag values when none is given on the command line."""
        return {flag.name: flag.default for flag in self.flags}

    def default(self, name):
        return self.default_flags()[name]


@dataclasses.dataclass(frozen=True)
class SemiSupervisedExperiment(_Record):
    """One ``mnist_svhn_cifar10/train_*.py``: a semi-supervised GAN trained as paper Sec. 5 describes.

    Every callable takes the script's flag values (a dict, as ``flags.json`` stores them).
    """

    script: str                  #: registry key: the original script's name
    original: Optional[str]      #: its path in openai/improved-gan (None: no original script)
    summary: str                 #: one line: what it trains, with the paper's section and table
    flags: Tuple[Flag, ...]      #: the script's flags, the original's names and defaults
    # data
    load_data: Callable          #: flags -> dict(x_train, y_train, x_test, y_test), NumPy arrays
    labelled_choice: str         #: which RNG picks the labelled examples: ``--seed_data``'s, ``--seed``'s
                                 #: (the same RNG then orders the epochs), or "custom" (custom-labels script)
    tiling: str                  #: the labelled set tiled floor or ceil(n_unl / n_lab) times per epoch
    unlabelled_copies: int       #: 2: a second unlabelled order feeds the generator (feature matching)
    init_batch: str              #: data-dependent init on the first 500 "permuted" training images (MNIST) or
                                 #: on the first 500 of epoch 0's tiled labelled set ("first_epoch")
    evaluation_tail: str         #: how the test set is batched (``data.pipeline.evaluation_dataset``)
    # model
    networks: Callable           #: flags -> (generator, discriminator), built in that order
    generator_loss: str          #: "feature_matching" or "minibatch"
    feature_norm: str            #: "l2" (MNIST) or "l1" (CIFAR-10, SVHN)
    generator_steps: int         #: generator updates per discriminator update
    # schedule and outputs
    ramp_epochs: Optional[int]   #: lr = learning_rate * min(3 - epoch / ramp_epochs, 1); None: constant
    sample_grid: Callable        #: samples -> one image in [0, 1] (``plotting``)
    samples_png: Optional[str] = None  #: the file the original wrote its samples to (None: it wrote none)
    model_options: Callable = lambda flags: {}  #: flags -> extra ``SemiSupervisedGAN`` arguments (Table 3)
    check_flags: Optional[Callable] = None  #: flags -> None; raises ``cli.InputError`` for bad combinations
    noise_dim: int = 100

    def __post_init__(self):
        if self.labelled_choice not in LABELLED_CHOICES:
            raise ValueError(f"labelled_choice must be one of {LABELLED_CHOICES}, got {self.labelled_choice!r}.")
        if self.init_batch not in INIT_BATCHES:
            raise ValueError(f"init_batch must be one of {INIT_BATCHES}, got {self.init_batch!r}.")

    @property
    def count(self):
        """Labelled examples per class by default."""
        return self.default("count")

    @property
    def epochs(self):
        """The original's number of epochs."""
        return self.default("epochs")

    def learning_rate(self, base, epoch):
        """The learning rate of ``epoch``: ``base``, or the original's ramp-down ``base * min(3 - epoch /
        ramp_epochs, 1)`` (0 at ``3 * ramp_epochs``)."""
        if self.ramp_epochs is None:
            return base
        return base * min(3.0 - epoch / float(self.ramp_epochs), 1.0)


@dataclasses.dataclass(frozen=True)
class ImageNetExperiment(_Record):
    """``imagenet/train_imagenet.py``: the 128x128 ImageNet GAN (paper Sec. 6.4), trained by steps on
    TFRecords with ``tf.distribute``."""

    script: str
    original: str
    summary: str
    flags: Tuple[Flag, ...]


def semi_supervised_flags(*, count, epochs, learning_rate, datasets, out_dir, seed_data=True):
    """The flags of the original ``train_*.py`` scripts (same names and defaults) plus ``dataset``,
    ``data_dir``, ``epochs``, ``learning_rate``, ``out_dir`` and ``jit_compile``."""
    specs = [Flag("integer", "seed", 1, "Random seed of the parameters, the noise and the epoch order (original "
                  "flag).")]
    if seed_data:
        specs.append(Flag("integer", "seed_data", 1, "Random seed of the labelled-subset choice (original flag)."))
    specs += [
        Flag("float", "unlabeled_weight", 1.0, "Weight of the unsupervised loss in the discriminator cost; 0 gives "
             "the supervised-only baseline with the same network and budget (original flag).",
             check=lambda value: value >= 0, message="--unlabeled_weight must be >= 0."),
        Flag("integer", "batch_size", 100, "Minibatch size of the labelled, unlabelled and generated batches "
             "(original flag).", **at_least("batch_size", 1)),
        Flag("integer", "count", count, "Number of labelled examples per class (original flag).",
             **at_least("count", 1)),
        Flag("integer", "epochs", epochs, "Number of epochs (the original's loop length).", **at_least("epochs", 1)),
        Flag("float", "learning_rate", learning_rate, "Adam learning rate (before any ramp-down).",
             check=lambda value: value > 0, message="--learning_rate must be > 0."),
        Flag("enum", "dataset", datasets[0], f"Data source: {datasets[0]} finds the original files in --data_dir "
             "(or a prepared tfds copy); the others name one source.", choices=tuple(datasets)),
        Flag("string", "data_dir", None, "Directory with the data files (default: the current directory)."),
        Flag("string", "out_dir", out_dir, "Run directory: checkpoints, sample grids, TensorBoard logs, "
             "history.csv and summary.json. An existing run there is resumed."),
        Flag("boolean", "jit_compile", False, "Compile the train step with XLA (off by default: on a CPU it is not "
             "faster here; see benchmarks/)."),
    ]
    return tuple(specs)


#: ``--width_scale`` of the CIFAR-10 and SVHN scripts.
WIDTH_SCALE_FLAG = Flag("float", "width_scale", 1.0, "Multiplies every layer width; for quick tests only (1: the "
                        "original).", check=lambda value: 0 < value <= 1, message="--width_scale must be in (0, 1].")
