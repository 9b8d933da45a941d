"""The MNIST scripts of ``mnist_svhn_cifar10/`` as records: ``train_mnist_feature_matching.py`` (paper Sec. 6.1,
Table 1) and ``train_mnist_fm_custom_labels.py`` (the same model on custom, e.g. privately noised, labels), and
``train_mnist_minibatch_discrimination`` (no original script: the paper's MNIST model with minibatch
discrimination, Sec. 6.1 and Fig. 3, whose samples annotators told apart from real digits in 52.4 % of votes).

The two original scripts: the MNIST networks of :mod:`improved_gan_tf2.networks.mnist`, feature matching with the L2 norm on the last
hidden layer, the original's Adam (beta1 = 0.5) at a constant 0.003 for 300 epochs, the labelled set chosen with
``--seed_data`` and tiled ``n_unl // n_lab`` times per epoch, data-dependent init on the first 500 permuted
training images, the test set in full batches (the rest dropped), a 10x10 sample grid (new: the originals wrote
none).
"""
import os

import numpy as np

from inception_score.model import ArrayKeyError, UnreadableArrayError, read_array_file  # numpy only

from improved_gan_tf2 import cli
from improved_gan_tf2.cli import Flag
from improved_gan_tf2.data import MNIST_DATASETS, custom_labels_split, load_mnist
from improved_gan_tf2.experiments.registry import SemiSupervisedExperiment, register, semi_supervised_flags
from improved_gan_tf2.networks.mnist import NOISE_DIM, mnist_discriminator, mnist_generator
from improved_gan_tf2.plotting import mnist_sample_grid


def mnist_networks(flags):
    """The MNIST generator and discriminator (no flag changes them)."""
    return mnist_generator(), mnist_discriminator()


def mnist_minibatch_networks(flags):
    """The MNIST generator and the MNIST discriminator with 100 minibatch-discrimination kernels on its last
    hidden layer, before its logits."""
    return mnist_generator(), mnist_discriminator(minibatch_kernels=MINIBATCH_KERNELS)


def load_mnist_data(flags):
    """MNIST as the original reads it (train = the original's train + valid), from ``--dataset``/``--data_dir``."""
    return load_mnist(flags["data_dir"], dataset=flags["dataset"])


def load_custom_labels(path, needed):
    """The custom labels: a 1-D integer array with at least ``needed`` entries in 0..9."""
    cli.require(os.path.isfile(path), f"--labels={path}: no such file; give a .npy file of integer labels 0..9.")
    try:
        labels, _ = read_array_file(path)
    except UnreadableArrayError as error:
        raise cli.InputError(f"--labels={path} cannot be read: it {error.reason}.") from None
    except ArrayKeyError as error:
        raise cli.InputError(f"--labels={path} holds {len(error.keys)} arrays ({', '.join(error.keys)}); give a .npy "
                             f"file or an .npz of one array.") from None
    cli.require(labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer),
                f"--labels={path} must hold a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}.")
    cli.require(len(labels) >= needed, f"--labels={path} has {len(labels)} labels; the first --train_examples="
                f"{needed} test images each need one.")
    cli.require(labels[:needed].min() >= 0 and labels[:needed].max() <= 9, f"--labels={path}: labels must be 0..9.")
    return labels


def load_custom_labels_data(flags):
    """``train_mnist_fm_custom_labels.py``'s data: the first ``--train_examples`` MNIST *test* images with the
    ``--labels`` file's labels are the training set (``y_train_true`` keeps their true labels), the rest of the
    test set is the test set."""
    mnist = load_mnist_data(flags)
    labels = load_custom_labels(flags["labels"], flags["train_examples"])
    with cli.bad_input():
        return custom_labels_split(mnist, labels, flags["train_examples"])


#: Minibatch kernels of the MNIST minibatch-discrimination model: the CIFAR-10/SVHN scripts' 100 (of 5 dimensions).
MINIBATCH_KERNELS = 100
#: Its learning rate, the CIFAR-10/SVHN scripts' 0.0003: at the MNIST scripts' 0.003 the generator collapsed to
#: one saturated pattern within two epochs on the shipped sample (README, "MNIST with minibatch discrimination").
MINIBATCH_LEARNING_RATE = 0.0003

_COMMON = dict(
    labelled_choice="seed_data", tiling="floor", unlabelled_copies=2, init_batch="permuted", evaluation_tail="drop",
    networks=mnist_networks, generator_loss="feature_matching", feature_norm="l2", generator_steps=1,
    ramp_epochs=None, sample_grid=mnist_sample_grid, noise_dim=NOISE_DIM,
)

FEATURE_MATCHING = register(SemiSupervisedExperiment(
    script="train_mnist_feature_matching",
    original="mnist_svhn_cifar10/train_mnist_feature_matching.py",
    summary="Semi-supervised MNIST with feature matching (paper Sec. 6.1, Table 1)",
    flags=semi_supervised_flags(count=10, epochs=300, learning_rate=0.003, datasets=MNIST_DATASETS,
                                out_dir="runs/mnist_feature_matching"),
    load_data=load_mnist_data,
    **_COMMON,
))

CUSTOM_LABELS = register(SemiSupervisedExperiment(
    script="train_mnist_fm_custom_labels",
    original="mnist_svhn_cifar10/train_mnist_fm_custom_labels.py",
    summary="Semi-supervised MNIST with feature matching on a custom set of labels",
    flags=semi_supervised_flags(count=10, epochs=300, learning_rate=0.003, datasets=MNIST_DATASETS,
                                out_dir="runs/mnist_fm_custom_labels") + (
        Flag("boolean", "balance", True, "Take `count` examples of each class (by the true labels, as the original "
             "does); --nobalance takes the first 10*count examples of the permutation (original flag)."),
        Flag("string", "labels", None, "A .npy file with one integer label 0..9 per MNIST test image; the first "
             "--train_examples are used (original flag).", required=True),
        Flag("integer", "train_examples", 8000, "How many of the first MNIST test images form the training set "
             "(8,000 in the original; the shipped sample's test set has 1,000).", **cli.at_least("train_examples", 1)),
    ),
    load_data=load_custom_labels_data,
    **dict(_COMMON, labelled_choice="custom"),
))

MINIBATCH_DISCRIMINATION = register(SemiSupervisedExperiment(
    script="train_mnist_minibatch_discrimination",
    original=None,
    summary="MNIST with minibatch discrimination (paper Sec. 6.1, Fig. 3: the samples of the visual Turing test)",
    flags=semi_supervised_flags(count=10, epochs=300, learning_rate=MINIBATCH_LEARNING_RATE,
                                datasets=MNIST_DATASETS, out_dir="runs/mnist_minibatch_discrimination"),
    load_data=load_mnist_data,
    **dict(_COMMON, networks=mnist_minibatch_networks, generator_loss="minibatch", generator_steps=3,
           unlabelled_copies=1),
))
