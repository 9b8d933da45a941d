"""Semi-supervised MNIST with feature matching on a custom set of labels (e.g. differentially private, noisy
labels).

Port of the original ``mnist_svhn_cifar10/train_mnist_fm_custom_labels.py`` (the record
``train_mnist_fm_custom_labels`` of ``improved_gan_tf2/experiments/mnist.py``): the first 8,000 MNIST *test*
images (``--train_examples``) are the training set, labelled by the ``--labels`` ``.npy`` file; the rest of the
test set is the test set. ``--count``, ``--balance`` and ``--seed_data`` choose the labelled examples; ``perm.npy``
and ``used_inds_<count>.npy`` in ``--out_dir`` record exactly which were used (for a privacy analysis).

    python mnist_svhn_cifar/train_mnist_fm_custom_labels.py --labels=noisy_labels.npy --data_dir=DIR
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_mnist_fm_custom_labels")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
