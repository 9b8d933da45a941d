"""Semi-supervised MNIST with feature matching on a custom set of labels (e.g. differentially private,
noisy labels).

Port of the original ``mnist_svhn_cifar10/train_mnist_fm_custom_labels.py``: the first 8,000 MNIST *test*
images (``--train_examples``) are the training set, labelled by the ``--labels`` ``.npy`` file; the rest of the
test set is the test set. ``count``, ``balance`` and ``seed_data`` choose the labelled examples; ``perm.npy`` and
``used_inds_<count>.npy`` in ``--out_dir`` record exactly which were used (for a privacy analysis).

    python mnist_svhn_cifar/train_mnist_fm_custom_labels.py --labels=noisy_labels.npy --data_dir=DIR
"""
import os

from absl import flags
import keras
import numpy as np

from improved_gan_tf2 import cli
from improved_gan_tf2.data import custom_labels_split, load_mnist, select_labelled_custom
from improved_gan_tf2.networks.mnist import fit_mnist_feature_matching
from improved_gan_tf2.training import RunDirectory

cli.define_semi_supervised_flags(
    count=10, epochs=300, learning_rate=0.003,
    datasets=["mnist", "mnist_npz", "mnist_idx", "mnist_tfds", "mnist_sample"],
    out_dir="runs/mnist_fm_custom_labels",
)
flags.DEFINE_boolean("balance", True, "Take `count` examples of each class (by the true labels, as the original "
                     "does); --nobalance takes the first 10*count examples of the permutation (original flag).")
flags.DEFINE_string("labels", None, "A .npy file with one integer label 0..9 per MNIST test image; the first "
                    "--train_examples are used (original flag).")
flags.DEFINE_integer("train_examples", 8000, "How many of the first MNIST test images form the training set "
                     "(8,000 in the original; the shipped sample's test set has 1,000).")
flags.mark_flag_as_required("labels")
flags.register_validator("train_examples", lambda value: value >= 1, message="--train_examples must be at least 1.")
FLAGS = flags.FLAGS


def load_labels(path, needed):
    """The custom labels: a 1-D integer array with at least ``needed`` entries in 0..9."""
    cli.require(os.path.isfile(path), f"--labels={path}: no such file; give a .npy file of integer labels 0..9.")
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise cli.InputError(f"--labels={path} is not a .npy array ({error}).") from error
    cli.require(labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer),
                f"--labels={path} must hold a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}.")
    cli.require(len(labels) >= needed, f"--labels={path} has {len(labels)} labels; the first --train_examples="
                f"{needed} test images each need one.")
    cli.require(labels[:needed].min() >= 0 and labels[:needed].max() <= 9, f"--labels={path}: labels must be 0..9.")
    return labels


def main(argv):
    print(cli.flag_values())
    keras.utils.set_random_seed(FLAGS.seed)

    # the first train_examples test images, with the custom labels, are the training set
    mnist = load_mnist(FLAGS.dataset, FLAGS.data_dir)
    with cli.bad_input():
        data = custom_labels_split(mnist, load_labels(FLAGS.labels, FLAGS.train_examples), FLAGS.train_examples)
        labelled = select_labelled_custom(data["x_train"], data["y_train"], data["y_train_true"], FLAGS.count,
                                          FLAGS.seed_data, balance=FLAGS.balance)
    cli.require(FLAGS.batch_size <= min(len(data["x_train"]), len(data["x_test"])),
                f"--batch_size={FLAGS.batch_size} is larger than the training or test set.")
    run = RunDirectory(FLAGS.out_dir, cli.flag_values())
    np.save(os.path.join(run.path, "perm.npy"), labelled.permutation)
    if FLAGS.balance:
        np.save(os.path.join(run.path, f"used_inds_{FLAGS.count}.npy"), labelled.used_inds)

    fit_mnist_feature_matching(
        run, labelled, data["x_train"], data["x_test"], data["y_test"],
        seed=FLAGS.seed, unlabeled_weight=FLAGS.unlabeled_weight, learning_rate=FLAGS.learning_rate,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, jit_compile=FLAGS.jit_compile,
    )


if __name__ == "__main__":
    cli.run(main)
