"""The six scripts of the original's ``mnist_svhn_cifar10/`` and what the comparison needs to know of each: their
records in the experiment registry (:mod:`improved_gan_tf2.experiments`), plus the original's image layout."""
import dataclasses

from improved_gan_tf2 import experiments

ORIGINAL_SUBDIR = "mnist_svhn_cifar10"
#: The files a checkout of the original must have (the comparison reads, patches or copies each).
SUPPORT_FILES = ("nn.py", "plotting.py", "cifar10_data.py", "svhn_data.py")


class UsageError(Exception):
    """Bad input to the comparison tool: printed as one line on stderr, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Script:
    """One original script, seen through its experiment record."""

    experiment: experiments.SemiSupervisedExperiment

    @property
    def name(self):
        """The file name without ``.py`` (the record's registry key)."""
        return self.experiment.script

    @property
    def file(self):
        return self.name + ".py"

    @property
    def dataset(self):
        """``"mnist"``, ``"cifar10"`` or ``"svhn"``: the default of the script's ``--dataset``."""
        return self.experiment.default("dataset")

    @property
    def generator_loss(self):
        return self.experiment.generator_loss

    @property
    def generator_steps(self):
        return self.experiment.generator_steps

    @property
    def unlabelled_copies(self):
        return self.experiment.unlabelled_copies

    @property
    def learning_rate(self):
        """The learning rate of the first epoch."""
        return self.experiment.learning_rate(self.experiment.default("learning_rate"), 0)

    @property
    def image_shape(self):
        """The original's shape of one image: flat MNIST rows, NCHW CIFAR-10/SVHN images."""
        return (784,) if self.dataset == "mnist" else (3, 32, 32)


#: The scripts the original has, by name: the registered experiments that port a file of its mnist_svhn_cifar10/.
SCRIPTS = {name: Script(e) for name, e in experiments.EXPERIMENTS.items()
           if isinstance(e, experiments.SemiSupervisedExperiment) and e.original
           and e.original.startswith(ORIGINAL_SUBDIR + "/")}


def get_script(name):
    """The :class:`Script` called ``name`` (with or without ``.py``), or a :class:`UsageError` listing the six."""
    key = str(name)
    key = key[:-3] if key.endswith(".py") else key
    if key not in SCRIPTS:
        raise UsageError(f"unknown script {name!r}; choose one of: {', '.join(SCRIPTS)}")
    return SCRIPTS[key]
