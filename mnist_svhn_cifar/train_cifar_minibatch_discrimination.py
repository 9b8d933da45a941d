"""Semi-supervised CIFAR-10 with minibatch discrimination (paper Sec. 6.2: the model of the best samples, Table 3).

Port of the original ``mnist_svhn_cifar10/train_cifar_minibatch_discrimination.py`` (the record
``train_cifar_minibatch_discrimination`` of ``improved_gan_tf2/experiments/cifar_svhn.py``): same flags and
defaults (no ``--seed_data``: the labelled examples are chosen with the ``--seed`` RNG, as there), Gaussian input
noise, ``MinibatchDiscrimination(100)`` before the last layer, three generator updates per discriminator update,
one unlabelled order per epoch, 1200 epochs with the learning rate ``0.0003 * min(3 - epoch / 400, 1)``.

The ablations of the paper's Table 3 (Inception scores of CIFAR-10 samples; "Our methods" is every technique of
the paper except feature matching and historical averaging). The released code lacks two of those techniques,
virtual batch norm and label smoothing, so its default run is Table 3's "-VBN+BN" and "-LS" at once; the flags:

    column      flags
    Our methods --virtual_batch_norm --label_smoothing
    -VBN+BN     --label_smoothing
    -L+HA       --virtual_batch_norm --label_smoothing --no_labels_historical_averaging
    -LS         --virtual_batch_norm
    -L          --virtual_batch_norm --label_smoothing --no_labels
    -MBF        --virtual_batch_norm --label_smoothing --no_minibatch_features

    python mnist_svhn_cifar/train_cifar_minibatch_discrimination.py --data_dir=/path/to/data
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_cifar_minibatch_discrimination")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
