"""Semi-supervised CIFAR-10 with feature matching (paper Sec. 6.2, Table 2: 18.63 +- 2.32 % test error with 4000
labels).

Port of the original ``mnist_svhn_cifar10/train_cifar_feature_matching.py`` (the record
``train_cifar_feature_matching`` of ``improved_gan_tf2/experiments/cifar_svhn.py``): same flags and defaults (400
labels per class, batch 100, 1200 epochs, learning rate ``0.0003 * min(3 - epoch / 400, 1)``), input dropout, the
96/192 discriminator, feature matching with the L1 norm, the same per-epoch line, the sample grid each epoch.
With ``cifar-10-batches-py/`` (or ``cifar-10-python.tar.gz``) in --data_dir:

    python mnist_svhn_cifar/train_cifar_feature_matching.py --data_dir=/path/to/data
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_cifar_feature_matching")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
