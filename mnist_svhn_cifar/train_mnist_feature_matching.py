"""Semi-supervised MNIST with feature matching (paper Sec. 6.1, Table 1: 93 +- 6.5 test errors with 100 labels).

Port of the original ``mnist_svhn_cifar10/train_mnist_feature_matching.py``, same flags and defaults
(``--seed=1 --seed_data=1 --unlabeled_weight=1 --batch_size=100 --count=10``, 300 epochs, learning rate 0.003) and
the same per-epoch line. The experiment is the record ``train_mnist_feature_matching`` of
``improved_gan_tf2/experiments/mnist.py``. On the 5,000-digit sample shipped with this repository (minutes on a CPU):

    python mnist_svhn_cifar/train_mnist_feature_matching.py --dataset=mnist_sample --epochs=100

With the original's ``mnist.npz`` (or MNIST's IDX files) in --data_dir, the defaults run the paper's experiment.
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_mnist_feature_matching")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
