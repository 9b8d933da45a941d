"""Semi-supervised SVHN with feature matching (paper Sec. 6.3: 8.11 +- 1.3 % test error with 1000 labels).

Port of the original ``mnist_svhn_cifar10/train_svhn_feature_matching.py`` (the record
``train_svhn_feature_matching`` of ``improved_gan_tf2/experiments/cifar_svhn.py``): same flags and defaults (100
labels per class, batch 100, 900 epochs, learning rate ``0.0003 * min(3 - epoch / 300, 1)``), images scaled
``(x - 127.5) / 127.5``, the narrower 64/128 discriminator with input dropout, the same per-epoch line. The test
error covers the whole test set, as the original's: the last test batch is the last ``batch_size`` images (it
overlaps the batch before it), and each image's prediction comes from the last batch that holds it.
With ``train_32x32.mat`` and ``test_32x32.mat`` in --data_dir/svhn (or --data_dir):

    python mnist_svhn_cifar/train_svhn_feature_matching.py --data_dir=/path/to/data
"""
from improved_gan_tf2.startup import quiet_tensorflow

quiet_tensorflow()  # TensorFlow's C++ start-up log is not for the people running the script

from improved_gan_tf2 import cli, experiments  # noqa: E402

EXPERIMENT = experiments.get_experiment("train_svhn_feature_matching")
cli.define_flags(EXPERIMENT.flags)


def main(argv):
    experiments.run(EXPERIMENT, cli.flag_values())


if __name__ == "__main__":
    cli.run(main)
