"""The six scripts of the original's ``mnist_svhn_cifar10/`` and what the comparison needs to know of each."""
import dataclasses

ORIGINAL_SUBDIR = "mnist_svhn_cifar10"
#: The files a checkout of the original must have (the comparison reads, patches or copies each).
SUPPORT_FILES = ("nn.py", "plotting.py", "cifar10_data.py", "svhn_data.py")


class UsageError(Exception):
    """Bad input to the comparison tool: printed as one line on stderr, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Script:
    name: str                    #: file name without .py
    dataset: str                 #: "mnist", "cifar10" or "svhn"
    generator_loss: str          #: "feature_matching" or "minibatch"
    port_experiment: str         #: key of improved_gan_tf2.networks.cifar_svhn.EXPERIMENTS, or "mnist"
    learning_rate: float         #: the learning rate of the first epoch
    image_shape: tuple           #: the original's (NCHW or flat) shape of one image
    unlabelled_copies: int       #: 2: a second unlabelled batch feeds the feature-matching generator step

    @property
    def generator_steps(self):
        return 3 if self.generator_loss == "minibatch" else 1

    @property
    def file(self):
        return self.name + ".py"


SCRIPTS = {s.name: s for s in (
    Script("train_mnist_feature_matching", "mnist", "feature_matching", "mnist", 0.003, (784,), 2),
    Script("train_mnist_fm_custom_labels", "mnist", "feature_matching", "mnist", 0.003, (784,), 2),
    Script("train_cifar_feature_matching", "cifar10", "feature_matching", "cifar_feature_matching", 0.0003,
           (3, 32, 32), 2),
    Script("train_cifar_minibatch_discrimination", "cifar10", "minibatch", "cifar_minibatch_discrimination", 0.0003,
           (3, 32, 32), 1),
    Script("train_svhn_feature_matching", "svhn", "feature_matching", "svhn_feature_matching", 0.0003,
           (3, 32, 32), 2),
    Script("train_svhn_minibatch_discrimination", "svhn", "minibatch", "svhn_minibatch_discrimination", 0.0003,
           (3, 32, 32), 1),
)}


def get_script(name):
    """The :class:`Script` called ``name`` (with or without ``.py``), or a :class:`UsageError` listing the six."""
    key = str(name)
    key = key[:-3] if key.endswith(".py") else key
    if key not in SCRIPTS:
        raise UsageError(f"unknown script {name!r}; choose one of: {', '.join(SCRIPTS)}")
    return SCRIPTS[key]
